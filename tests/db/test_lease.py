"""A request's statements share one connection (``tender.db.lease``), on PostgreSQL and on
SQLite, and never two borrowers at once: nested work and other tasks take connections of their
own, and a connection lost or left in a transaction is not handed on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, make_url, select, text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tender.db import direct, lease
from tender.db.engine import Database
from tender.db.models import RateLimitRow
from tests.conftest import POSTGRESQL_ONLY

COUNTERS = RateLimitRow.__table__
ONE = select(COUNTERS.c.count).where(COUNTERS.c.key == "nothing")


@contextmanager
def checkouts(db: Database) -> Iterator[list[int]]:
    """Connections checked out of both of the database's pools while the block runs."""
    seen: list[int] = []

    def checked_out(*_: Any) -> None:
        seen.append(1)

    engines = {db.engine.sync_engine, db._apart_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "checkout", checked_out)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "checkout", checked_out)


async def read(conn: AsyncConnection) -> int | None:
    return (await direct.execute(conn, ONE)).scalar()


async def a_request(db: Database) -> None:
    """A session lookup, a budget counted apart, a balance check and units of work."""
    async with db.request_lease():
        await db.lookup(read)
        await db.apart_statement(read)
        await db.autocommit(read)
        await db.transaction(read)
        await db.transaction(lambda conn: conn.execute(text("SELECT 1")))
        await db.lookup(lambda conn: conn.execute(text("SELECT 1")))  # ended by lookup
        await db.transaction(read)


async def test_a_request_takes_one_connection_and_the_next_takes_it_again(db: Database) -> None:
    await db.dispose()  # no connection waits from an earlier test
    with checkouts(db) as seen:
        await a_request(db)
    assert len(seen) == 1
    with checkouts(db) as seen:
        await a_request(db)
    assert len(seen) == 0  # the one that waited
    pool: Any = db.engine.sync_engine.pool
    assert pool.checkedout() == 1
    await db.dispose()
    assert pool.checkedout() == 0


async def test_nested_work_takes_a_connection_of_its_own(db: Database) -> None:
    used: list[AsyncConnection] = []

    async def used_by(conn: AsyncConnection) -> None:
        used.append(conn)

    async def outer(conn: AsyncConnection) -> None:
        used.append(conn)
        await db.lookup(used_by)  # the lease is lent to this unit
        if not db.is_sqlite:  # on SQLite a write apart would wait for the unit's own turn
            await db.apart_statement(used_by)  # apart, as ever

    async with db.request_lease():
        await db.transaction(outer)
        await db.lookup(used_by)  # free again
    nested = 2 if db.is_sqlite else 3
    assert len(set(used[:nested])) == nested
    assert used[nested] is used[0]


async def test_a_request_waiting_for_its_connection_holds_no_turn_to_write(db: Database) -> None:
    """On SQLite a unit takes its connection before the writer's turn. The other way round, a
    request whose first statement is its unit's would hold the turn while it waited for a
    connection, and the requests holding every connection would wait for that turn: all
    stuck until the 30 s limit. A job with no lease (the sweep) draws on the pool's overflow."""
    small = Database(db.url, pool_size=1)  # one connection for requests
    order: list[str] = []

    async def holder() -> None:
        async with small.request_lease():
            await small.lookup(read)  # the only connection for requests is this one's now
            order.append("holder looked up")
            await asyncio.sleep(0.1)  # meanwhile the next request's unit waits
            await small.transaction(read)
            order.append("holder wrote")

    async def writes_first() -> None:
        async with small.request_lease():
            await small.transaction(read)
            order.append("next wrote")

    try:
        first = asyncio.create_task(holder())
        await asyncio.sleep(0.02)
        jobs = [small.transaction(read) for _ in range(2)]  # no lease: the pool's overflow
        await asyncio.wait_for(asyncio.gather(first, writes_first(), *jobs), 10)
    finally:
        await small.dispose()
    assert order == ["holder looked up", "holder wrote", "next wrote"]


