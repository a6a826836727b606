"""Racing the ledger on one card, on PostgreSQL and on SQLite.

Phase 1: 200 concurrent reserves (4 OS processes x 50 asyncio tasks, or 200 tasks in one process)
ask for about three times the card's balance. Phase 2: the holds that won are captured (fully or
in part), released, or captured and released at the same time, while new short-lived reserves
race for the money those releases free. Phase 3: every process sweeps the expired short holds at
once (with a clock a little ahead, so the test need not sleep until they expire) while three
tasks at a time try to refund 40 % of each capture: exactly two of each three may succeed.

After each phase the books are read and checked: the holds that won never add up to more than
the balance, the card's ``held`` is the sum of its active holds, no activity ever recorded a
negative available balance, the hold activities form one serial chain (each saw the one before
it), every hold ended exactly once, and ``audit()`` finds nothing wrong.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import random
import threading
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, activities, cards, holds
from tender.db.migrate import upgrade
from tender.domain.codes import Hasher
from tender.domain.errors import HoldNotActive, InsufficientFunds, RefundExceedsCapture
from tender.domain.ledger import Hold
from tender.domain.money import Money
from tender.services.ledger import Ledger
from tests.conftest import TEST_KEY, create_pg_database, drop_pg_database
from tests.helpers import issue_card

pytestmark = pytest.mark.usefixtures("racing_alone")  # many connections each: one at a time

T = TypeVar("T")
BALANCE = 10_000
PROCESSES = 4
TASKS_PER_PROCESS = 50
REQUESTS = PROCESSES * TASKS_PER_PROCESS
POOL_SIZE = 5
"""Per process (plus as many overflow connections): 4 racing processes stay far below
PostgreSQL's default of 100 connections even with another xdist worker running."""
SHORT_TTL = timedelta(seconds=1)
"""The shortest lifetime a reservation may have: phase 2's short holds."""
SWEEPERS = 3
BARRIER_TIMEOUT = 60.0

Sync = Callable[[str], Awaitable[None]]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a private loop: never replace the thread's loop that pytest-asyncio may own."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@dataclass
class Plan:
    """What one racing process asks for; drawn by the parent from a fixed seed."""

    amounts: list[int]
    """Phase 1 reserves, 100-200 minor units each."""
    second_amounts: list[int]
    """Phase 2 short-lived reserves, 20-80 each."""
    seed: int
    name: str
    """Prefix of this process's payment references."""

    def reference(self, index: int) -> str:
        return f"{self.name}-{index}"


@dataclass
class Report:
    """What one racing process saw; sent back to the parent."""

    won: list[tuple[str, int]] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    """Hold id -> the payment reference it was reserved under."""
    lost: list[int] = field(default_factory=list)
    captured: dict[str, int] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    untouched: list[tuple[str, int]] = field(default_factory=list)
    contested: dict[str, str] = field(default_factory=dict)
    """Hold id -> which of a simultaneous capture and release of it won."""
    short_won: list[tuple[str, int]] = field(default_factory=list)
    short_lost: int = 0
    swept: int = 0
    refunded: dict[str, int] = field(default_factory=dict)
    """Payment reference -> money refunded under it."""
    refunds_refused: int = 0
    min_available_seen: int | None = None
    reads: int = 0
    error: str | None = None


@dataclass(frozen=True)
class HoldRow:
    id: str
    amount: int
    status: str
    captured_amount: int


@dataclass(frozen=True)
class ActivityRow:
    type: str
    amount: int
    hold_id: str | None
    reference: str | None
    posted_after: int
    held_after: int


@dataclass(frozen=True)
class Snapshot:
    posted: int
    held: int
    holds: dict[str, HoldRow]
    activities: list[ActivityRow]
    problems: list[str]

    @property
    def available(self) -> int:
        return self.posted - self.held


def _plans(processes: int, tasks: int) -> list[Plan]:
    rng = random.Random(20261125)
    return [
        Plan(
            amounts=[rng.randint(100, 200) for _ in range(tasks)],
            second_amounts=[rng.randint(20, 80) for _ in range(tasks)],
            seed=rng.randrange(2**32),
            name=f"p{index}",
        )
        for index in range(processes)
    ]


# --- one racing process --------------------------------------------------------------------


