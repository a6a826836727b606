"""A gift card's place among a cart's payments, for a card added at checkout and a card
redeemed from the shopper's page alike: whether it may join, and its new payment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tender.domain.allocation import CardBalance
from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.errors import CurrencyMismatch, InvalidInput
from tender.domain.ids import new_id
from tender.domain.orders import PaymentStatus
from tender.domain.payments import GIFT_CARD, Payment
from tender.domain.ports import ProviderCard

MAX_GIFT_CARDS = 10
MAX_CART_PAYMENTS = 100
"""Payments a cart may ever have, removed and refused ones included (they stay in its
history): every read of the cart renders them all, under its lock, so a page that adds and
removes a card in a loop would otherwise slow every request on the cart for good."""


class CardAlreadyOnCart(InvalidInput):
    code = "GiftCardAlreadyAdded"
    message = "This gift card is already used on the cart."


class TooManyGiftCards(InvalidInput):
    code = "TooManyGiftCards"
    message = f"A cart takes at most {MAX_GIFT_CARDS} gift cards."


class TooManyPayments(InvalidInput):
    code = "TooManyPayments"
    message = (
        f"A cart takes at most {MAX_CART_PAYMENTS} payments, removed and refused ones included;"
        " start a new cart."
    )


class GiftCardNotUsable(InvalidInput):
    code = "GiftCardNotUsable"
    message = "The gift card cannot pay for this cart."


def check_card_fits(cart: Cart, card: ProviderCard, payments: Sequence[Payment]) -> None:
    """A card may join the cart's payments: in its currency, not on it already, and not one
    card or payment too many (for cards added at checkout and redeemed from the shopper's page
    alike)."""
    if card.currency != cart.currency:
        raise CurrencyMismatch(cart.currency, card.currency, field="code")
    active = [p for p in payments if p.is_gift_card and p.active]
    if any(p.card_ref == card.ref for p in active):
        raise CardAlreadyOnCart(field="code")
    if len(active) >= MAX_GIFT_CARDS:
        raise TooManyGiftCards(field="code")
    if len(payments) >= MAX_CART_PAYMENTS:
        raise TooManyPayments(field="code")


def check_card_can_pay(card: ProviderCard, now: datetime) -> None:
    """A card added to a cart must be able to pay now, or the cart would show it covering
    what placing then refuses."""
    if not card.active:
        raise GiftCardNotUsable("the gift card is blocked", field="code")
    if card.expired(now):
        raise GiftCardNotUsable("the gift card has expired", field="code")
    if card.available <= 0:
        raise GiftCardNotUsable("the gift card has no balance left", field="code")


def card_payment(
    cart: Cart,
    card: ProviderCard,
    *,
    provider: str,
    position: int,
    now: datetime,
    amount: int = 0,
    redeemed: bool = False,
) -> Payment:
    """A gift card's new payment on the cart: covering ``amount`` (nothing yet, for a card the
    allocation will share out), at most the card's balance."""
    return Payment(
        id=new_id(),
        cart_id=cart.id,
        method=GIFT_CARD,
        provider=provider,
        status=PaymentStatus.ACTIVE,
        currency=cart.currency,
        amount_planned=amount,
        upper_limit=max(card.available, 0),
        card_ref=card.ref,
        card_last4=card.last4,
        hold_ref=None,
        position=position,
        created_at=now,
        updated_at=now,
        redeemed=redeemed,
    )


async def fresh_balances(
    work: Work, cards: list[Payment], found: dict[str, ProviderCard], now: datetime
) -> list[CardBalance]:
    """Each card's fresh balance, what it can pay ``now`` (nothing once blocked or expired):
    those not ``found`` already asked of the provider."""
    found = dict(found)
    missing = [p.card_ref or "" for p in cards if p.card_ref not in found]
    if missing:
        found.update(await work.provider.cards(refs=missing))
    available = {ref: card.spendable(now) for ref, card in found.items()}
    return [CardBalance(p.id, available.get(p.card_ref or "", 0)) for p in cards]
