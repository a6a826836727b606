"""SQLite's statements and their hand-offs to the connection's thread
(``tender.db.sqlite_driver``): a ``BEGIN`` rides with the first statement, the hot statements of
a transaction that holds its lock run on the loop's thread, and order and rollbacks hold
whatever is still in flight on the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, make_url, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct
from tender.db.engine import READ_ONLY, Database
from tender.db.migrate import upgrade
from tender.db.models import RateLimitRow
from tender.db.sqlite_driver import BUSY_STEP_MS, ROWS_HERE, OneHopConnection

COUNTERS = RateLimitRow.__table__
NEW_COUNTER = insert(COUNTERS)
COUNT_UP = update(COUNTERS).where(COUNTERS.c.key == "k").values(count=COUNTERS.c.count + 1)
READ_COUNTER = select(COUNTERS.c.count).where(COUNTERS.c.key == "k")
ROW = {"key": "k", "window_start": 0, "count": 1, "expires_at": 9}


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'tender.db'}")
    await upgrade(database.engine)
    yield database
    await database.dispose()


async def driver_of(conn: AsyncConnection) -> OneHopConnection:
    driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, OneHopConnection)
    return driver


async def count_of(db: Database) -> int | None:
    async def read(conn: Any) -> int | None:
        return (await direct.execute(conn, READ_COUNTER)).scalar()

    return await db.read(read)


async def test_begin_goes_out_with_the_first_statement(sqlite: Database) -> None:
    """A transaction's ``BEGIN`` costs no hand-off of its own, and a transaction that ends
    without a statement never began."""
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        handed = driver._handed
        await conn.begin()
        assert driver._handed == handed
        assert not driver.raw.in_transaction
        await conn.rollback()
        assert driver._handed == handed  # nothing to undo, nothing handed
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, ROW)
        assert driver._handed == handed + 1  # BEGIN IMMEDIATE and the statement, together
        assert driver.raw.in_transaction
        assert await count_of(sqlite) is None  # begun: nobody else sees it yet
        await conn.commit()
    assert await count_of(sqlite) == 1


async def test_a_write_transactions_later_statements_run_without_hand_offs(
    sqlite: Database,
) -> None:
    """Once ``BEGIN IMMEDIATE`` (which may wait) went to the thread with the first statement,
    the transaction holds the write lock: its hot statements run at once; its commit, which
    syncs, goes to the thread. A read needs none either, and nor does a read transaction."""
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, ROW)
        handed = driver._handed
        for _ in range(3):
            assert (await direct.execute(conn, COUNT_UP)).rowcount == 1
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 4
        rows = [{**ROW, "key": f"k{n}"} for n in range(ROWS_HERE)]
        await direct.execute_many(conn, NEW_COUNTER, rows)
        assert driver._handed == handed
        await conn.commit()
        assert driver._handed == handed + 1
    assert await count_of(sqlite) == 4
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        handed = driver._handed
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 4  # standing alone
        assert driver._handed == handed


async def test_an_issuance_sized_batch_goes_to_the_thread(sqlite: Database) -> None:
    rows = [{**ROW, "key": f"k{n}"} for n in range(ROWS_HERE + 1)]
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, ROW)
        handed = driver._handed
        await direct.execute_many(conn, NEW_COUNTER, rows)
        assert driver._handed == handed + 1
        await conn.commit()


async def test_a_statement_waits_for_what_is_in_flight_on_the_thread(sqlite: Database) -> None:
    """A statement never overtakes a hand-off the thread has not finished: it goes to the
    thread too, behind it, and reads what it wrote."""
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, ROW)

        def slowly_count_up(_: Any) -> None:
            time.sleep(0.1)
            driver.raw.execute("UPDATE rate_limits SET count = 10 WHERE key = 'k'")

        in_flight = asyncio.create_task(driver.hand_off(None, slowly_count_up))
        await asyncio.sleep(0)
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 10
        await in_flight
        await conn.commit()


async def test_a_statement_cancelled_before_its_thread_ran_it_is_rolled_back(
    sqlite: Database,
) -> None:
    """A cancelled statement still runs on the connection's thread, with the ``BEGIN
    IMMEDIATE`` it carries. The rollback that follows must wait for it and undo it, not skip
    its hand-off because the transaction had not begun yet: left open, it would keep the
    database's write lock for ever."""
    async with sqlite.engine.connect() as conn:
        await conn.begin()
        driver = await driver_of(conn)
        busy = asyncio.create_task(driver.hand_off(None, lambda _: time.sleep(0.2)))
        await asyncio.sleep(0)
        task = asyncio.create_task(direct.execute(conn, NEW_COUNTER, ROW))
        await asyncio.sleep(0.05)
        assert not driver.raw.in_transaction  # queued behind the busy thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await conn.rollback()
        await busy
        await driver.hand_off(None, lambda _: None)
        assert not driver.raw.in_transaction
    assert await count_of(sqlite) is None
    async with sqlite.engine.begin() as other:  # nobody holds the write lock
        await direct.execute(other, NEW_COUNTER, ROW)
    assert await count_of(sqlite) == 1


