"""Browser sessions and the origins they allow, in SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct
from tender.db.checkout_rows import carts, origins, session_from_row, sessions
from tender.db.client_store import clients
from tender.domain.principals import CLIENT_ACTOR
from tender.domain.sessions import Session

_WITH_CURRENCY = select(sessions, carts.c.currency).join(carts, carts.c.id == sessions.c.cart_id)
"""A session with its cart's currency (``Session.currency``)."""
_CLIENTS = sessions.c.owner.startswith(CLIENT_ACTOR, autoescape=True)
_GET_SESSION = (
    _WITH_CURRENCY.outerjoin(
        clients,
        and_(_CLIENTS, clients.c.client_id == func.substr(sessions.c.owner, len(CLIENT_ACTOR) + 1)),
    )
    .where(sessions.c.token_hash == bindparam("b_id"))
    .where(or_(~_CLIENTS, clients.c.active.is_(True)))
)
"""A session by its id, unless the API client that opened it is disabled (or gone): its
sessions are tokens of that client too, and stop working with its other tokens, at once (a
session opened while the client was being disabled included). An admin's have no client."""
_FUTURE_ORDER_NUMBER = (
    select(sessions.c.future_order_number)
    .where(sessions.c.cart_id == bindparam("b_id"), sessions.c.future_order_number.is_not(None))
    .order_by(sessions.c.created_at.desc())
    .limit(1)
)


class SqlSessionStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_session(self, session: Session) -> None:
        await self.conn.execute(
            insert(sessions).values(
                token_hash=session.token_hash,
                cart_id=session.cart_id,
                owner=session.owner,
                metadata=session.metadata,
                future_order_number=session.future_order_number,
                expires_at=session.expires_at,
                created_at=session.created_at,
                updated_at=session.updated_at,
            )
        )

    async def session(self, token_hash: bytes) -> Session | None:
        row = (await direct.execute(self.conn, _GET_SESSION, {"b_id": token_hash})).first()
        return session_from_row(row) if row else None

    async def end_sessions(self, owner: str, now: datetime) -> int:
        """The owner's live sessions expire now. Their rows stay, with the order numbers
        they promised."""
        result = await self.conn.execute(
            update(sessions)
            .where(sessions.c.owner == owner, sessions.c.expires_at > now)
            .values(expires_at=now, updated_at=now)
        )
        return int(result.rowcount)

    async def latest_session(self, cart_id: str) -> Session | None:
        row = (
            await self.conn.execute(
                _WITH_CURRENCY.where(sessions.c.cart_id == cart_id)
                .order_by(sessions.c.created_at.desc())
                .limit(1)
            )
        ).first()
        return session_from_row(row) if row else None

    async def future_order_number(self, cart_id: str) -> str | None:
        """The order number a session promised for this cart, if any (the newest one)."""
        row = (await self.conn.execute(_FUTURE_ORDER_NUMBER, {"b_id": cart_id})).first()
        return str(row[0]) if row else None

    async def allow_origins(self, allowed: Sequence[str], until: datetime) -> None:
        """Each origin allowed at least ``until``, in one upsert: read first and written after,
        an origin the purge deleted in between (its last session had expired) was updated in
        no row, and the new session's page refused."""
        if not allowed:
            return
        postgres = self.conn.dialect.name == "postgresql"
        statement = (postgresql if postgres else sqlite).insert(origins)
        later = (func.greatest if postgres else func.max)(
            origins.c.expires_at, statement.excluded.expires_at
        )
        upsert = statement.on_conflict_do_update(
            index_elements=["origin"], set_={"expires_at": later}
        )
        rows = [{"origin": origin, "expires_at": until} for origin in dict.fromkeys(allowed)]
        await self.conn.execute(upsert, rows)

    async def origin_allowed(self, origin: str, now: datetime) -> bool:
        row = await self.conn.execute(
            select(origins.c.origin).where(origins.c.origin == origin, origins.c.expires_at > now)
        )
        return row.first() is not None
