"""The ledger against a plain Python model, driven by hypothesis through random sequences.

A ``RuleBasedStateMachine`` issues cards (EUR and JPY, small and near the balance limit, some
expiring), loads, reserves, captures in full and in part, releases, refunds, adjusts, disables
and enables them, lets time pass and sweeps expired holds. Before each call the model predicts
the outcome: success, or exactly which error (``InsufficientFunds``, ``HoldNotActive``,
``RefundExceedsCapture``, ``CurrencyMismatch``, ...). After every step the database must agree
with the model: each card's posted and held money and status, each hold's status and captured
amount, one activity per change (a refused call wrote nothing), an activity log ending at the
card's balance, no available balance ever below zero, and an ``audit()`` that finds nothing.

The machine is synchronous, so it owns a private event loop and its own database: a fresh
SQLite file, and in the second class a fresh PostgreSQL database made once for this module.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, activities, cards, entries, holds
from tender.db.migrate import upgrade
from tender.domain.codes import Hasher
from tender.domain.errors import (
    BalanceLimitExceeded,
    CardDisabled,
    CardExpired,
    CardStatusUnchanged,
    CurrencyMismatch,
    DomainError,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    RefundExceedsCapture,
)
from tender.domain.ids import new_id
from tender.domain.ledger import CardStatus
from tender.domain.money import MAX_MINOR, Money
from tender.services.ledger import ADJUST, LOAD, Ledger
from tests.conftest import TEST_KEY, FakeClock, create_pg_database, drop_pg_database

T = TypeVar("T")
OTHER_CURRENCY = {"EUR": "JPY", "JPY": "EUR"}
REFERENCES = ("order-1", "order-2", "order-3")
MACHINE_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Expected = type[DomainError] | None
ZERO = timedelta(0)

amounts = st.integers(min_value=1, max_value=5_000)
balances = st.one_of(
    st.integers(min_value=1_000, max_value=20_000),
    st.just(0),
    st.integers(min_value=MAX_MINOR - 10_000, max_value=MAX_MINOR),
)
"""Ordinary cards, empty ones, and cards so close to the limit that loads and refunds may not
fit."""
wrong_currency = st.sampled_from([False] * 7 + [True])


def _run(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# --- the model ------------------------------------------------------------------------------


@dataclass
class ModelCard:
    currency: str
    posted: int
    expires_at: datetime | None
    status: str = "active"
    activities: int = 1
    captured: Counter[str] = field(default_factory=Counter)
    refunded: Counter[str] = field(default_factory=Counter)


@dataclass
class ModelHold:
    card_id: str
    amount: int
    reference: str
    expires_at: datetime
    status: str = "active"
    captured: int = 0


class Model:
    def __init__(self) -> None:
        self.cards: dict[str, ModelCard] = {}
        self.holds: dict[str, ModelHold] = {}

    def held(self, card_id: str) -> int:
        return sum(
            h.amount for h in self.holds.values() if h.card_id == card_id and h.status == "active"
        )

    def available(self, card_id: str) -> int:
        return self.cards[card_id].posted - self.held(card_id)

    def unspendable(self, card_id: str, now: datetime) -> Expected:
        """``check_spendable``: a disabled card first, then an expired one."""
        card = self.cards[card_id]
        if card.status != "active":
            return CardDisabled
        if card.expires_at is not None and card.expires_at <= now:
            return CardExpired
        return None


# --- the database side ----------------------------------------------------------------------


class Backend:
    """A private event loop and a database, for a machine that runs synchronously."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.db = Database(url, pool_size=2)
        self.run(upgrade(self.db.engine))

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    async def clean(self) -> None:
        """Empty the ledger's tables, the only ones it writes. (``conftest.clean`` truncates
        every table: 160 ms per example on PostgreSQL, against 1 ms for these deletes.)"""
        async with self.db.engine.begin() as conn:
            for table in (activities, entries, holds, cards):
                await conn.execute(delete(table))

    def close(self) -> None:
        try:
            self.run(self.db.dispose())
        finally:
            self.loop.close()


