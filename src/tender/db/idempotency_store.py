"""Idempotency keys in the database, so every worker and machine sees the same keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.models import IdempotencyKeyRow
from tender.domain.idempotency import KEEP_FOR, LEASE, KeyRecord, KeyStatus, StoredResponse

keys: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]


class SqlIdempotencyStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claim(self, scope_hash: bytes, request_hash: bytes, now: datetime) -> bool:
        """Insert an in-flight key; False if the key already exists (one atomic statement)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(keys)
            .values(
                scope_hash=scope_hash,
                request_hash=request_hash,
                status=KeyStatus.IN_FLIGHT.value,
                locked_until=now + LEASE,
                expires_at=now + KEEP_FOR,
            )
            .on_conflict_do_nothing(index_elements=["scope_hash"])
        )
        result = await self.conn.execute(stmt)
        return bool(result.rowcount)

    async def get(self, scope_hash: bytes) -> KeyRecord | None:
        row = (await self.conn.execute(select(keys).where(keys.c.scope_hash == scope_hash))).first()
        if row is None:
            return None
        m = row._mapping
        response = None
        if m["status"] == KeyStatus.DONE.value:
            response = StoredResponse(
                m["response_status"], m["response_headers"] or [], bytes(m["response_body"] or b"")
            )
        return KeyRecord(
            bytes(m["request_hash"]),
            KeyStatus(m["status"]),
            response,
            m["locked_until"],
            m["expires_at"],
        )

    async def take_over(self, scope_hash: bytes, seen_until: datetime, now: datetime) -> bool:
        """Renew a lapsed lease, unless another retry renewed it first."""
        result = await self.conn.execute(
            update(keys)
            .where(
                keys.c.scope_hash == scope_hash,
                keys.c.locked_until == seen_until,
                keys.c.status == KeyStatus.IN_FLIGHT.value,
            )
            .values(locked_until=now + LEASE)
        )
        return bool(result.rowcount)

    async def finish(self, scope_hash: bytes, response: StoredResponse) -> None:
        await self.conn.execute(
            update(keys)
            .where(keys.c.scope_hash == scope_hash)
            .values(
                status=KeyStatus.DONE.value,
                response_status=response.status,
                response_headers=response.headers,
                response_body=response.body,
            )
        )

    async def forget(self, scope_hash: bytes) -> None:
        await self.conn.execute(delete(keys).where(keys.c.scope_hash == scope_hash))

    async def forget_expired(self, now: datetime) -> int:
        result = await self.conn.execute(delete(keys).where(keys.c.expires_at <= now))
        return int(result.rowcount)
