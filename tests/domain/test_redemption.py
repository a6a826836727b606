"""The processor's balance states and how much a redemption takes, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tender.domain.ledger import BalanceState
from tender.domain.ports import ProviderCard
from tender.domain.redemption import card_balance, redeemable

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def card(**changes: object) -> ProviderCard:
    fields: dict[str, object] = {
        "ref": "c1",
        "last4": "1234",
        "currency": "EUR",
        "available": 500,
        "pin_required": False,
    }
    fields.update(changes)
    return ProviderCard(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, BalanceState.VALID),
        ({"active": False}, BalanceState.GENERIC_ERROR),
        ({"expires_at": NOW}, BalanceState.EXPIRED),
        ({"expires_at": NOW + timedelta(seconds=1)}, BalanceState.VALID),
        ({"currency": "USD"}, BalanceState.CURRENCY_NOT_MATCH),
        ({"available": 0}, BalanceState.ZERO_BALANCE),
        ({"available": -10}, BalanceState.ZERO_BALANCE),
        # A blocked card says so first, whatever else is wrong with it.
        ({"active": False, "currency": "USD", "available": 0}, BalanceState.GENERIC_ERROR),
    ],
)
def test_each_card_has_one_state_named_first(changes: dict[str, object], state: str) -> None:
    result = card_balance(card(**changes), "EUR", NOW)
    assert result.state == state
    if state == BalanceState.VALID:
        assert result.errors == ()
        assert result.amount is not None
        assert result.amount.minor == 500
    else:
        assert result.errors[0].code == state


@pytest.mark.parametrize(
    ("asked", "to_pay", "available", "taken"),
    [
        (2000, 4490, 1000, 1000),  # the card holds less
        (6000, 4490, 10_000, 4490),  # the cart needs less
        (500, 4490, 10_000, 500),  # as asked
        (1500, 4490, 0, 1500),  # an empty card is asked anyway: its provider refuses
    ],
)
def test_a_redemption_takes_the_least(asked: int, to_pay: int, available: int, taken: int) -> None:
    assert redeemable(asked, to_pay, available) == taken
