"""Racing PIN guesses on PostgreSQL and SQLite: no more than ``max_pin_attempts`` wrong PINs
are ever compared per card and window, whatever runs at once.

For each of 20 cards, 41 callers (40 wrong PINs and the right one, in a random order) start at
the same moment: as 41 asyncio tasks on one engine whose pool holds a connection for each of
them, or spread over four processes that wait at a barrier before every card. Each process
counts the PINs its ledger actually compared (a hasher that counts ``pin_matches``); the parent
adds them up. Per card: exactly ``max_pin_attempts`` wrong PINs were compared (never more; and
with 40 of them the window must fill), the right PIN was compared at most once and succeeded
exactly when it was, and afterwards the card is locked: the right PIN is refused, uncompared.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.db.ledger_store import cards
from tender.db.migrate import upgrade
from tender.domain.codes import Hasher
from tender.domain.policy import LedgerPolicy
from tender.services.ledger import Ledger
from tests.conftest import TEST_KEY, create_pg_database, drop_pg_database
from tests.helpers import CountingHasher, authenticated, issue_card

pytestmark = pytest.mark.usefixtures("racing_alone")  # many connections each: one at a time

T = TypeVar("T")
CARDS = 20
WRONG = 40
CALLERS = WRONG + 1
MAX_ATTEMPTS = LedgerPolicy().max_pin_attempts
RIGHT_PIN = "246810"
PROCESSES = 4
APART_CONNECTIONS = 2
"""Per engine, and as many again as overflow: where PIN attempts are counted."""
BARRIER_TIMEOUT = 60.0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a private loop: never replace the thread's loop that pytest-asyncio may own."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@dataclass(frozen=True)
class Target:
    card_id: str
    code: str
    pins: list[str]
    """All 41 PINs of this card in the order the callers are started."""


@dataclass
class Report:
    wrong: Counter[str] = field(default_factory=Counter)
    right: Counter[str] = field(default_factory=Counter)
    succeeded: Counter[str] = field(default_factory=Counter)
    """Card id -> calls that authenticated (only the right PIN may)."""
    refused: Counter[str] = field(default_factory=Counter)
    error: str | None = None


def _targets(issued: list[tuple[str, str]]) -> list[Target]:
    rng = random.Random(20261126)
    targets = []
    for card_id, code in issued:
        pins = [f"{rng.randrange(10**6):06d}" for _ in range(WRONG)]
        pins = [p if p != RIGHT_PIN else "000000" for p in pins]
        pins.insert(rng.randrange(CALLERS), RIGHT_PIN)
        targets.append(Target(card_id, code, pins))
    return targets


async def _prepare(url: str) -> list[Target]:
    database = Database(url)
    try:
        await upgrade(database.engine)
        ledger = Ledger(Hasher(TEST_KEY))
        issued = []
        for _ in range(CARDS):
            card = await issue_card(database, ledger, minor=5000, pin=RIGHT_PIN)
            issued.append((card.card.id, card.code))
    finally:
        await database.dispose()
    return _targets(issued)


async def _open_connections(database: Database, count: int) -> None:
    """Open ``count`` pooled connections at once, so the race never waits for a connect."""

    async def hold(conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT 1"))
        await asyncio.sleep(0.05)

    await asyncio.gather(*(database.read(hold) for _ in range(count)))


async def _race(
    url: str, targets: list[Target], share: Callable[[list[str]], list[str]], sync: Any
) -> Report:
    """Race this caller's share of every card's PINs, card after card."""
    pins_here = max(len(share(targets[0].pins)), 1)
    # Claims of one card wait for its row in turn anyway: a few connections for them keep the
    # race on that row while the test stays well inside PostgreSQL's 100 connections, which
    # the other tests running beside it share.
    database = Database(url, pool_size=pins_here, apart_pool_size=APART_CONNECTIONS)
    hasher = CountingHasher(TEST_KEY)
    ledger = Ledger(hasher)
    report = Report()
    try:
        await _open_connections(database, pins_here)
        for target in targets:
            start = asyncio.Event()

            async def caller(
                pin: str, target: Target = target, start: asyncio.Event = start
            ) -> None:
                await start.wait()
                if await authenticated(database, ledger, target.code, pin):
                    assert pin == RIGHT_PIN
                    report.succeeded[target.card_id] += 1
                else:
                    report.refused[target.card_id] += 1

            callers = [asyncio.create_task(caller(pin)) for pin in share(target.pins)]
            await asyncio.sleep(0)  # every caller is waiting on the event
            await sync()
            start.set()
            await asyncio.gather(*callers)
    finally:
        await database.dispose()
    report.wrong, report.right = hasher.wrong, hasher.right
    return report


async def _card_states(url: str) -> dict[str, tuple[int, Any]]:
    async def read(conn: AsyncConnection) -> dict[str, tuple[int, Any]]:
        rows = await conn.execute(
            select(cards.c.id, cards.c.failed_pin_attempts, cards.c.pin_window_ends_at)
        )
        return {row.id: (row.failed_pin_attempts, row.pin_window_ends_at) for row in rows}

    database = Database(url)
    try:
        return await database.read(read)
    finally:
        await database.dispose()


async def _right_pin_after(url: str, targets: list[Target]) -> tuple[list[bool], int]:
    """The right PIN on every card once the race is over: refused, and never compared."""
    database = Database(url)
    hasher = CountingHasher(TEST_KEY)
    ledger = Ledger(hasher)
    try:
        outcomes = [await authenticated(database, ledger, t.code, RIGHT_PIN) for t in targets]
    finally:
        await database.dispose()
    return outcomes, sum(hasher.right.values()) + sum(hasher.wrong.values())


def _check(url: str, targets: list[Target], reports: list[Report]) -> dict[str, int]:
    errors = [r.error for r in reports if r.error]
    assert errors == [], "\n".join(str(e) for e in errors)
    wrong: Counter[str] = sum((r.wrong for r in reports), Counter())
    right: Counter[str] = sum((r.right for r in reports), Counter())
    succeeded: Counter[str] = sum((r.succeeded for r in reports), Counter())
    refused: Counter[str] = sum((r.refused for r in reports), Counter())
    states = _run(_card_states(url))
    for target in targets:
        card = target.card_id
        # The guarantee: never more wrong PINs compared than the window allows; and with 40
        # of them racing, the window did fill.
        assert wrong[card] <= MAX_ATTEMPTS, f"card {card}: {wrong[card]} wrong PINs compared"
        assert wrong[card] == MAX_ATTEMPTS
        assert right[card] <= 1
        assert succeeded[card] == right[card]
        assert succeeded[card] + refused[card] == CALLERS
        attempts, window_ends = states[card]
        assert attempts == MAX_ATTEMPTS
        assert window_ends is not None
    outcomes, compared = _run(_right_pin_after(url, targets))
    assert outcomes == [False] * len(targets)
    assert compared == 0
    return {"right_pin_won": sum(succeeded.values()), "wrong_compared": sum(wrong.values())}


# --- 41 tasks on one engine ------------------------------------------------------------------


def _race_from_tasks(url: str) -> dict[str, int]:
    targets = _run(_prepare(url))

    async def no_sync() -> None:
        return None

    report = _run(_race(url, targets, lambda pins: pins, no_sync))
    return _check(url, targets, [report])


# --- four processes ------------------------------------------------------------------------


def _process_main(
    url: str,
    targets: list[Target],
    index: int,
    barrier: threading.Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    async def sync() -> None:
        await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)

    try:
        report = asyncio.run(_race(url, targets, lambda pins: pins[index::PROCESSES], sync))
    except BaseException:
        barrier.abort()
        report = Report(error=traceback.format_exc())
    results.put(report)


def _race_from_processes(url: str) -> dict[str, int]:
    targets = _run(_prepare(url))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results: multiprocessing.Queue[Report] = context.Queue()
    workers = [
        context.Process(target=_process_main, args=(url, targets, index, barrier, results))
        for index in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = [results.get(timeout=BARRIER_TIMEOUT * 2) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=BARRIER_TIMEOUT)
            if worker.is_alive():
                worker.kill()
                worker.join()
        results.close()
        results.join_thread()
    return _check(url, targets, reports)


def _record(request: pytest.FixtureRequest, figures: dict[str, int]) -> None:
    for name, value in figures.items():
        request.node.user_properties.append((name, f"{value} over {CARDS} cards"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = _run(create_pg_database())
    yield url
    _run(drop_pg_database(url))


Race = Callable[[str], dict[str, int]]
RACES: list[Any] = [
    pytest.param(_race_from_tasks, id="41-tasks"),
    pytest.param(_race_from_processes, id="4-processes"),
]


@pytest.mark.parametrize("race", RACES)
def test_pin_guesses_racing_on_postgresql(
    race: Race, pg_url: str, request: pytest.FixtureRequest
) -> None:
    _record(request, race(pg_url))


@pytest.mark.parametrize("race", RACES)
def test_pin_guesses_racing_on_sqlite(
    race: Race, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _record(request, race(f"sqlite+aiosqlite:///{tmp_path / 'pins.db'}"))
