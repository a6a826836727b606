"""Idempotency keys in the database, so every worker and machine sees the same keys.

Rows hold only answers already given (sealed), written in the transaction of the change they
answer. A key being worked on has no row: its claim is a transaction-scoped lock.

Every keyed request (each redemption a shopper's page submits) runs the claim, the read and
the keep, so they are prebuilt statements run on the driver (``tender.db.direct``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Table, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from tender.db import direct
from tender.db.models import IdempotencyKeyRow
from tender.domain.idempotency import KEEP_FOR, KeyRecord, KeyStatus

keys: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]

_CLAIM = select(func.pg_try_advisory_xact_lock(bindparam("b_lock", type_=BigInteger)))
_KEPT = select(keys.c.request_hash, keys.c.response_body, keys.c.expires_at).where(
    keys.c.scope_hash == bindparam("b_hash"),
    keys.c.status == KeyStatus.DONE.value,
    keys.c.expires_at > bindparam("b_now"),
)
_KEPT_COLUMNS = (
    "request_hash",
    "status",
    "response_status",
    "response_headers",
    "response_body",
    "locked_until",
    "expires_at",
)


def _keep_statement(dialect: str) -> Executable:
    """Keep an answer, replacing an expired or left-over row under the same hash."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(keys).values(
        scope_hash=bindparam("b_hash"),
        request_hash=bindparam("b_request"),
        status=KeyStatus.DONE.value,
        response_status=None,
        response_headers=None,
        response_body=bindparam("b_body"),
        locked_until=bindparam("b_now"),
        expires_at=bindparam("b_expires"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["scope_hash"], set_={name: stmt.excluded[name] for name in _KEPT_COLUMNS}
    )


_KEEP = {name: _keep_statement(name) for name in ("postgresql", "sqlite")}


def advisory_key(scope_hash: bytes) -> int:
    """A signed 64-bit lock id from the row's hash (a clash only makes a retry wait)."""
    return int.from_bytes(scope_hash[:8], "big", signed=True)


class SqlIdempotencyStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def try_claim(self, scope_hash: bytes) -> bool:
        """Take the key for this transaction, or False if another transaction holds it.

        PostgreSQL: an advisory lock released by commit, rollback or a dead connection. SQLite
        has one writer, and this transaction is it: nobody else can be working on the key.
        """
        if self.conn.dialect.name != "postgresql":
            return True
        found = await direct.execute(self.conn, _CLAIM, {"b_lock": advisory_key(scope_hash)})
        return bool(found.scalar_one())

    async def get(self, scope_hash: bytes, now: datetime) -> KeyRecord | None:
        """The answer kept under this key, unless it expired (or is a claim left by a release
        that kept claims as rows)."""
        found = await direct.execute(self.conn, _KEPT, {"b_hash": scope_hash, "b_now": now})
        row = found.first()
        if row is None:
            return None
        request_hash, sealed, expires_at = row
        return KeyRecord(bytes(request_hash), bytes(sealed), expires_at)

    async def keep(
        self, scope_hash: bytes, request_hash: bytes, sealed: bytes, now: datetime
    ) -> None:
        """Keep an answer; replaces an expired or left-over row under the same hash."""
        params = {
            "b_hash": scope_hash,
            "b_request": request_hash,
            "b_body": sealed,
            "b_now": now,
            "b_expires": now + KEEP_FOR,
        }
        await direct.execute(self.conn, _KEEP[self.conn.dialect.name], params)

    async def forget_expired(self, now: datetime) -> int:
        result = await self.conn.execute(delete(keys).where(keys.c.expires_at <= now))
        return int(result.rowcount)
