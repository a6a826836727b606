"""Redeeming a gift card from the shopper's page (the processor of the commercetools gift card
connector): what a balance check answers about a card, how a redemption takes the money, and
the errors of redeeming."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from tender.domain.errors import BusinessRuleViolation, DomainError, IllegalTransition
from tender.domain.ledger import BalanceError, BalanceResult, BalanceState
from tender.domain.money import Money
from tender.domain.ports import ProviderCard


class CaptureMode(StrEnum):
    """When a redemption takes the card's money."""

    AUTHORIZE = "authorize"
    """Reserve now; completing the order captures (an ``Authorization`` transaction)."""
    IMMEDIATE = "immediate"
    """Reserve and capture at once, as the connector template does (a ``Charge``)."""


class CartPaidInFull(BusinessRuleViolation):
    code = "CartPaidInFull"
    message = "The cart's payments already cover its total; nothing is left to redeem."


class RedeemedBeyondTotal(BusinessRuleViolation):
    """The cart's total fell below what redeemed gift cards already hold: placing would take
    more than the order costs, so it stops until a redeemed payment is cancelled."""

    code = "RedeemedBeyondTotal"
    message = "Gift cards redeemed on this cart hold more than its total."


class RedeemedPaymentKept(IllegalTransition):
    code = "RedeemedPaymentKept"
    message = "A redeemed gift card's money is held; cancel its payment instead of removing it."


def _refused(state: BalanceState, message: str, *more: BalanceError) -> tuple[BalanceError, ...]:
    """The first error names the state, as the connector's enabler reads it."""
    return (BalanceError(state.value, message), *more)


NOT_FOUND = BalanceResult(
    BalanceState.NOT_FOUND,
    errors=_refused(BalanceState.NOT_FOUND, "The gift card code or PIN is not valid."),
)
"""An unknown code, a wrong or missing PIN and a card locked by wrong PINs answer alike, so a
page cannot learn whether a code exists without its PIN."""


def card_balance(card: ProviderCard, currency: str, now: datetime) -> BalanceResult:
    """A found card (code and PIN verified) as the connector's balance states, for a cart in
    ``currency``. Only a card that can pay shows how much it holds."""
    if not card.active:
        return BalanceResult(
            BalanceState.GENERIC_ERROR,
            errors=_refused(
                BalanceState.GENERIC_ERROR,
                "The gift card cannot be used.",
                BalanceError("GiftCardDisabled", "The gift card is blocked."),
            ),
        )
    if card.expired(now):
        return BalanceResult(
            BalanceState.EXPIRED, errors=_refused(BalanceState.EXPIRED, "The gift card expired.")
        )
    if card.currency != currency:
        return BalanceResult(
            BalanceState.CURRENCY_NOT_MATCH,
            errors=_refused(
                BalanceState.CURRENCY_NOT_MATCH,
                f"The gift card is in {card.currency}, the cart in {currency}.",
            ),
        )
    if card.available <= 0:
        return BalanceResult(
            BalanceState.ZERO_BALANCE,
            Money(0, card.currency),
            _refused(BalanceState.ZERO_BALANCE, "The gift card has no balance left."),
        )
    return BalanceResult(BalanceState.VALID, Money(card.available, card.currency))


def refusal_errors(
    card: ProviderCard, currency: str, now: datetime, refusal: DomainError
) -> tuple[BalanceError, ...]:
    """Why the provider refused a redemption, in a balance check's words, so that the page can
    tell the shopper: the card's own state where it explains it (no balance left, expired,
    blocked); otherwise ``GenericError`` followed by the provider's reason (a racing
    redemption spent the card first, a rule of the provider's own)."""
    seen = card_balance(card, currency, now)
    if seen.state is not BalanceState.VALID:
        return seen.errors
    return _refused(
        BalanceState.GENERIC_ERROR,
        "The gift card could not be charged.",
        BalanceError(refusal.code, type(refusal).message),
    )


def redeemable(asked: int, still_to_pay: int, available: int) -> int:
    """What a redemption takes: what the page asked for, never more than the cart still needs
    or the card holds. A card showing nothing is still asked for the rest (capped by what the
    page asked), so its provider gives the refusal."""
    wanted = min(asked, still_to_pay)
    return min(wanted, available) if available > 0 else wanted
