from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tender.domain.errors import CardDisabled, CardExpired, HoldNotActive
from tender.domain.ledger import (
    HOLD_TRANSITIONS,
    ActivityType,
    BalanceState,
    Card,
    CardStatus,
    HoldStatus,
    balance_result,
    check_hold_transition,
    check_spendable,
    transfer,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_card(**kw: object) -> Card:
    values: dict[str, object] = {
        "id": "c1",
        "code_last4": "1234",
        "pin_required": False,
        "currency": "EUR",
        "status": CardStatus.ACTIVE,
        "posted": 1000,
        "held": 200,
        "version": 1,
        "expires_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(kw)
    return Card(**values)  # type: ignore[arg-type]


def test_transfers_always_sum_to_zero() -> None:
    for kind in (
        ActivityType.ISSUE,
        ActivityType.CAPTURE,
        ActivityType.REFUND,
        ActivityType.ADJUST,
    ):
        postings = transfer(kind, "c1", -700, "EUR")
        assert sum(p.amount for p in postings) == 0
        assert postings[0].card_id == "c1"
        assert postings[1].card_id is None


def test_hold_state_machine_only_leaves_active() -> None:
    for target in (HoldStatus.CAPTURED, HoldStatus.RELEASED, HoldStatus.EXPIRED):
        check_hold_transition(HoldStatus.ACTIVE, target)
    for final in (HoldStatus.CAPTURED, HoldStatus.RELEASED, HoldStatus.EXPIRED):
        assert HOLD_TRANSITIONS[final] == frozenset()
        with pytest.raises(HoldNotActive):
            check_hold_transition(final, HoldStatus.RELEASED)


@pytest.mark.parametrize(
    ("card", "currency", "state"),
    [
        (make_card(), None, BalanceState.VALID),
        (make_card(), "USD", BalanceState.CURRENCY_NOT_MATCH),
        (make_card(posted=200, held=200), None, BalanceState.ZERO_BALANCE),
        (make_card(expires_at=NOW - timedelta(seconds=1)), None, BalanceState.EXPIRED),
        (make_card(status=CardStatus.DISABLED), None, BalanceState.GENERIC_ERROR),
    ],
)
def test_balance_states(card: Card, currency: str | None, state: BalanceState) -> None:
    result = balance_result(card, NOW, currency)
    assert result.state is state
    if state is BalanceState.VALID:
        assert result.amount is not None
        assert result.amount.minor == 800


def test_spendable_needs_active_unexpired_card() -> None:
    check_spendable(make_card(), NOW)
    with pytest.raises(CardDisabled):
        check_spendable(make_card(status=CardStatus.DISABLED), NOW)
    with pytest.raises(CardExpired):
        check_spendable(make_card(expires_at=NOW), NOW)