@dataclass(frozen=True)
class Books:
    cards: dict[str, tuple[str, int, int, str]]
    """id -> (currency, posted, held, status)"""
    holds: dict[str, tuple[str, int, str, int]]
    """id -> (card id, amount, status, captured amount)"""
    activity_counts: dict[str, int]
    last_activity: dict[str, tuple[int, int]]
    """card id -> (posted_after, held_after) of its latest activity"""
    negative_activities: int
    problems: list[str]


async def _read_books(conn: AsyncConnection) -> Books:
    card_rows = await conn.execute(
        select(cards.c.id, cards.c.currency, cards.c.posted, cards.c.held, cards.c.status)
    )
    hold_rows = await conn.execute(
        select(holds.c.id, holds.c.card_id, holds.c.amount, holds.c.status, holds.c.captured_amount)
    )
    counts = await conn.execute(
        select(activities.c.card_id, func.count(), func.max(activities.c.id)).group_by(
            activities.c.card_id
        )
    )
    count_rows = list(counts)
    last_rows = await conn.execute(
        select(activities.c.card_id, activities.c.posted_after, activities.c.held_after).where(
            activities.c.id.in_([row[2] for row in count_rows])
        )
    )
    negative = await conn.execute(
        select(func.count()).where(activities.c.posted_after < activities.c.held_after)
    )
    return Books(
        cards={row[0]: (row[1], row[2], row[3], row[4]) for row in card_rows},
        holds={row[0]: (row[1], row[2], row[3], row[4]) for row in hold_rows},
        activity_counts={row[0]: row[1] for row in count_rows},
        last_activity={row[0]: (row[1], row[2]) for row in last_rows},
        negative_activities=negative.scalar_one(),
        problems=await SqlLedgerStore(conn).audit(),
    )


