"""Queued rows reach the database as they were queued, typed columns and all: on PostgreSQL a
few rows of several tables in one statement, more of them table by table; on SQLite always
table by table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import pending
from tender.db.engine import Database
from tender.db.models import EventRow, RateLimitRow

EVENTS = insert(EventRow.__table__)
COUNTERS = insert(RateLimitRow.__table__)
AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def an_event(n: int) -> dict[str, Any]:
    return {
        "type": "Test",
        "object_type": "cart",
        "object_id": f"cart-{n}",
        "owner": None,
        "payload": {"n": n, "text": "ä ' \" ;"},  # JSON and quoting survive
        "correlation_id": None,
        "created_at": AT,
    }


def a_counter(n: int) -> dict[str, Any]:
    return {"key": f"k{n}", "window_start": 0, "count": n, "expires_at": 60}


@pytest.mark.parametrize(("events", "counters"), [(1, 1), (4, 2), (5, 1)])
async def test_queued_rows_of_several_tables_are_written_whole(
    db: Database, events: int, counters: int
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async def work(conn: AsyncConnection) -> None:
        await pending.append(conn, EVENTS, [an_event(n) for n in range(events)])
        await pending.append(conn, COUNTERS, [a_counter(n) for n in range(counters)])
        event.listen(conn.sync_engine, "before_cursor_execute", count)

    try:
        await db.transaction(work)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    together = not db.is_sqlite and events <= pending.ROWS_TOGETHER
    assert len(statements) == (1 if together else 2)

    async def read(conn: AsyncConnection) -> tuple[list[Any], list[Any]]:
        e = EventRow.__table__
        found = await conn.execute(select(e.c.object_id, e.c.payload, e.c.created_at))
        r = RateLimitRow.__table__
        kept = await conn.execute(select(r.c.key, r.c.count).order_by(r.c.key))
        return sorted(found.all()), kept.all()

    found, kept = await db.read(read)
    assert found == sorted((f"cart-{n}", an_event(n)["payload"], AT) for n in range(events))
    assert kept == [(f"k{n}", n) for n in range(counters)]
