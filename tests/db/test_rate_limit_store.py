"""Rate-limit counters over tender's database: fixed windows aligned to the clock, claims
counted and given back only in their window, shared by every connection without deadlocks,
expired rows purgeable, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from limits import parse
from sqlalchemy import select, text

from tender.db.engine import Database
from tender.db.purge import forget_rate_limits
from tender.db.rate_limit_store import SqlLimitCounters, limits_table
from tender.domain.upkeep import Counted
from tests.conftest import Retries

T0 = 1_800_000_000  # a multiple of 3600 and 60: the start of an hour


async def using(db: Database, now: float, work: Any) -> Any:
    return await db.transaction(lambda conn: work(SqlLimitCounters(conn, lambda: now)))


async def claim(db: Database, now: float, key: str, window: int) -> Counted:
    claimed = await using(db, now, lambda s: s.claim([(key, window)]))
    return claimed[key]  # type: ignore[no-any-return]


async def counts(db: Database, now: int, keys: tuple[str, ...]) -> list[int]:
    """Each counter's count in the window that holds ``now`` (0 once its window has ended)."""

    async def read(conn: Any) -> dict[str, int]:
        rows = await conn.execute(select(limits_table).where(limits_table.c.key.in_(keys)))
        return {row.key: row.count for row in rows if row.expires_at > now}

    found = await db.read(read)
    return [found.get(key, 0) for key in keys]


async def test_fixed_windows_count_and_reset(db: Database) -> None:
    key = parse("3/minute").key_for("k")
    assert [(await claim(db, T0 + 10, key, 60)).count for _ in range(4)] == [1, 2, 3, 4]
    assert await claim(db, T0 + 59, key, 60) == Counted(5, T0, T0 + 60)
    assert await claim(db, T0 + 60, key, 60) == Counted(1, T0 + 60, T0 + 120)  # a new window
    assert await counts(db, T0 + 61, (key,)) == [1]


async def test_a_worker_whose_clock_lags_counts_into_the_newer_window(db: Database) -> None:
    key = parse("5/minute").key_for("k")
    assert (await claim(db, T0 + 61, key, 60)).count == 1
    # Its clock says the previous minute; the newer window keeps counting, it is not reset.
    assert await claim(db, T0 + 59, key, 60) == Counted(2, T0 + 60, T0 + 120)
    assert await counts(db, T0 + 62, (key,)) == [2]


async def test_expired_windows_are_purged_and_live_ones_kept(db: Database) -> None:
    minute, day = parse("1/minute").key_for("m"), parse("1/day").key_for("d")
    await claim(db, T0, minute, 60)
    await claim(db, T0, day, 86400)
    at = datetime.fromtimestamp(T0 + 60, UTC)
    purged = await db.transaction(lambda conn: forget_rate_limits(conn, at))
    assert purged == 1
    assert await counts(db, T0 + 60, (minute, day)) == [0, 1]


async def test_claims_count_in_their_windows_and_give_back_only_there(db: Database) -> None:
    minute, hour = parse("2/minute").key_for("m"), parse("9/hour").key_for("h")
    both = [(minute, 60), (hour, 3600)]
    first = await using(db, T0 + 1, lambda s: s.claim(both))
    assert first == {minute: Counted(1, T0, T0 + 60), hour: Counted(1, T0, T0 + 3600)}
    second = await using(db, T0 + 2, lambda s: s.claim(both))
    assert (second[minute].count, second[hour].count) == (2, 2)
    await using(db, T0 + 3, lambda s: s.give_back(second))
    assert await counts(db, T0 + 4, (minute, hour)) == [1, 1]
    # A new minute: the minute's counter starts again, and a claim from the old minute given
    # back now takes nothing from the new one; the hour goes on.
    third = await using(db, T0 + 61, lambda s: s.claim(both))
    assert third[minute] == Counted(1, T0 + 60, T0 + 120)
    assert third[hour].count == 2
    await using(db, T0 + 62, lambda s: s.give_back({minute: first[minute]}))
    await using(db, T0 + 62, lambda s: s.give_back({hour: first[hour]}))
    assert await counts(db, T0 + 63, (minute, hour)) == [1, 1]
    # Never below zero, whatever is given back twice.
    for _ in range(3):
        await using(db, T0 + 64, lambda s: s.give_back(third))
    assert await counts(db, T0 + 65, (minute, hour)) == [0, 0]


async def test_racing_claims_on_shared_counters_all_count_and_never_deadlock(
    db: Database, db_retries: Retries
) -> None:
    """Every lookup of a client claims the client's counter beside counters of its own, in
    whatever order its budgets come: forty at once, each in its own transaction, all count.
    The rows are written in key order, so none can end in a deadlock (which PostgreSQL would
    break after a second by failing one of them; the statement would be retried, so the
    counts alone cannot tell: no retry may have happened)."""
    shared = parse("1000/hour").key_for("client")
    own = [parse("1000/hour").key_for(f"own{n}") for n in range(40)]

    async def claim(n: int) -> None:
        windows = [(shared, 3600), (own[n], 3600), (own[(n + 1) % 40], 3600)]
        order = windows if n % 2 else windows[::-1]
        await db.apart_statement(lambda conn: SqlLimitCounters(conn, lambda: T0).claim(order))

    await asyncio.wait_for(asyncio.gather(*(claim(n) for n in range(40))), timeout=30)
    assert await counts(db, T0, (shared,)) == [40]
    assert set(await counts(db, T0, tuple(own))) == {2}
    assert db_retries() == []


async def test_a_counter_renewed_while_the_purge_runs_is_kept(db: Database) -> None:
    """The purge looks for counters whose window is over while a lookup counts into a new
    window on one of them. The purge must neither delete the renewed row by its key alone (on
    PostgreSQL it once did, and the new window's count was lost) nor wait for it: it passes
    over a row a request holds."""
    key = parse("1/minute").key_for("renewed")
    await claim(db, T0, key, 60)  # its window ends at T0 + 60
    counted = asyncio.Event()

    async def renew(conn: Any) -> int:
        count = (await SqlLimitCounters(conn, lambda: T0 + 120).claim([(key, 60)]))[key].count
        counted.set()
        await asyncio.sleep(0.5)  # the purge is waiting for this row by now
        return count

    renewal = asyncio.create_task(db.transaction(renew))
    await counted.wait()
    after_the_old_window = datetime.fromtimestamp(T0 + 90, UTC)
    purged = await db.transaction(lambda conn: forget_rate_limits(conn, after_the_old_window))
    assert await renewal == 1
    assert purged == 0
    assert await counts(db, T0 + 121, (key,)) == [1]


async def test_only_the_counters_own_statement_skips_the_flush(db: Database) -> None:
    """A claim runs on the request's own connection, whose unit of work comes next: on
    PostgreSQL its ``synchronous_commit`` off must end with the claim's own transaction (on
    SQLite nothing is changed at all)."""
    key = parse("5/minute").key_for("flush")
    ask = text("PRAGMA synchronous" if db.is_sqlite else "SHOW synchronous_commit")

    async with db.engine.connect() as conn:  # no transaction: the claim stands alone
        counted = await SqlLimitCounters(conn, lambda: T0).claim([(key, 60)])
        await SqlLimitCounters(conn, lambda: T0).give_back(counted)
        after = (await conn.execute(ask)).scalar_one()
        await conn.rollback()
    async with db.engine.connect() as conn:
        default = (await conn.execute(ask)).scalar_one()
        await conn.rollback()
    assert after == default
    assert db.is_sqlite or after == "on"
    assert await counts(db, T0, (key,)) == [0]