async def _try_reserve(
    database: Database,
    ledger: Ledger,
    card_id: str,
    amount: int,
    ttl: timedelta | None,
    reference: str | None = None,
) -> Hold | None:
    try:
        return await database.transaction(
            lambda c: ledger.reserve(
                SqlLedgerStore(c),
                card_id=card_id,
                amount=Money(amount, "EUR"),
                expires_in=ttl,
                reference=reference,
            )
        )
    except InsufficientFunds:
        return None


async def _try_finish(work: Awaitable[Hold]) -> bool:
    """True if this capture or release ended the hold, False if something else ended it first."""
    try:
        await work
    except HoldNotActive:
        return False
    return True


async def _watch(
    database: Database, ledger: Ledger, card_id: str, stop: asyncio.Event, report: Report
) -> None:
    """Read the card over and over while the race runs; no read may see a negative balance."""
    while not stop.is_set():
        card = await database.read(lambda c: ledger.get(SqlLedgerStore(c), card_id=card_id))
        seen = report.min_available_seen
        report.min_available_seen = card.available if seen is None else min(seen, card.available)
        report.reads += 1
        await asyncio.sleep(0.005)


async def _second_phase(
    database: Database, ledger: Ledger, card_id: str, plan: Plan, report: Report
) -> None:
    """Finish the holds this process won in four ways, racing new short reserves for the money
    that frees; one in five holds gets a capture and a release at the same moment."""

    def tx(work: Callable[[SqlLedgerStore], Awaitable[Hold]]) -> Awaitable[Hold]:
        return database.transaction(lambda c: work(SqlLedgerStore(c)))

    async def contest(hold_id: str, amount: int, release_first: bool) -> None:
        capturing = _try_finish(tx(lambda s: ledger.capture(s, hold_id=hold_id)))
        releasing = _try_finish(tx(lambda s: ledger.release(s, hold_id=hold_id)))
        if release_first:
            released, captured = await asyncio.gather(releasing, capturing)
        else:
            captured, released = await asyncio.gather(capturing, releasing)
        assert captured != released, f"hold {hold_id}: captured {captured}, released {released}"
        report.contested[hold_id] = "capture" if captured else "release"
        if captured:
            report.captured[hold_id] = amount
        else:
            report.released.append(hold_id)

    async def capture(hold_id: str, take: int | None, amount: int) -> None:
        money = None if take is None else Money(take, "EUR")
        hold = await tx(lambda s: ledger.capture(s, hold_id=hold_id, amount=money))
        assert hold.captured_amount == (amount if take is None else take)
        report.captured[hold_id] = hold.captured_amount

    async def release(hold_id: str) -> None:
        await tx(lambda s: ledger.release(s, hold_id=hold_id))
        report.released.append(hold_id)

    async def short_reserve(amount: int) -> None:
        hold = await _try_reserve(database, ledger, card_id, amount, SHORT_TTL)
        if hold is None:
            report.short_lost += 1
        else:
            report.short_won.append((hold.id, amount))

    work: list[Awaitable[None]] = []
    for index, (hold_id, amount) in enumerate(report.won):
        match index % 5:
            case 0:
                work.append(contest(hold_id, amount, release_first=index % 2 == 1))
            case 1:
                work.append(capture(hold_id, None, amount))
            case 2:
                work.append(capture(hold_id, amount // 3, amount))
            case 3:
                work.append(release(hold_id))
            case _:
                report.untouched.append((hold_id, amount))
    work += [short_reserve(amount) for amount in plan.second_amounts]
    random.Random(plan.seed).shuffle(work)
    await asyncio.gather(*work)


def refund_share(captured: int) -> int:
    """40 % of a capture, rounded up: two such refunds fit in it, three never do."""
    return -(-captured * 2 // 5)


async def _refund_race(database: Database, ledger: Ledger, card_id: str, report: Report) -> None:
    """Three tasks at once try to refund 40 % of each capture this process made."""

    async def refund(reference: str, amount: int) -> bool:
        try:
            await database.transaction(
                lambda c: ledger.refund(
                    SqlLedgerStore(c),
                    card_id=card_id,
                    amount=Money(amount, "EUR"),
                    reference=reference,
                )
            )
        except RefundExceedsCapture:
            return False
        return True

    captures = [(report.references[i], refund_share(c)) for i, c in report.captured.items()]
    outcomes = await asyncio.gather(*(refund(r, a) for r, a in captures for _ in range(3)))
    for index, (reference, amount) in enumerate(captures):
        succeeded = sum(outcomes[3 * index : 3 * index + 3])
        assert succeeded == 2, f"{reference}: {succeeded} of 3 refunds of {amount} went through"
        report.refunded[reference] = succeeded * amount
        report.refunds_refused += 3 - succeeded


class _ClockAhead:
    """The system clock, ``ahead`` in the future: a sweeper for which every short hold of
    phase 2 has expired, without the test sleeping until they have."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


async def _sweep_until_done(database: Database, sweeper: Ledger) -> int:
    total = 0
    while swept := await database.transaction(
        lambda c: sweeper.sweep_expired_holds(SqlLedgerStore(c), limit=7)
    ):
        total += swept
    return total


async def _scenario(url: str, card_id: str, plan: Plan, sync: Sync) -> Report:
    database = Database(url, pool_size=POOL_SIZE)
    ledger = Ledger(Hasher(TEST_KEY))
    report = Report()
    stop = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    try:
        # Open the pool's connections before the start signal, so the race starts at once.
        await asyncio.gather(
            *(database.read(lambda c: c.execute(text("SELECT 1"))) for _ in range(POOL_SIZE))
        )
        watcher = asyncio.create_task(_watch(database, ledger, card_id, stop, report))
        await sync("ready")

        won = await asyncio.gather(
            *(
                _try_reserve(database, ledger, card_id, a, None, plan.reference(i))
                for i, a in enumerate(plan.amounts)
            )
        )
        for amount, hold in zip(plan.amounts, won, strict=True):
            if hold is None:
                report.lost.append(amount)
            else:
                report.won.append((hold.id, amount))
                report.references[hold.id] = str(hold.reference)
        await sync("reserved")
        await sync("resume")

        await _second_phase(database, ledger, card_id, plan, report)
        await sync("settled")
        await sync("resume")

        # Every short hold was made before "settled", so a sweeper running a little more than
        # their lifetime ahead finds them all expired (and none of phase 1's 7-day holds).
        sweeper = Ledger(Hasher(TEST_KEY), clock=_ClockAhead(SHORT_TTL + timedelta(seconds=1)))
        sweeps = asyncio.gather(*(_sweep_until_done(database, sweeper) for _ in range(SWEEPERS)))
        await _refund_race(database, ledger, card_id, report)
        report.swept = sum(await sweeps)
        stop.set()
        await watcher
    finally:
        if watcher is not None and not watcher.done():
            watcher.cancel()
        await database.dispose()
    return report


def _process_main(
    url: str,
    card_id: str,
    plan: Plan,
    barrier: threading.Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    async def sync(label: str) -> None:
        await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)

    try:
        report = asyncio.run(_scenario(url, card_id, plan, sync))
    except BaseException:
        barrier.abort()
        report = Report(error=traceback.format_exc())
    results.put(report)


# --- the parent: set up, check between phases, check at the end ----------------------------


async def _prepare(url: str) -> str:
    database = Database(url)
    try:
        await upgrade(database.engine)
        ledger = Ledger(Hasher(TEST_KEY))
        issued = await issue_card(database, ledger, minor=BALANCE)
    finally:
        await database.dispose()
    return issued.card.id


async def _snapshot(url: str, card_id: str) -> Snapshot:
    async def read(conn: AsyncConnection) -> Snapshot:
        card = (
            await conn.execute(select(cards.c.posted, cards.c.held).where(cards.c.id == card_id))
        ).one()
        hold_rows = await conn.execute(
            select(holds.c.id, holds.c.amount, holds.c.status, holds.c.captured_amount).where(
                holds.c.card_id == card_id
            )
        )
        activity_rows = await conn.execute(
            select(
                activities.c.type,
                activities.c.amount,
                activities.c.hold_id,
                activities.c.reference,
                activities.c.posted_after,
                activities.c.held_after,
            )
            .where(activities.c.card_id == card_id)
            .order_by(activities.c.id)
        )
        return Snapshot(
            posted=card.posted,
            held=card.held,
            holds={row.id: HoldRow(*row) for row in hold_rows},
            activities=[ActivityRow(*row) for row in activity_rows],
            problems=await SqlLedgerStore(conn).audit(),
        )

    database = Database(url)
    try:
        return await database.read(read)
    finally:
        await database.dispose()


def _check_books(snap: Snapshot) -> None:
    assert snap.problems == []
    assert snap.held == sum(h.amount for h in snap.holds.values() if h.status == "active")
    assert snap.available >= 0
    negative = [a for a in snap.activities if a.posted_after - a.held_after < 0]
    assert negative == []


def _check_reserved(snap: Snapshot) -> None:
    """After phase 1: only holds, and they took effect one after another."""
    _check_books(snap)
    assert snap.posted == BALANCE
    assert all(h.status == "active" for h in snap.holds.values())
    assert sum(h.amount for h in snap.holds.values()) == snap.held <= BALANCE
    hold_activities = sorted(
        (a for a in snap.activities if a.type == "hold"), key=lambda a: a.held_after
    )
    assert len(hold_activities) == len(snap.holds)
    # Each winner saw exactly the holds committed before it: the running totals its activity
    # recorded form one chain from 0 to the final ``held``.
    before = 0
    for activity in hold_activities:
        assert activity.hold_id in snap.holds
        assert activity.amount == snap.holds[activity.hold_id].amount
        assert activity.posted_after == BALANCE
        assert activity.held_after == before + activity.amount
        before = activity.held_after
    assert before == snap.held


def _check_all(
    reports: list[Report], reserved: Snapshot, settled: Snapshot, final: Snapshot
) -> None:
    errors = [r.error for r in reports if r.error]
    assert errors == [], "\n".join(errors)

    # Phase 1: what the processes were told matches the books.
    won = dict(w for r in reports for w in r.won)
    lost = [amount for r in reports for amount in r.lost]
    assert len(won) + len(lost) == REQUESTS
    assert sum(won.values()) <= BALANCE
    assert {i: h.amount for i, h in reserved.holds.items()} == won
    # Demand was about three times the balance. The available balance only fell during phase 1,
    # so every loser lost because less than its amount was left: not by a spurious error.
    assert lost
    assert reserved.available < min(lost)

    _check_reserved(reserved)
    # Phase 2 left the books balanced before the sweep, too.
    _check_books(settled)

    # The end: every hold ended exactly once, the way its process said.
    _check_books(final)
    short = dict(s for r in reports for s in r.short_won)
    assert len(final.holds) == len(won) + len(short)
    captured = {i: a for r in reports for i, a in r.captured.items()}
    released = {i for r in reports for i in r.released}
    untouched = dict(u for r in reports for u in r.untouched)
    assert set(captured) | released | set(untouched) == set(won)
    assert len(captured) + len(released) + len(untouched) == len(won)
    for hold_id, hold in final.holds.items():
        if hold_id in captured:
            assert (hold.status, hold.captured_amount) == ("captured", captured[hold_id])
        elif hold_id in released:
            assert (hold.status, hold.captured_amount) == ("released", 0)
        elif hold_id in untouched:
            assert hold.status == "active"
        else:
            assert hold_id in short
            assert hold.status == "expired"
    assert sum(r.swept for r in reports) == len(short)
    refunded = {ref: total for r in reports for ref, total in r.refunded.items()}
    assert final.posted == BALANCE - sum(captured.values()) + sum(refunded.values())
    assert final.held == sum(untouched.values())

    # One activity per step of each hold's life: no double capture, release or expiry.
    steps = Counter((a.hold_id, a.type) for a in final.activities if a.hold_id)
    expected: Counter[tuple[str | None, str]] = Counter()
    for hold_id in won:
        expected[hold_id, "hold"] += 1
        if hold_id in captured:
            expected[hold_id, "capture"] += 1
            if captured[hold_id] < won[hold_id]:
                expected[hold_id, "release"] += 1
        elif hold_id in released:
            expected[hold_id, "release"] += 1
    for hold_id in short:
        expected[hold_id, "hold"] += 1
        expected[hold_id, "expire"] += 1
    assert steps == expected

    # Two of every three racing refunds went through, and never more than was captured.
    references = {i: ref for r in reports for i, ref in r.references.items()}
    refunds: dict[str | None, list[int]] = {}
    for activity in final.activities:
        if activity.type == "refund":
            refunds.setdefault(activity.reference, []).append(activity.amount)
    expected_refunds = {references[i]: [refund_share(c)] * 2 for i, c in captured.items()}
    assert refunds == expected_refunds
    assert all(sum(refunds[references[i]]) <= c for i, c in captured.items())

    # The watchers read the card throughout and never saw money that was not there.
    seen = [r.min_available_seen for r in reports if r.min_available_seen is not None]
    assert seen
    assert min(seen) >= 0


def _race_from_processes(url: str) -> list[Report]:
    card_id = _run(_prepare(url))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES + 1)
    results: multiprocessing.Queue[Report] = context.Queue()
    workers = [
        context.Process(target=_process_main, args=(url, card_id, plan, barrier, results))
        for plan in _plans(PROCESSES, TASKS_PER_PROCESS)
    ]
    for worker in workers:
        worker.start()
    reports: list[Report] = []
    try:
        try:
            barrier.wait(BARRIER_TIMEOUT)  # ready
            barrier.wait(BARRIER_TIMEOUT)  # reserved
            reserved = _checked(_run(_snapshot(url, card_id)), _check_reserved, barrier)
            barrier.wait(BARRIER_TIMEOUT)  # resume
            barrier.wait(BARRIER_TIMEOUT)  # settled
            settled = _checked(_run(_snapshot(url, card_id)), _check_books, barrier)
            barrier.wait(BARRIER_TIMEOUT)  # resume
        except threading.BrokenBarrierError:
            failed = _drain(results)
            pytest.fail("a racing process failed:\n" + "\n".join(str(r.error) for r in failed))
        reports = [results.get(timeout=BARRIER_TIMEOUT) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=BARRIER_TIMEOUT)
            if worker.is_alive():
                worker.kill()
                worker.join()
        results.close()
        results.join_thread()
    _check_all(reports, reserved, settled, _run(_snapshot(url, card_id)))
    return reports


def _checked(snap: Snapshot, check: Callable[[Snapshot], None], barrier: Any) -> Snapshot:
    """Check the books between phases; on failure stop the racing processes at once."""
    try:
        check(snap)
    except AssertionError:
        barrier.abort()
        raise
    return snap


def _drain(results: multiprocessing.Queue[Report]) -> list[Report]:
    drained: list[Report] = []
    while True:
        try:
            drained.append(results.get(timeout=5))
        except queue.Empty:
            return drained


def _race_from_tasks(url: str) -> list[Report]:
    """The same race from 200 tasks sharing one process's pool (and, on SQLite, its lock)."""
    card_id = _run(_prepare(url))
    snaps: dict[str, Snapshot] = {}

    async def sync(label: str) -> None:
        if label == "reserved":
            snaps[label] = await _snapshot(url, card_id)
            _check_reserved(snaps[label])
        elif label == "settled":
            snaps[label] = await _snapshot(url, card_id)
            _check_books(snaps[label])

    (plan,) = _plans(1, REQUESTS)
    report = _run(_scenario(url, card_id, plan, sync))
    _check_all([report], snaps["reserved"], snaps["settled"], _run(_snapshot(url, card_id)))
    return [report]


def _record(request: pytest.FixtureRequest, reports: list[Report]) -> None:
    won = sum(len(r.won) for r in reports)
    short = sum(len(r.short_won) for r in reports)
    request.node.user_properties.append(("reserves_won", f"{won}/{REQUESTS}, then {short}"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = _run(create_pg_database())
    yield url
    _run(drop_pg_database(url))


def test_reserves_from_four_processes_on_postgresql(
    pg_url: str, request: pytest.FixtureRequest
) -> None:
    _record(request, _race_from_processes(pg_url))


def test_reserves_from_four_processes_on_sqlite(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _record(request, _race_from_processes(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"))


def test_reserves_from_200_tasks_on_sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _record(request, _race_from_tasks(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}"))


def test_reserves_from_200_tasks_on_postgresql(pg_url: str, request: pytest.FixtureRequest) -> None:
    _record(request, _race_from_tasks(pg_url))