# --- the machine ----------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    card_ids = Bundle("card_ids")
    hold_ids = Bundle("hold_ids")

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        backend.run(backend.clean())
        self.clock = FakeClock()
        self.ledger = Ledger(Hasher(TEST_KEY), clock=self.clock)
        self.model = Model()

    # helpers

    def tx(self, work: Callable[[SqlLedgerStore], Awaitable[T]]) -> T:
        return self.backend.run(self.backend.db.transaction(lambda c: work(SqlLedgerStore(c))))

    def attempt(self, work: Callable[[SqlLedgerStore], Awaitable[T]], expected: Expected) -> T:
        """Run ``work``: it must succeed if the model expects no error, else fail with exactly
        the error the model predicts."""
        if expected is None:
            return self.tx(work)
        with pytest.raises(DomainError) as caught:
            self.tx(work)
        assert type(caught.value) is expected, (
            f"expected {expected.__name__}, got {type(caught.value).__name__}: {caught.value}"
        )
        raise _Refused

    def currency_for(self, card_id: str, wrong: bool) -> str:
        currency = self.model.cards[card_id].currency
        return OTHER_CURRENCY[currency] if wrong else currency

    # issuing and loading

    @initialize(target=hold_ids)
    def unknown_hold(self) -> str:
        """An id no hold has: capturing or releasing it must answer ``HoldNotFound``."""
        return new_id()

    @initialize(
        target=card_ids,
        minor=balances,
        currency=st.sampled_from(["EUR", "JPY"]),
        spent=st.booleans(),
        data=st.data(),
    )
    def first_card(self, minor: int, currency: str, spent: bool, data: st.DataObject) -> Any:
        """A card to start with; often with a purchase on it already (a hold, captured in
        part), so that short examples reach captures and refunds too."""
        issued = self.issue(minor, currency, 1, None)
        if spent and minor > 0:
            (card_id,) = issued.values
            hold = self.reserve(
                card_id, min(minor, 2_000), "drawn", False, timedelta(hours=2), "order-1", data
            )
            self.capture(hold.values[0], "part", False, data)
        return issued

    @precondition(lambda self: len(self.model.cards) < 5)
    @rule(
        target=card_ids,
        minor=balances,
        currency=st.sampled_from(["EUR", "JPY"]),
        count=st.sampled_from([1, 1, 1, 3]),
        lifetime=st.sampled_from([None, None, timedelta(hours=1), timedelta(days=1)]),
    )
    def issue(self, minor: int, currency: str, count: int, lifetime: timedelta | None) -> Any:
        expires_at = None if lifetime is None else self.clock.now() + lifetime
        issued = self.tx(
            lambda s: self.ledger.issue(
                s, amount=Money(minor, currency), count=count, expires_at=expires_at
            )
        )
        assert len(issued) == count
        for card in issued:
            assert (card.card.posted, card.card.held) == (minor, 0)
            self.model.cards[card.card.id] = ModelCard(currency, minor, expires_at)
        return multiple(*(card.card.id for card in issued))

    @rule(card_id=card_ids, minor=amounts, wrong=wrong_currency)
    def load(self, card_id: str, minor: int, wrong: bool) -> None:
        card = self.model.cards[card_id]
        currency = self.currency_for(card_id, wrong)
        expected = self.model.unspendable(card_id, self.clock.now())
        if expected is None and wrong:
            expected = CurrencyMismatch
        if expected is None and card.posted + minor > MAX_MINOR:
            expected = BalanceLimitExceeded
        try:
            loaded = self.attempt(
                lambda s: self.ledger.post(s, LOAD, card_id=card_id, amount=Money(minor, currency)),
                expected,
            )
        except _Refused:
            return
        card.posted += minor
        card.activities += 1
        assert loaded.posted == card.posted

    # holds

    @rule(
        target=hold_ids,
        card_id=card_ids,
        minor=amounts,
        how=st.sampled_from(["drawn"] * 3 + ["available", "beyond"]),
        wrong=wrong_currency,
        lifetime=st.sampled_from(
            [timedelta(minutes=30), timedelta(hours=2), timedelta(hours=2), timedelta(days=2), ZERO]
        ),
        reference=st.sampled_from(REFERENCES),
        data=st.data(),
    )
    def reserve(
        self,
        card_id: str,
        minor: int,
        how: str,
        wrong: bool,
        lifetime: timedelta,
        reference: str,
        data: st.DataObject,
    ) -> Any:
        model, now = self.model, self.clock.now()
        # Mostly a card with money to spend (so that holds pile up), else the drawn one.
        spendable = sorted(
            i for i in model.cards if model.unspendable(i, now) is None and model.available(i) > 0
        )
        if spendable and data.draw(st.sampled_from([True, True, False])):
            card_id = data.draw(st.sampled_from(spendable))
        available = model.available(card_id)
        if how == "available" and available > 0:
            minor = available
        elif how == "beyond":
            minor = available + 1
        currency = self.currency_for(card_id, wrong)
        expected: Expected = None
        if minor > MAX_MINOR:
            expected = InvalidAmount
        elif lifetime < timedelta(seconds=1):
            expected = InvalidInput
        elif wrong:
            expected = CurrencyMismatch
        else:
            expected = model.unspendable(card_id, now)
            if expected is None and available < minor:
                expected = InsufficientFunds
        try:
            hold = self.attempt(
                lambda s: self.ledger.reserve(
                    s,
                    card_id=card_id,
                    amount=Money(minor, currency),
                    reference=reference,
                    expires_in=lifetime,
                ),
                expected,
            )
        except _Refused:
            return multiple()
        assert (hold.amount, hold.expires_at) == (minor, now + lifetime)
        model.holds[hold.id] = ModelHold(card_id, minor, reference, now + lifetime)
        model.cards[card_id].activities += 1
        return multiple(hold.id)

    def _not_capturable(self, hold: ModelHold) -> Expected:
        if hold.status != "active" or hold.expires_at <= self.clock.now():
            return HoldNotActive
        return None

    def pick_hold(self, hold_id: str, data: st.DataObject) -> str:
        """Mostly a hold that is still active (so that money moves), else the drawn one: any
        hold the machine made, in whatever state, or the unknown one."""
        active = sorted(i for i, h in self.model.holds.items() if h.status == "active")
        if active and data.draw(st.sampled_from([True, True, False])):
            return data.draw(st.sampled_from(active))
        return hold_id

    @precondition(lambda self: self.model.holds)
    @rule(
        hold_id=hold_ids,
        how=st.sampled_from(["all", "all", "exact", "part", "one", "over"]),
        wrong=wrong_currency,
        data=st.data(),
    )
    def capture(self, hold_id: str, how: str, wrong: bool, data: st.DataObject) -> None:
        hold_id = self.pick_hold(hold_id, data)
        hold = self.model.holds.get(hold_id)
        if hold is None:
            with pytest.raises(HoldNotFound):
                self.tx(lambda s: self.ledger.capture(s, hold_id=hold_id))
            return
        card = self.model.cards[hold.card_id]
        take = {
            "all": hold.amount,
            "exact": hold.amount,
            "part": max(1, hold.amount // 2),
            "one": 1,
            "over": hold.amount + 1,
        }[how]
        amount = None if how == "all" else Money(take, self.currency_for(hold.card_id, wrong))
        expected: Expected = None
        if amount is not None and take > MAX_MINOR:
            expected = InvalidAmount
        else:
            expected = self._not_capturable(hold)
            # an amount in another currency is not compared with the hold's at all
            if expected is None and amount is not None and wrong:
                expected = CurrencyMismatch
            if expected is None and take > hold.amount:
                expected = InvalidAmount
        try:
            captured = self.attempt(
                lambda s: self.ledger.capture(s, hold_id=hold_id, amount=amount), expected
            )
        except _Refused:
            return
        assert (captured.status.value, captured.captured_amount) == ("captured", take)
        hold.status, hold.captured = "captured", take
        card.posted -= take
        card.captured[hold.reference] += take
        card.activities += 1 if take == hold.amount else 2

    @precondition(lambda self: self.model.holds)
    @rule(hold_id=hold_ids, data=st.data())
    def release(self, hold_id: str, data: st.DataObject) -> None:
        hold_id = self.pick_hold(hold_id, data)
        hold = self.model.holds.get(hold_id)
        if hold is None:
            with pytest.raises(HoldNotFound):
                self.tx(lambda s: self.ledger.release(s, hold_id=hold_id))
            return
        # Unlike capture, a release still works on an overdue hold the sweep has not reached.
        expected = None if hold.status == "active" else HoldNotActive
        try:
            self.attempt(lambda s: self.ledger.release(s, hold_id=hold_id), expected)
        except _Refused:
            return
        hold.status = "released"
        self.model.cards[hold.card_id].activities += 1

    @rule(
        minutes=st.sampled_from([1, 5, 31, 61, 24 * 60 + 1]),
        then_sweep=st.sampled_from([True, True, False]),
        limit=st.integers(1, 4),
    )
    def time_passes(self, minutes: int, then_sweep: bool, limit: int) -> None:
        """Time passes; usually the sweep runs then, else overdue holds stay active a while
        (a capture must refuse them, a release may still end them)."""
        self.clock.advance(minutes=minutes)
        if then_sweep:
            self.sweep(limit)

    def sweep(self, limit: int) -> None:
        now = self.clock.now()
        overdue = {
            hold_id
            for hold_id, hold in self.model.holds.items()
            if hold.status == "active" and hold.expires_at <= now
        }
        swept = self.tx(lambda s: self.ledger.sweep_expired_holds(s, limit=limit))
        assert swept == min(limit, len(overdue))
        # Which overdue holds a limited sweep takes first is the store's choice: read it.
        books = self.backend.run(self.backend.db.read(_read_books))
        expired = {i for i in overdue if books.holds[i][2] == "expired"}
        assert len(expired) == swept
        for hold_id in expired:
            hold = self.model.holds[hold_id]
            hold.status = "expired"
            self.model.cards[hold.card_id].activities += 1

    # posted money

    @precondition(lambda self: any(c.captured for c in self.model.cards.values()))
    @rule(
        card_id=card_ids,
        how=st.sampled_from(["left", "half", "one", "over"]),
        wrong=wrong_currency,
        data=st.data(),
    )
    def refund(self, card_id: str, how: str, wrong: bool, data: st.DataObject) -> None:
        # Mostly a card and reference money was captured under; else the drawn card and any
        # reference, which may have nothing to give back.
        spent = sorted((i, r) for i, c in self.model.cards.items() for r in c.captured)
        if data.draw(st.sampled_from([True, True, False])):
            card_id, reference = data.draw(st.sampled_from(spent))
        else:
            reference = data.draw(st.sampled_from(REFERENCES))
        card = self.model.cards[card_id]
        left = card.captured[reference] - card.refunded[reference]
        minor = max(1, {"left": left, "half": left // 2, "one": 1, "over": left + 1}[how])
        currency = self.currency_for(card_id, wrong)
        expected: Expected = None
        if wrong:
            expected = CurrencyMismatch
        elif card.posted + minor > MAX_MINOR:
            expected = BalanceLimitExceeded
        elif minor > left:
            expected = RefundExceedsCapture
        try:
            self.attempt(
                lambda s: self.ledger.refund(
                    s, card_id=card_id, amount=Money(minor, currency), reference=reference
                ),
                expected,
            )
        except _Refused:
            return
        card.posted += minor
        card.refunded[reference] += minor
        card.activities += 1

    @rule(
        card_id=card_ids,
        minor=amounts,
        how=st.sampled_from(["up", "down", "drain", "beyond"]),
        wrong=wrong_currency,
    )
    def adjust(self, card_id: str, minor: int, how: str, wrong: bool) -> None:
        card = self.model.cards[card_id]
        available = self.model.available(card_id)
        delta = {
            "up": minor,
            "down": -minor,
            "drain": -available or -minor,
            "beyond": -(available + 1),
        }[how]
        currency = self.currency_for(card_id, wrong)
        expected: Expected = None
        if abs(delta) > MAX_MINOR:
            expected = InvalidAmount
        elif wrong:
            expected = CurrencyMismatch
        elif card.posted + delta > MAX_MINOR:
            expected = BalanceLimitExceeded
        elif card.posted + delta < self.model.held(card_id):
            expected = InsufficientFunds
        try:
            adjusted = self.attempt(
                lambda s: self.ledger.post(
                    s, ADJUST, card_id=card_id, amount=Money(delta, currency)
                ),
                expected,
            )
        except _Refused:
            return
        card.posted += delta
        card.activities += 1
        assert adjusted.posted == card.posted

    @rule(card_id=card_ids, enable=st.booleans())
    def set_status(self, card_id: str, enable: bool) -> None:
        card = self.model.cards[card_id]
        target = "active" if enable else "disabled"
        expected = CardStatusUnchanged if card.status == target else None
        status = CardStatus.ACTIVE if enable else CardStatus.DISABLED
        try:
            self.attempt(
                lambda s: self.ledger.set_status(s, card_id=card_id, status=status), expected
            )
        except _Refused:
            return
        card.status = target
        card.activities += 1

    # after every step

    @invariant()
    def books_match_the_model(self) -> None:
        books = self.backend.run(self.backend.db.read(_read_books))
        model = self.model
        assert books.problems == []
        assert books.negative_activities == 0
        assert set(books.cards) == set(model.cards)
        for card_id, card in model.cards.items():
            held = model.held(card_id)
            assert books.cards[card_id] == (card.currency, card.posted, held, card.status)
            assert card.posted - held >= 0
            assert books.activity_counts[card_id] == card.activities
            assert books.last_activity[card_id] == (card.posted, held)
            for reference, refunded in card.refunded.items():
                assert refunded <= card.captured[reference]
        assert books.holds == {
            hold_id: (hold.card_id, hold.amount, hold.status, hold.captured)
            for hold_id, hold in model.holds.items()
        }


class _Refused(Exception):
    """Raised by ``LedgerMachine.attempt`` after a call failed as the model predicted."""


def _run_machine(url: str) -> None:
    backend = Backend(url)
    try:
        run_state_machine_as_test(lambda: LedgerMachine(backend), settings=MACHINE_SETTINGS)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def pg_machine_url() -> Iterator[str]:
    url = _run(create_pg_database())
    yield url
    _run(drop_pg_database(url))


class TestLedgerMachineOnSqlite:
    def test_ledger_matches_model(self, tmp_path: Path) -> None:
        _run_machine(f"sqlite+aiosqlite:///{tmp_path / 'machine.db'}")


class TestLedgerMachineOnPostgresql:
    def test_ledger_matches_model(self, pg_machine_url: str) -> None:
        _run_machine(pg_machine_url)