async def test_errors_on_the_loops_thread_are_sqlalchemys(sqlite: Database) -> None:
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, ROW)
        handed = driver._handed
        with pytest.raises(IntegrityError):
            await direct.execute(conn, NEW_COUNTER, ROW)
        assert driver._handed == handed  # raised on the spot
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 1
        await conn.rollback()
    assert await count_of(sqlite) is None


async def test_a_write_without_the_lock_goes_to_the_thread(sqlite: Database) -> None:
    """A write that stands alone, or in a transaction begun to read, may wait for the write
    lock: it never waits on the loop's thread."""
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        handed = driver._handed
        await direct.execute(conn, NEW_COUNTER, ROW)  # standing alone
        assert driver._handed == handed + 1
    async with sqlite.engine.connect() as conn:
        conn = await conn.execution_options(**{READ_ONLY: True})
        driver = await driver_of(conn)
        await conn.begin()
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 1
        handed = driver._handed
        assert handed == driver._finished
        await direct.execute(conn, COUNT_UP)
        assert driver._handed == handed + 1
        await conn.commit()
    assert await count_of(sqlite) == 2


async def test_a_lookup_leaves_the_leased_connection_ready_to_write(
    sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup on SQLite begins what it must begin read-only (``BEGIN``, no write lock); the
    request's next unit on the same leased connection begins ``BEGIN IMMEDIATE`` again, or
    its writes would run without the lock a unit is meant to hold from its start."""
    begun: list[str] = []
    used: list[AsyncConnection] = []
    sent = OneHopConnection.begin_later

    def recorded(driver: OneHopConnection, sql: str) -> None:
        begun.append(sql)
        sent(driver, sql)

    monkeypatch.setattr(OneHopConnection, "begin_later", recorded)

    async def run(conn: AsyncConnection, statement: Any) -> None:
        used.append(conn)
        await conn.execute(statement)  # SQLAlchemy's own execution: it begins

    async with sqlite.request_lease():
        await sqlite.lookup(lambda conn: run(conn, READ_COUNTER))
        await sqlite.transaction(lambda conn: run(conn, COUNT_UP))
    assert used[0] is used[1]  # the request's one connection
    assert begun == ["BEGIN", "BEGIN IMMEDIATE"]


@pytest.fixture
def outside_writer(sqlite: Database) -> Iterator[sqlite3.Connection]:
    """A connection outside tender (a shell, a backup tool) holding the database's write lock
    until the test lets go of it."""
    writer = sqlite3.connect(make_url(sqlite.url).database or "", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    yield writer
    writer.close()


async def test_an_outside_writer_is_waited_for_longer_than_a_step(
    sqlite: Database, outside_writer: sqlite3.Connection
) -> None:
    """SQLite's busy timeout is one step; the hand-off waits for the lock step after step, as
    long as SQLite's own busy timeout used to wait."""
    loop = asyncio.get_running_loop()
    loop.call_later(3 * BUSY_STEP_MS / 1000, outside_writer.rollback)
    async with sqlite.engine.begin() as conn:
        await direct.execute(conn, NEW_COUNTER, ROW)
    assert await count_of(sqlite) == 1


async def test_a_hand_off_given_up_stops_waiting_for_an_outside_writer(
    sqlite: Database, outside_writer: sqlite3.Connection
) -> None:
    """A request cancelled while an outside writer held the database (a worker stopping after
    its grace period): SQLite's busy handler sleeps out its timeout whatever happens, even past
    ``sqlite3_interrupt``, and the thread went on waiting up to 30 s, which held up the
    rollback, the pool's closing, and so the worker's exit. It gives up after a step now, and
    the connection is left in no transaction."""
    async with sqlite.engine.connect() as conn:
        driver = await driver_of(conn)
        await conn.begin()
        task = asyncio.create_task(direct.execute(conn, NEW_COUNTER, ROW))
        await asyncio.sleep(0)
        assert driver._handed == driver._finished + 1  # the BEGIN IMMEDIATE, handed off
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(10 * BUSY_STEP_MS / 1000):
            await conn.rollback()
            await driver.hand_off(None, lambda _: None)
        assert not driver.raw.in_transaction
    outside_writer.rollback()
    assert await count_of(sqlite) is None
