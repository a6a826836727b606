"""Payments on a cart and their transactions (commercetools' vocabulary), plus the errors of
split tender."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tender.domain.errors import (
    BusinessRuleViolation,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from tender.domain.orders import PaymentStatus, TransactionState, TransactionType

GIFT_CARD = "giftcard"
MAX_SELECTED_METHODS = 3
ENDING = frozenset({TransactionState.SUCCESS, TransactionState.INITIAL})
"""The states in which a cancellation or refund ends money for the order: made, or asked of
an outside provider that tender cannot call (``Initial``), which the merchant makes there.
Either way the order may no longer count on it, nor capture or refund it again."""


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    payment_id: str
    type: TransactionType
    state: TransactionState
    amount: int
    currency: str
    interaction_id: str | None
    error_code: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    cart_id: str
    method: str
    provider: str
    status: PaymentStatus
    currency: str
    amount_planned: int
    upper_limit: int | None
    card_ref: str | None
    card_last4: str | None
    hold_ref: str | None
    position: int
    created_at: datetime
    updated_at: datetime
    transactions: tuple[Transaction, ...] = ()
    redeemed: bool = False
    """Redeemed by the shopper's page through the processor: reserved (or charged) when it was
    made, for the amount the page asked for. Allocation never changes its amount and placing
    keeps its reservation instead of taking another."""

    @property
    def is_gift_card(self) -> bool:
        return self.method == GIFT_CARD

    @property
    def active(self) -> bool:
        return self.status is PaymentStatus.ACTIVE

    @property
    def pending_authorization(self) -> Transaction | None:
        """The authorization an external payment holds open until its confirmation (the
        merchant's, or its provider's signed callback) settles it."""
        return next(
            (
                t
                for t in self.transactions
                if t.type is TransactionType.AUTHORIZATION and t.state is TransactionState.PENDING
            ),
            None,
        )

    @property
    def awaiting_confirmation(self) -> bool:
        return self.pending_authorization is not None

    @property
    def cancellation_asked(self) -> Transaction | None:
        """A cancellation still to make at the provider (``CancelAuthorization`` in state
        ``Initial``): of money its callback reported after tender had ended the payment, or
        of an authorization its order's reopening or cancelling ended."""
        return self._asked(TransactionType.CANCEL_AUTHORIZATION)

    @property
    def refund_asked(self) -> Transaction | None:
        """A refund still to make at the provider (``Refund`` in state ``Initial``), asked
        for by cancelling the order it paid."""
        return self._asked(TransactionType.REFUND)

    def _asked(self, kind: TransactionType) -> Transaction | None:
        initial = TransactionState.INITIAL
        return next((t for t in self.transactions if t.type is kind and t.state is initial), None)

    def total(
        self, kind: TransactionType, state: TransactionState = TransactionState.SUCCESS
    ) -> int:
        return sum(t.amount for t in self.transactions if t.type is kind and t.state is state)

    @property
    def authorized(self) -> int:
        """Authorized and neither charged nor cancelled yet, in the order things happened: a
        charge or a cancellation ends at most what is open at that moment. A charge with no
        authorization before it (a redemption captured at once) takes money directly, and no
        authorization made later (placing the order again after a refund) is spent by it."""
        open_amount = 0
        for t in self.transactions:
            if t.state is TransactionState.SUCCESS and t.type is TransactionType.AUTHORIZATION:
                open_amount += t.amount
            elif t.type is TransactionType.CHARGE and t.state is TransactionState.SUCCESS:
                open_amount = max(open_amount - t.amount, 0)
            elif t.type is TransactionType.CANCEL_AUTHORIZATION and t.state in ENDING:
                open_amount = max(open_amount - t.amount, 0)
        return open_amount

    @property
    def charged(self) -> int:
        return self.total(TransactionType.CHARGE)

    @property
    def total_refunded(self) -> int:
        return self.total(TransactionType.REFUND)

    @property
    def refundable(self) -> int:
        """Captured and neither refunded nor asked back of the provider."""
        refunds = (t for t in self.transactions if t.type is TransactionType.REFUND)
        return self.charged - sum(t.amount for t in refunds if t.state in ENDING)

    def refundable_of(self, charge_id: str) -> int:
        """What is left to refund of one charge: refunds naming it (their ``interaction_id``)
        come off it, and refunds naming none come off the earliest charges first. Without that,
        a charge refunded once could be named again and refund a later one's money."""
        charges = {
            t.id: t.amount
            for t in self.transactions
            if t.type is TransactionType.CHARGE and t.state is TransactionState.SUCCESS
        }
        unnamed = 0
        for t in self.transactions:
            if t.type is not TransactionType.REFUND or t.state not in ENDING:
                continue
            if t.interaction_id in charges:
                charges[t.interaction_id] -= t.amount
            else:
                unnamed += t.amount
        for charged_id, left in charges.items():
            taken = min(max(left, 0), unnamed)
            charges[charged_id] = left - taken
            unnamed -= taken
        return max(charges.get(charge_id, 0), 0)

    @property
    def brings(self) -> int:
        """What the payment still brings to its order: open authorizations and captures not
        refunded (a cancelled or released authorization brings nothing, nor does money asked
        back of the provider)."""
        return self.authorized + self.refundable

    @property
    def already_reserved(self) -> bool:
        """A redeemed payment whose money is still held or taken: placing keeps it as it is."""
        return self.redeemed and self.brings > 0


