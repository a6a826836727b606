"""API clients and their access tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    LargeBinary,
    String,
    Table,
    bindparam,
    delete,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.models import AccessTokenRow, ApiClientRow
from tender.db.types import UTCDateTime
from tender.domain.clients import ApiClient, StoredClient, StoredToken
from tender.domain.principals import format_scopes, parse_scopes

clients: Table = ApiClientRow.__table__  # type: ignore[assignment]
tokens: Table = AccessTokenRow.__table__  # type: ignore[assignment]

# Every API call looks up its token: the statement is built once.
_TOKEN = (
    select(tokens.c.client_id, tokens.c.scopes, tokens.c.issued_at, tokens.c.expires_at)
    .join(clients, clients.c.client_id == tokens.c.client_id)
    .where(
        tokens.c.token_hash == bindparam("b_hash"),
        tokens.c.expires_at > bindparam("b_now", type_=UTCDateTime()),
        clients.c.active,
    )
)


def _client(m: object) -> ApiClient:
    row = m._mapping  # type: ignore[attr-defined]
    return ApiClient(
        id=row["id"],
        client_id=row["client_id"],
        name=row["name"],
        scopes=parse_scopes(row["scopes"]),
        active=row["active"],
        created_at=row["created_at"],
    )


def _storable(text: str) -> bool:
    """False for text no row can hold: PostgreSQL answers a NUL character with an error."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class SqlClientStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_client(self, client: ApiClient, secret_hash: bytes) -> None:
        await self.conn.execute(
            insert(clients).values(
                id=client.id,
                client_id=client.client_id,
                secret_hash=secret_hash,
                name=client.name,
                scopes=format_scopes(client.scopes),
                active=client.active,
                created_at=client.created_at,
            )
        )

    async def client_by_client_id(self, client_id: str) -> StoredClient | None:
        if not _storable(client_id):
            return None
        row = (
            await self.conn.execute(select(clients).where(clients.c.client_id == client_id))
        ).first()
        return StoredClient(_client(row), row._mapping["secret_hash"]) if row else None

    async def list_clients(self) -> list[ApiClient]:
        return [_client(r) for r in await self.conn.execute(select(clients).order_by(clients.c.id))]

    async def set_client_active(self, client_id: str, active: bool) -> bool:
        if not _storable(client_id):
            return False
        result = await self.conn.execute(
            update(clients).where(clients.c.client_id == client_id).values(active=active)
        )
        return bool(result.rowcount)

    async def replace_secret(self, client_id: str, secret_hash: bytes) -> bool:
        if not _storable(client_id):
            return False
        result = await self.conn.execute(
            update(clients).where(clients.c.client_id == client_id).values(secret_hash=secret_hash)
        )
        await self.conn.execute(delete(tokens).where(tokens.c.client_id == client_id))
        return bool(result.rowcount)

    async def insert_token(self, token_hash: bytes, token: StoredToken, secret_hash: bytes) -> bool:
        client = (
            select(
                literal(token_hash, LargeBinary()),
                clients.c.client_id,
                literal(format_scopes(token.scopes), String()),
                literal(token.issued_at, UTCDateTime()),
                literal(token.expires_at, UTCDateTime()),
            )
            .where(
                clients.c.client_id == token.client_id,
                clients.c.secret_hash == secret_hash,
                clients.c.active,
            )
            # A rotation or disabling of the client waits for this to commit, then deletes
            # or refuses the token; one that committed first leaves no row to match.
            .with_for_update(read=True)
        )
        columns = ["token_hash", "client_id", "scopes", "issued_at", "expires_at"]
        result = await self.conn.execute(insert(tokens).from_select(columns, client))
        return bool(result.rowcount)

    async def token(self, token_hash: bytes, now: datetime) -> StoredToken | None:
        row = (await self.conn.execute(_TOKEN, {"b_hash": token_hash, "b_now": now})).first()
        if row is None:
            return None
        return StoredToken(row.client_id, parse_scopes(row.scopes), row.issued_at, row.expires_at)

    async def delete_expired_tokens(self, now: datetime) -> int:
        result = await self.conn.execute(delete(tokens).where(tokens.c.expires_at <= now))
        return int(result.rowcount)