async def test_other_tasks_take_connections_of_their_own(db: Database) -> None:
    """``asyncio.gather`` copies the request's context into its tasks: the lease is not
    theirs to borrow, so two statements never meet on one connection."""

    async def slow(conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT pg_sleep(0.05)" if not db.is_sqlite else "SELECT 1"))

    async with db.request_lease():
        await db.lookup(read)
        await asyncio.gather(*(db.transaction(slow) for _ in range(4)), db.lookup(read))
        await db.transaction(slow)


async def test_a_connection_lost_or_left_in_a_transaction_is_not_handed_on(
    db: Database,
) -> None:
    engine: AsyncEngine = db.engine
    async with db.request_lease():
        async with lease.connection(engine) as first:
            await first.execute(text("SELECT 1"))  # begun and left so
        async with lease.connection(engine) as second:
            assert second is not first
            assert not second.in_transaction()
            await second.invalidate()
        async with lease.connection(engine) as third:
            assert third is not second
            assert not third.invalidated
            assert (await third.execute(text("SELECT 2"))).scalar() == 2
    # the third was left in a transaction too: closed, not kept for the next request
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_request_transaction_runs_on_the_lease(db: Database) -> None:
    async def claim(conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT 1"))

    await db.dispose()  # no connection waits from an earlier test
    with checkouts(db) as seen:
        async with db.request_lease():
            await db.lookup(read)
            async with db.request_transaction(claim) as request:
                await db.transaction(read)
                await request.commit(claim)
            await db.transaction(read)
    assert len(seen) == 1


async def test_requests_waiting_for_a_connection_are_served_before_newcomers(db: Database) -> None:
    """A request that ends while others wait for a connection hands its own to the one that
    has waited longest; kept for whoever asked next, it would let newcomers overtake them."""
    small = Database(db.url, pool_size=2)  # four connections at most, the overflow's included
    served: list[str] = []

    async def request(name: str, hold: float) -> None:
        async with small.request_lease():
            await small.lookup(read)
            served.append(name)
            await asyncio.sleep(hold)

    try:
        holding = [request("r0", 0.02)] + [request(f"r{n}", 0.3) for n in (1, 2, 3)]
        first = [asyncio.create_task(r) for r in holding]
        await asyncio.sleep(0.01)  # every connection is held
        waiting = [asyncio.create_task(request(f"w{n}", 0)) for n in (1, 2)]
        await asyncio.sleep(0.1)  # r0 has ended; the waiting may still wait
        late = asyncio.create_task(request("late", 0))
        await asyncio.wait_for(asyncio.gather(*first, *waiting, late), 10)
    finally:
        await small.dispose()
    assert served.index("late") > max(served.index("w1"), served.index("w2"))


async def test_a_request_that_gives_up_waiting_or_loses_its_connection_frees_its_place(
    db: Database,
) -> None:
    small = Database(db.url, pool_size=1)  # one place for requests
    served: list[str] = []

    async def request(name: str, hold: float = 0, lose: bool = False) -> None:
        async with small.request_lease():
            await small.lookup(read)
            served.append(name)
            if lose:
                async with lease.connection(small.engine) as conn:
                    await conn.invalidate()
            await asyncio.sleep(hold)

    try:
        holder = asyncio.create_task(request("holder", hold=0.1))
        await asyncio.sleep(0.02)
        gives_up = asyncio.create_task(request("gives up"))
        waits = asyncio.create_task(request("waits", hold=0.1, lose=True))
        await asyncio.sleep(0.02)
        gives_up.cancel()
        await asyncio.sleep(0.02)
        after_loss = asyncio.create_task(request("after the loss"))  # opens one in its place
        await asyncio.wait_for(asyncio.gather(holder, waits, after_loss), 10)
        await asyncio.wait_for(request("later"), 10)
    finally:
        await small.dispose()
    assert served == ["holder", "waits", "after the loss", "later"]
    assert gives_up.cancelled()


async def _end_tender_connections(db: Database) -> int:
    """What a database restart does to tender's connections: the server ends every one."""
    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)
    try:
        ended: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'tender'"
        )
    finally:
        await admin.close()
    return ended


def _ended(conn: AsyncConnection) -> bool:
    """Whether asyncpg saw the server end ``conn``."""
    assert conn.sync_connection is not None
    driver: Any = conn.sync_connection.connection.driver_connection
    return bool(driver.is_closed())


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the driver never saw its connections end")


@POSTGRESQL_ONLY
async def test_connections_the_server_ended_while_they_waited_are_replaced(
    db: Database,
) -> None:
    """After a restart or failover, the connections waiting between requests and those in the
    pools are dead: each used to fail one request with a 500; now none does (PostgreSQL
    only: SQLite has no server to restart)."""
    await db.dispose()

    async def a_short_request() -> None:
        async with db.request_lease():
            await db.lookup(read)
            await asyncio.sleep(0.01)  # at once, so that several connections wait after

    await asyncio.gather(*(a_short_request() for _ in range(4)))
    await db.transaction(read, apart=True)  # and one in the apart pool
    waiting = list(db._idle._connections)
    assert len(waiting) == 4

    assert await _end_tender_connections(db) >= 5
    await _until(lambda: all(_ended(conn) for conn in waiting))

    async def a_request() -> tuple[int | None, int | None]:
        async with db.request_lease():
            found = await db.lookup(read)
            await asyncio.sleep(0.01)
            return found, await db.transaction(read)

    with checkouts(db) as seen:
        for _ in range(2):  # each dead one is lent to none of them
            assert await asyncio.gather(*(a_request() for _ in range(4))) == [(None, None)] * 4
        assert await db.transaction(read, apart=True) is None  # a pooled one, refused
        assert await db.apart_statement(read) is None
    assert len(seen) >= 5  # connections opened in the dead ones' places
    assert not any(conn in db._idle._connections for conn in waiting)


async def test_a_request_waits_for_a_connection_no_longer_than_the_limit(db: Database) -> None:
    """Past the limit it gives up with the pool's own error (answered 503) and leaves the
    queue, so the next connection given back goes to whoever still waits."""
    idle = lease.Idle(1, timeout=0.05)
    first = await idle.connect(db.engine)
    try:
        with pytest.raises(PoolTimeout):
            await idle.connect(db.engine)
        assert not idle._waiting
        later = asyncio.create_task(idle.connect(db.engine))
        await asyncio.sleep(0.01)
        await idle.put(first)
        assert await later is first  # handed on, as ever
    finally:
        await first.close()
        await idle.close()
