"""200 concurrent reserves on one card: from 4 OS processes (50 tasks each) against PostgreSQL
and against a SQLite file, and from 200 tasks in one process against SQLite. However the race
goes, the holds that won never exceed the balance and the books balance afterwards."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, holds
from tender.db.migrate import upgrade
from tender.domain.codes import Hasher
from tender.domain.errors import InsufficientFunds
from tender.domain.money import Money
from tender.services.ledger import Ledger
from tests.conftest import TEST_KEY, create_pg_database, drop_pg_database

pytestmark = pytest.mark.xdist_group("race")

BALANCE = 10_000
PROCESSES = 4
TASKS_PER_PROCESS = 50


async def _reserve_many(url: str, card_id: str, amounts: list[int]) -> list[int]:
    """Each amount from its own task; returns the amounts that won a hold."""
    # PostgreSQL allows 100 connections: tasks share a pool, as in a real worker.
    database = Database(url, pool_size=10)
    ledger = Ledger(Hasher(TEST_KEY))
    start = asyncio.Event()

    async def one(amount: int) -> int:
        await start.wait()
        try:
            await database.transaction(
                lambda c: ledger.reserve(
                    SqlLedgerStore(c), card_id=card_id, amount=Money(amount, "EUR")
                )
            )
        except InsufficientFunds:
            return 0
        return amount

    tasks = [asyncio.create_task(one(a)) for a in amounts]
    await asyncio.sleep(0.05)
    start.set()
    try:
        return [won for won in await asyncio.gather(*tasks) if won]
    finally:
        await database.dispose()


def _process_main(url: str, card_id: str, amounts: list[int]) -> list[int]:
    return asyncio.run(_reserve_many(url, card_id, amounts))


async def _prepare(url: str) -> str:
    database = Database(url)
    await upgrade(database.engine)
    ledger = Ledger(Hasher(TEST_KEY))
    issued = await database.transaction(
        lambda c: ledger.issue(SqlLedgerStore(c), amount=Money(BALANCE, "EUR"))
    )
    await database.dispose()
    return issued[0].card.id


async def _check(url: str, card_id: str, won: list[int]) -> None:
    database = Database(url)
    ledger = Ledger(Hasher(TEST_KEY))
    try:
        card = await database.read(lambda c: ledger.get(SqlLedgerStore(c), card_id=card_id))
        count, total = await database.read(lambda c: _hold_totals(c, card_id))
        problems = await database.read(lambda c: SqlLedgerStore(c).audit())
    finally:
        await database.dispose()
    assert sum(won) <= BALANCE
    assert count == len(won)
    assert total == sum(won) == card.held
    assert card.available == BALANCE - sum(won) >= 0
    assert problems == []
    # Demand was far above the balance, so the race must have left less than one request's
    # worth on the card: the losers lost because money ran out, not by mistake.
    assert card.available < 200


async def _hold_totals(conn: object, card_id: str) -> tuple[int, int]:
    stmt = select(func.count(), func.coalesce(func.sum(holds.c.amount), 0)).where(
        holds.c.card_id == card_id
    )
    row = (await conn.execute(stmt)).one()  # type: ignore[attr-defined]
    return int(row[0]), int(row[1])


def _amounts(count: int) -> list[int]:
    rng = random.Random(20261125)
    return [rng.randint(100, 200) for _ in range(count)]


def _race_from_processes(url: str) -> None:
    card_id = asyncio.run(_prepare(url))
    amounts = _amounts(PROCESSES * TASKS_PER_PROCESS)
    chunks = [amounts[i::PROCESSES] for i in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        results = list(pool.map(_process_main, [url] * PROCESSES, [card_id] * PROCESSES, chunks))
    won = [amount for result in results for amount in result]
    assert len(won) > 0
    asyncio.run(_check(url, card_id, won))


def test_reserves_from_four_processes_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        _race_from_processes(url)
    finally:
        asyncio.run(drop_pg_database(url))


def test_reserves_from_four_processes_on_sqlite(tmp_path: Path) -> None:
    _race_from_processes(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}")


def test_reserves_from_200_tasks_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}"
    card_id = asyncio.run(_prepare(url))
    won = asyncio.run(_reserve_many(url, card_id, _amounts(200)))
    asyncio.run(_check(url, card_id, won))


def test_reserves_from_200_tasks_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        card_id = asyncio.run(_prepare(url))
        won = asyncio.run(_reserve_many(url, card_id, _amounts(200)))
        asyncio.run(_check(url, card_id, won))
    finally:
        asyncio.run(drop_pg_database(url))
