"""The request transaction: units of work under savepoints, a claim that lives exactly as long
as its transaction, and a stuck request that can no longer commit once the server ended it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tender.db import kept
from tender.db.engine import Database
from tender.db.idempotency_store import SqlIdempotencyStore
from tender.db.models import RateLimitRow
from tender.db.rate_limit_store import SqlLimitCounters
from tender.domain.errors import InvalidInput
from tender.domain.idempotency import IdempotencyKeyInUse
from tests.conftest import POSTGRESQL_ONLY

KEY = b"k" * 32
"""For behaviour only PostgreSQL has: the test runs there and nowhere else (never skipped)."""


async def claimed(conn: Any) -> None:
    """The read that follows the claim of ``KEY``: it raises if another transaction holds it."""
    await SqlIdempotencyStore(conn).claimed(KEY, datetime.now(UTC))


async def counted(db: Database) -> dict[str, int]:
    async def read(conn: Any) -> dict[str, int]:
        result = await conn.execute(select(RateLimitRow.key, RateLimitRow.count))
        return {row.key: row.count for row in result}

    return dict(await db.read(read))


def count(conn: Any, key: str, window: int) -> Any:
    """One rate-limit counter hit: a write that any unit of work might make."""
    return SqlLimitCounters(conn, lambda: 0.0).claim([(key, window)])


async def test_a_refused_unit_is_undone_alone_but_for_its_kept_writes(db: Database) -> None:
    async def hit(key: str) -> Any:
        return await db.transaction(lambda c: count(c, key, 60))

    async def hit_then_refuse(key: str, kept_key: str | None = None) -> None:
        async def work(conn: Any) -> None:
            await count(conn, key, 60)
            if kept_key is not None:
                await count(conn, kept_key, 60)
                kept.keep(conn, lambda own: count(own, kept_key, 60))
            raise InvalidInput()

        await db.transaction(work)

    async with db.request_transaction(claimed, key=KEY) as request:
        await hit("first")
        with pytest.raises(InvalidInput):
            await hit_then_refuse("refused")
        with pytest.raises(InvalidInput):
            await hit_then_refuse("refused too", kept_key="kept")
        assert await db.read(lambda c: c.scalar(select(func.count(RateLimitRow.key)))) == 2
        await request.commit(lambda c: asyncio.sleep(0))
    assert await counted(db) == {"first": 1, "kept": 1}


async def test_a_refused_unit_alone_keeps_only_its_kept_writes(db: Database) -> None:
    async def work(conn: Any) -> None:
        await count(conn, "refused", 60)
        await count(conn, "kept", 60)
        kept.keep(conn, lambda own: count(own, "kept", 60))
        raise InvalidInput()

    with pytest.raises(InvalidInput):
        await db.transaction(work)
    assert await counted(db) == {"kept": 1}


async def test_nothing_commits_unless_the_owner_commits(db: Database) -> None:
    async with db.request_transaction(claimed, key=KEY):
        await db.transaction(lambda c: count(c, "lost", 60))
    assert await counted(db) == {}


@POSTGRESQL_ONLY  # SQLite has one writer: a second claim waits for the first to end
async def test_a_claim_is_refused_while_held_and_free_once_its_transaction_ends(
    db: Database,
) -> None:
    held = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with db.request_transaction(claimed, key=KEY):
            await db.transaction(lambda c: asyncio.sleep(0))
            held.set()
            await release.wait()  # rolled back when the block ends, as after a crash

    async def second() -> str:
        async with db.request_transaction(claimed, key=KEY) as request:
            await db.transaction(lambda c: asyncio.sleep(0))
            await request.commit(lambda c: asyncio.sleep(0))
        return "claimed"

    task = asyncio.create_task(first())
    await held.wait()
    with pytest.raises(IdempotencyKeyInUse):
        await second()
    release.set()
    await task
    assert await second() == "claimed"


@POSTGRESQL_ONLY  # SQLite has one writer: a second claim waits for the first to end
async def test_a_refused_first_unit_keeps_the_claim(db: Database) -> None:
    """The first unit's savepoint goes out with the BEGIN, after the key's claim: undoing the
    unit must not release the claim (a lock taken after a savepoint is released with it)."""

    async def refuse(conn: Any) -> None:
        await count(conn, "refused", 60)
        raise InvalidInput()

    async def other_worker() -> str:
        async with db.request_transaction(claimed, key=KEY):
            await db.transaction(lambda c: asyncio.sleep(0))
        return "claimed"

    async with db.request_transaction(claimed, key=KEY) as request:
        with pytest.raises(InvalidInput):
            await db.transaction(refuse)
        with pytest.raises(IdempotencyKeyInUse):
            await asyncio.create_task(other_worker())
        await db.transaction(lambda c: count(c, "after", 60))
        await request.commit(lambda c: asyncio.sleep(0))
    assert await counted(db) == {"after": 1}
    assert await other_worker() == "claimed"


@POSTGRESQL_ONLY  # the server-side idle limit is PostgreSQL's
async def test_a_request_stuck_past_the_idle_limit_loses_its_claim_and_cannot_commit(
    db: Database,
) -> None:
    stuck_db = Database(db.url, pool_size=2, idle_timeout_ms=300)
    try:
        async with stuck_db.request_transaction(claimed, key=KEY) as stuck:
            await stuck_db.transaction(lambda c: count(c, "stuck", 60))
            await asyncio.sleep(1.0)  # a hung worker: the server ends its session

            async def retry() -> None:
                async with db.request_transaction(claimed, key=KEY) as request:
                    await db.transaction(lambda c: count(c, "retry", 60))
                    await request.commit(lambda c: asyncio.sleep(0))

            await asyncio.create_task(retry())  # the key is free at once
            with pytest.raises(DBAPIError):
                await stuck.commit(lambda c: asyncio.sleep(0))
        assert await counted(db) == {"retry": 1}
    finally:
        await stuck_db.dispose()


async def test_work_apart_commits_at_once_on_postgresql_and_with_the_request_on_sqlite(
    db: Database,
) -> None:
    """A shared counter is counted apart from a keyed request on PostgreSQL: visible to
    everyone at once, kept if the request dies, never locked until the request ends."""

    async def outside() -> dict[str, int]:
        async with db.engine.connect() as conn:  # another connection, as another worker
            result = await conn.execute(select(RateLimitRow.key, RateLimitRow.count))
            return {row.key: row.count for row in result}

    async with db.request_transaction(claimed, key=KEY):
        await db.transaction(lambda c: count(c, "joined", 60))
        await db.transaction(lambda c: count(c, "apart", 60), apart=True)
        if not db.is_sqlite:
            assert await outside() == {"apart": 1}
        # the block ends without a commit: the request died
    assert await counted(db) == ({} if db.is_sqlite else {"apart": 1})


async def test_a_unit_cancelled_inside_a_statement_ends_cancelled(db: Database) -> None:
    """A cancellation that interrupts a statement invalidates the connection; the unit must
    still end with the cancellation itself, not with an error from cleaning up after it (which
    a loop catching errors, like the background sweep, would swallow and carry on)."""
    long_statement = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) "
        "SELECT count(*) FROM c"
        if db.is_sqlite
        else "SELECT pg_sleep(2)"
    )
    started = asyncio.Event()

    async def work(conn: Any) -> None:
        started.set()
        await conn.execute(text(long_statement))

    task = asyncio.create_task(db.transaction(work))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.transaction(lambda c: count(c, "after", 60))
    assert await counted(db) == {"after": 1}
