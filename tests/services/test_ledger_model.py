"""A hypothesis state machine drives random issue/load/reserve/capture/release/refund/adjust/
expire sequences against the ledger on a real database and against a plain model, and checks
after every step that both agree and that the books balance."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import upgrade
from tender.domain.codes import Hasher
from tender.domain.errors import (
    DomainError,
    HoldNotActive,
    InsufficientFunds,
    RefundExceedsCapture,
)
from tender.domain.money import Money
from tender.services.ledger import Ledger
from tests.conftest import TEST_KEY, FakeClock, clean, create_pg_database, drop_pg_database

T = TypeVar("T")
amounts = st.integers(min_value=1, max_value=5_000)


@dataclass
class ModelCard:
    posted: int
    holds: dict[str, int] = field(default_factory=dict)
    captured: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)

    @property
    def held(self) -> int:
        return sum(self.holds.values())


class Backend:
    """One private event loop and database per test; hypothesis runs synchronously."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.db = Database(url, pool_size=2)
        self.run(upgrade(self.db.engine))

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()


class LedgerMachine(RuleBasedStateMachine):
    backend: Backend
    cards = Bundle("cards")
    active_holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self.backend.run(clean(self.backend.db))
        self.clock = FakeClock()
        self.ledger = Ledger(Hasher(TEST_KEY), clock=self.clock)
        self.model: dict[str, ModelCard] = {}
        self.hold_card: dict[str, str] = {}
        self.hold_expiry: dict[str, Any] = {}
        self.hold_reference: dict[str, str] = {}
        self.references = 0

    def tx(self, work: Callable[[SqlLedgerStore], Awaitable[T]]) -> T:
        return self.backend.run(self.backend.db.transaction(lambda c: work(SqlLedgerStore(c))))

    @initialize(target=cards, minor=st.integers(0, 20_000))
    def first_card(self, minor: int) -> str:
        return self.issue(minor)

    @rule(target=cards, minor=st.integers(0, 20_000))
    def issue(self, minor: int) -> str:
        issued = self.tx(lambda s: self.ledger.issue(s, amount=Money(minor, "EUR")))
        card_id = issued[0].card.id
        self.model[card_id] = ModelCard(posted=minor)
        return card_id

    @rule(card_id=cards, minor=amounts)
    def load(self, card_id: str, minor: int) -> None:
        self.tx(lambda s: self.ledger.load(s, card_id=card_id, amount=Money(minor, "EUR")))
        self.model[card_id].posted += minor

    @rule(target=active_holds, card_id=cards, minor=amounts)
    def reserve(self, card_id: str, minor: int) -> str:
        card = self.model[card_id]
        self.references += 1
        reference = f"payment-{self.references}"
        try:
            hold = self.tx(
                lambda s: self.ledger.reserve(
                    s,
                    card_id=card_id,
                    amount=Money(minor, "EUR"),
                    reference=reference,
                    expires_in=timedelta(minutes=30),
                )
            )
        except InsufficientFunds:
            assert card.posted - card.held < minor
            return "none"
        assert card.posted - card.held >= minor
        card.holds[hold.id] = minor
        self.hold_card[hold.id] = card_id
        self.hold_expiry[hold.id] = hold.expires_at
        self.hold_reference[hold.id] = reference
        return hold.id

    def _model_hold(self, hold_id: str) -> tuple[ModelCard, int] | None:
        card_id = self.hold_card.get(hold_id)
        if card_id is None or hold_id not in self.model[card_id].holds:
            return None
        return self.model[card_id], self.model[card_id].holds[hold_id]

    def _expect_inactive(self, action: Callable[[SqlLedgerStore], Awaitable[Any]]) -> None:
        with pytest.raises(DomainError) as caught:
            self.tx(action)
        assert isinstance(caught.value, HoldNotActive) or caught.value.code == "HoldNotFound"

    @rule(hold_id=consumes(active_holds), fraction=st.sampled_from([None, 1, 2, 3]))
    def capture(self, hold_id: str, fraction: int | None) -> None:
        found = self._model_hold(hold_id)
        if found is None or self.hold_expiry[hold_id] <= self.clock.now():
            if hold_id != "none":
                self._expect_inactive(lambda s: self.ledger.capture(s, hold_id=hold_id))
            return
        card, held = found
        take = held if fraction is None else max(1, held // fraction)
        amount = None if fraction is None else Money(take, "EUR")
        self.tx(lambda s: self.ledger.capture(s, hold_id=hold_id, amount=amount))
        ref_card = self.hold_card[hold_id]
        del card.holds[hold_id]
        card.posted -= take
        card.captured[self.hold_reference[hold_id]] = take
        assert self.model[ref_card] is card

    @rule(hold_id=consumes(active_holds))
    def release(self, hold_id: str) -> None:
        found = self._model_hold(hold_id)
        if found is None:
            if hold_id != "none":
                self._expect_inactive(lambda s: self.ledger.release(s, hold_id=hold_id))
            return
        self.tx(lambda s: self.ledger.release(s, hold_id=hold_id))
        del found[0].holds[hold_id]

    @rule(card_id=cards, minor=amounts, data=st.data())
    def refund(self, card_id: str, minor: int, data: st.DataObject) -> None:
        card = self.model[card_id]
        if not card.captured:
            return
        reference = data.draw(st.sampled_from(sorted(card.captured)))
        left = card.captured[reference] - card.refunded.get(reference, 0)
        action = self.ledger.refund
        if minor > left:
            with pytest.raises(RefundExceedsCapture):
                self.tx(
                    lambda s: action(
                        s, card_id=card_id, amount=Money(minor, "EUR"), reference=reference
                    )
                )
            return
        self.tx(
            lambda s: action(s, card_id=card_id, amount=Money(minor, "EUR"), reference=reference)
        )
        card.refunded[reference] = card.refunded.get(reference, 0) + minor
        card.posted += minor

    @rule(card_id=cards, minor=st.integers(-5_000, 5_000).filter(bool))
    def adjust(self, card_id: str, minor: int) -> None:
        card = self.model[card_id]
        if card.posted + minor < card.held:
            with pytest.raises(InsufficientFunds):
                self.tx(
                    lambda s: self.ledger.adjust(s, card_id=card_id, amount=Money(minor, "EUR"))
                )
            return
        self.tx(lambda s: self.ledger.adjust(s, card_id=card_id, amount=Money(minor, "EUR")))
        card.posted += minor

    @precondition(lambda self: any(c.holds for c in self.model.values()))
    @rule(minutes=st.sampled_from([10, 31, 60]))
    def time_passes_and_sweep(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        now = self.clock.now()
        expected = [h for h, at in self.hold_expiry.items() if at <= now and self._model_hold(h)]
        swept = self.tx(lambda s: self.ledger.sweep_expired_holds(s))
        assert swept == len(expected)
        for hold_id in expected:
            del self.model[self.hold_card[hold_id]].holds[hold_id]

    @invariant()
    def books_agree_with_the_model(self) -> None:
        async def read() -> tuple[list[Any], list[str]]:
            cards = [
                await self.backend.db.read(
                    lambda c, i=card_id: self.ledger.get(SqlLedgerStore(c), card_id=i)
                )
                for card_id in self.model
            ]
            problems = await self.backend.db.read(lambda c: SqlLedgerStore(c).audit())
            return cards, problems

        cards, problems = self.backend.run(read())
        assert problems == []
        for card in cards:
            expected = self.model[card.id]
            assert (card.posted, card.held) == (expected.posted, expected.held)
            assert card.available >= 0


def _run_machine(url: str) -> None:
    backend = Backend(url)
    LedgerMachine.backend = backend
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        backend.close()


def test_ledger_matches_model_on_sqlite(tmp_path: Path) -> None:
    _run_machine(f"sqlite+aiosqlite:///{tmp_path / 'model.db'}")


def test_ledger_matches_model_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        _run_machine(url)
    finally:
        asyncio.run(drop_pg_database(url))
