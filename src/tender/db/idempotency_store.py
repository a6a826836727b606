"""Idempotency keys in the database, so every worker and machine sees the same keys.

Rows hold only answers already given (sealed), written in the transaction of the change they
answer. A key being worked on has no row: its claim is a transaction-scoped lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.models import IdempotencyKeyRow
from tender.domain.idempotency import KEEP_FOR, KeyRecord, KeyStatus

keys: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]


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
        lock = func.pg_try_advisory_xact_lock(advisory_key(scope_hash))
        return bool((await self.conn.execute(select(lock))).scalar_one())

    async def get(self, scope_hash: bytes, now: datetime) -> KeyRecord | None:
        """The answer kept under this key, unless it expired (or is a claim left by a release
        that kept claims as rows)."""
        row = (
            await self.conn.execute(
                select(keys.c.request_hash, keys.c.response_body, keys.c.expires_at).where(
                    keys.c.scope_hash == scope_hash,
                    keys.c.status == KeyStatus.DONE.value,
                    keys.c.expires_at > now,
                )
            )
        ).first()
        if row is None:
            return None
        return KeyRecord(bytes(row.request_hash), bytes(row.response_body), row.expires_at)

    async def keep(
        self, scope_hash: bytes, request_hash: bytes, sealed: bytes, now: datetime
    ) -> None:
        """Keep an answer; replaces an expired or left-over row under the same hash."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        values = {
            "request_hash": request_hash,
            "status": KeyStatus.DONE.value,
            "response_status": None,
            "response_headers": None,
            "response_body": sealed,
            "locked_until": now,
            "expires_at": now + KEEP_FOR,
        }
        stmt = dialect.insert(keys).values(scope_hash=scope_hash, **values)
        await self.conn.execute(
            stmt.on_conflict_do_update(index_elements=["scope_hash"], set_=values)
        )

    async def forget_expired(self, now: datetime) -> int:
        result = await self.conn.execute(delete(keys).where(keys.c.expires_at <= now))
        return int(result.rowcount)
