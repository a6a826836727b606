"""The event outbox in SQLAlchemy Core: appended with the rest of a transaction's queued rows
(``pending``), read oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import pending
from tender.db.checkout_rows import events
from tender.domain.events import Event, NewEvent

_INSERT_EVENTS = insert(events)


class SqlEventStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def append_events(
        self, new: Sequence[NewEvent], *, correlation_id: str | None, now: datetime
    ) -> None:
        await pending.append(
            self.conn,
            _INSERT_EVENTS,
            [
                {
                    "type": e.type,
                    "object_type": e.object_type,
                    "object_id": e.object_id,
                    "owner": e.owner,
                    "payload": e.payload,
                    "correlation_id": correlation_id,
                    "created_at": now,
                }
                for e in new
            ],
        )

    async def events(self, *, owner: str | None, after: int | None, limit: int) -> list[Event]:
        await pending.flush(self.conn, _INSERT_EVENTS)
        stmt = select(events)
        if owner is not None:
            stmt = stmt.where(events.c.owner == owner)
        if after is not None:
            stmt = stmt.where(events.c.id > after)
        rows = await self.conn.execute(stmt.order_by(events.c.id).limit(limit))
        return [
            Event(
                id=r.id,
                type=r.type,
                object_type=r.object_type,
                object_id=r.object_id,
                payload=r.payload,
                correlation_id=r.correlation_id,
                created_at=r.created_at,
            )
            for r in rows
        ]