class PaymentNotFound(NotFound):
    code = "PaymentNotFound"
    message = "The payment was not found."


class OrderNotFound(NotFound):
    code = "OrderNotFound"
    message = "The order was not found."


class OrderReferenceAmbiguous(InvalidInput):
    """Each API client numbers its own orders: one who sees every client's (an admin) may
    name a number several have used."""

    code = "OrderReferenceAmbiguous"
    message = "Orders of several API clients have this reference; name the order by its id."


class GiftCardReservationFailed(Conflict):
    code = "GiftCardReservationFailed"
    message = "A gift card could not be reserved; no card was charged."


class PaymentIncomplete(BusinessRuleViolation):
    code = "PaymentIncomplete"
    message = "The payments do not cover the order total."


class NothingToCapture(BusinessRuleViolation):
    code = "NothingToCapture"
    message = "The payment has no open authorization to capture."


class GiftCardShortfall(GiftCardReservationFailed):
    """Placing found a card whose balance no longer covers what the shopper saw it cover (it
    was spent elsewhere meanwhile). Nothing is reserved and nothing moves onto another method:
    the shopper applies the card again and sees the new amounts first."""

    code = "GiftCardShortfall"
    message = "A gift card no longer covers the amount allocated to it; nothing was reserved."


class PaymentMethodNotAllowed(BusinessRuleViolation):
    code = "PaymentMethodNotAllowed"
    message = "This payment method is not allowed here."


class PaymentsShortOfTotal(IllegalTransition):
    """Completing would mark an order paid that its payments no longer cover (a cancelled
    authorization, a released remainder); the merchant must say it settles for less."""

    code = "PaymentsShortOfTotal"
    message = "The order's payments no longer cover its grand total."


class PaymentCaptured(IllegalTransition):
    """Reopening would let placing reserve and capture again what a payment already took:
    the merchant refunds it first. A redeemed card's payment, which placing keeps as it is,
    does not stand in the way while it still brings all of its share."""

    code = "PaymentCaptured"
    message = "A payment of the order has captured money; refund it before reopening."


def in_card_order(payments: Iterable[Payment]) -> list[Payment]:
    """The order in which a unit that moves money on several cards takes them: each card's
    row is locked until the unit ends, so two units holding the same cards in the order they
    sit on their carts (A, B and B, A) would wait on each other for ever, until PostgreSQL
    fails one. Taken by card, every unit waits only on units ahead of it. Payments of other
    methods lock no card; they come first."""
    return sorted(payments, key=lambda p: (p.card_ref or "", p.id))


def method_allowed(name: str, allowed: frozenset[str] | None) -> bool:
    """``allowed`` is a browser session's ``allowedPaymentMethods`` (``None``: no limit beyond
    the merchant's own methods)."""
    return allowed is None or name.lower() in allowed


@dataclass(frozen=True, slots=True)
class PaymentMethodSelection:
    """A method the shopper chose for what the gift cards leave open, and its provider's name
    as the client gave it (placing uses the merchant's own provider for the method)."""

    method: str
    provider: str = "tender"


def select_payment_methods(
    chosen: Sequence[PaymentMethodSelection], usable: Sequence[str], field: str
) -> tuple[PaymentMethodSelection, ...]:
    """``chosen``, with method names as tender writes them, if every one is ``usable`` (what
    the merchant offers and the caller may use) and there are few enough of them."""
    selected = tuple(PaymentMethodSelection(c.method.lower(), c.provider) for c in chosen)
    refused = [s.method for s in selected if s.method not in usable]
    if refused:
        if not usable:
            raise PaymentMethodNotAllowed(
                "{method} is not available here; no method is allowed",
                field=field,
                method=refused[0],
            )
        raise PaymentMethodNotAllowed(
            "{method} is not available here; use one of {methods}",
            field=field,
            method=refused[0],
            methods=", ".join(usable),
        )
    if len(selected) > MAX_SELECTED_METHODS:
        raise InvalidInput(
            "at most {count} payment methods", field=field, count=MAX_SELECTED_METHODS
        )
    return selected
