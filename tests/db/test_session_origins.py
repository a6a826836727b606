"""The origins browser sessions allow, kept as long as their longest-lived session, on SQLite
and PostgreSQL: a new session's origin is allowed even while the purge deletes it as expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tender.db.engine import Database
from tender.db.purge import forget_origins
from tender.db.session_store import SqlSessionStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHOP = "https://shop.example"


async def allow(db: Database, until: datetime, *origins: str) -> None:
    await db.transaction(lambda conn: SqlSessionStore(conn).allow_origins(origins, until))


async def allowed(db: Database, at: datetime, origin: str = SHOP) -> bool:
    return bool(await db.read(lambda conn: SqlSessionStore(conn).origin_allowed(origin, at)))


async def test_an_origin_lives_as_long_as_its_longest_session(db: Database) -> None:
    await allow(db, NOW + timedelta(hours=2), SHOP, SHOP)
    await allow(db, NOW + timedelta(hours=1), SHOP)  # a shorter session shortens nothing
    assert await allowed(db, NOW + timedelta(minutes=90))
    assert not await allowed(db, NOW + timedelta(hours=3))


async def test_a_new_session_s_origin_survives_the_purge_of_its_old_row(db: Database) -> None:
    """The purge deletes the expired row and waits to commit; a new session allows the same
    origin meanwhile. After both, the origin is allowed (a read, then an update of the row
    the purge deleted, allowed it in no row)."""
    await allow(db, NOW - timedelta(hours=1), SHOP)  # its last session expired
    deleted = asyncio.Event()

    async def purge(conn: Any) -> int:
        count = await forget_origins(conn, NOW)
        deleted.set()
        await asyncio.sleep(0.5)  # the new session's write waits for this row by now
        return count

    purging = asyncio.create_task(db.transaction(purge))
    await deleted.wait()
    await allow(db, NOW + timedelta(hours=1), SHOP)
    assert await purging == 1
    assert await allowed(db, NOW)
