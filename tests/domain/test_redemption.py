"""The processor's balance states and how much a redemption takes, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tender.domain.errors import InsufficientFunds
from tender.domain.ledger import BalanceState
from tender.domain.ports import ProviderCard
from tender.domain.redemption import card_balance, redeemable, refusal_errors

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


def test_a_refusal_is_told_by_the_cards_state_or_the_providers_reason() -> None:
    """The card's own state where it explains the refusal; a card that looked good when it was
    found (another page spent it meanwhile) is a GenericError naming the provider's reason."""
    refusal = InsufficientFunds("available 0.00 EUR, requested 15.00 EUR")
    empty = refusal_errors(card(available=0), "EUR", NOW, refusal)
    assert [e.code for e in empty] == ["ZeroBalance"]
    spent = refusal_errors(card(), "EUR", NOW, refusal)
    assert [e.code for e in spent] == ["GenericError", "InsufficientFunds"]
    assert "15.00" not in spent[1].message  # the class's words, not the details of the card
