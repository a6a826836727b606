"""Payment intents: one action on one gift card payment of a placed order (capture, refund,
cancel, or reverse: refund what was charged, else cancel what is authorized), answered with an
outcome rather than with the payment.

A request that cannot be carried out (wrong state, amount or currency, unknown payment) is an
error and changes nothing. A provider that declines the money movement is not such an error:
the attempt is undone whole, then the decline is recorded as a ``Failure`` transaction in a unit
of work of its own, and the outcome is ``rejected``. A declined movement is never recorded as a
``Success``, and a failed transaction moves no totals (they count successes only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol, TypeVar

from tender.domain.checkout_ports import StaleWrite, Work
from tender.domain.errors import (
    CaptureExceedsAuthorization,
    Conflict,
    DomainError,
    IllegalTransition,
    NotFound,
    RefundExceedsCapture,
)
from tender.domain.money import Money
from tender.domain.orders import (
    Order,
    OrderState,
    PaymentStatus,
    TransactionState,
    TransactionType,
)
from tender.domain.ownership import visible
from tender.domain.payments import Payment, PaymentNotFound
from tender.services.orders.base import NothingToDo, OrderService

T = TypeVar("T")


class IntentAction(StrEnum):
    CAPTURE = "capture"
    REFUND = "refund"
    CANCEL = "cancel"
    REVERSE = "reverse"


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"
    """Accepted, to be settled later; tender's providers answer at once, so it never says so."""


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    action: IntentAction
    amount: Money | None = None
    """Required to capture and to refund; nothing else takes one."""
    reference: str | None = None
    """The merchant's reference, kept on the event."""
    transaction_id: str | None = None
    """The charge a refund gives back (optional)."""


class PaymentNotInOrder(IllegalTransition):
    code = "PaymentNotInOrder"
    message = "The payment is not part of a placed order yet."


class TransactionNotFound(NotFound):
    code = "TransactionNotFound"
    message = "The payment has no successful charge with this id."


class ProviderDeclined(Conflict):
    """The provider refused a money movement. Raised inside the attempt so that its unit of
    work is undone; ``PaymentIntents.perform`` turns it into a recorded failure."""

    code = "GiftCardProviderDeclined"
    message = "The gift card provider declined the operation."

    def __init__(self, kind: TransactionType, amount: int, cause: DomainError) -> None:
        super().__init__(f"the provider declined: {cause.code}")
        self.kind = kind
        self.amount = amount
        self.cause = cause


class UnitRunner(Protocol):
    """Runs one unit of work in a transaction of its own (or a savepoint of the request's)."""

    async def __call__(self, work: Callable[[Work], Awaitable[T]]) -> T: ...


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: TransactionType
    amount: int
    charge_id: str | None = None
    """The charge a refund names."""


class PaymentIntents(OrderService):
    async def perform(
        self, units: UnitRunner, *, payment_id: str, owner: str | None, intent: PaymentIntent
    ) -> Outcome:
        try:
            await units(lambda w: self._attempt(w, payment_id, owner, intent))
        except ProviderDeclined as declined:
            failure = declined
        else:
            return Outcome.APPROVED
        await units(lambda w: self._record_decline(w, payment_id, owner, intent, failure))
        return Outcome.REJECTED

    async def _attempt(
        self, work: Work, payment_id: str, owner: str | None, intent: PaymentIntent
    ) -> None:
        payment, order = await self._intent_payment(work, payment_id, owner, intent)
        plan = self._plan(payment, order, intent)
        try:
            await self._move_money(work, payment, plan)
        except (StaleWrite, ProviderDeclined):
            raise
        except DomainError as error:
            raise ProviderDeclined(plan.kind, plan.amount, error) from error
        given_back = intent.action in (IntentAction.CANCEL, IntentAction.REVERSE)
        if given_back and (order is None or order.state is OrderState.CHECKOUT):
            # The cart is open (never placed, or reopened): placing must not take it again.
            await self._withdraw(work, payment)
        await self._processed(work, order, payment, intent, Outcome.APPROVED)

    async def _record_decline(
        self,
        work: Work,
        payment_id: str,
        owner: str | None,
        intent: PaymentIntent,
        declined: ProviderDeclined,
    ) -> None:
        payment, order = await self._intent_payment(work, payment_id, owner, intent)
        await self._transaction(
            work,
            payment,
            declined.kind,
            declined.amount,
            TransactionState.FAILURE,
            interaction_id=payment.hold_ref,
            error_code=declined.cause.code,
        )
        await self._processed(work, order, payment, intent, Outcome.REJECTED)

    async def _intent_payment(
        self, work: Work, payment_id: str, owner: str | None, intent: PaymentIntent
    ) -> tuple[Payment, Order | None]:
        """The gift card payment, locked through its cart, and its order. Before its cart is
        placed, a payment redeemed from the shopper's page may only be given back (cancel,
        reverse): capturing and refunding belong to an order."""
        payment = await work.payments.payment(payment_id)
        cart = await work.carts.get_cart(payment.cart_id) if payment else None
        if payment is None or not visible(cart, owner):
            raise PaymentNotFound()
        if not payment.is_gift_card:
            raise PaymentNotFound("payment intents act on gift card payments only")
        order = await work.orders.order_by_cart(payment.cart_id)
        given_back = intent.action in (IntentAction.CANCEL, IntentAction.REVERSE)
        if order is None and not (payment.redeemed and given_back):
            raise PaymentNotInOrder(
                "the payment's cart is not placed as an order yet: place the order first"
            )
        await self.carts.lock(work, cart_id=payment.cart_id, owner=None)
        # Both again under the cart's lock: a placing or reopen may have committed meanwhile.
        order = await work.orders.order_by_cart(payment.cart_id)
        fresh = await work.payments.payment(payment_id)
        assert fresh is not None
        if order is None and fresh.status is not PaymentStatus.ACTIVE:
            raise NothingToDo("the redemption was already given back")
        return fresh, order

    def _plan(self, payment: Payment, order: Order | None, intent: PaymentIntent) -> _Plan:
        """What the intent moves, checked against the payment; refusals change nothing."""
        action = intent.action
        if action is IntentAction.REVERSE:
            action = IntentAction.REFUND if payment.refundable > 0 else IntentAction.CANCEL
            intent = PaymentIntent(action)
        if action is IntentAction.CAPTURE:
            if order is None or order.state is not OrderState.PROCESSING:
                state = order.state.value if order else "not placed"
                raise IllegalTransition(f"the order is {state}, not Processing")
            if payment.authorized <= 0:
                raise NothingToDo("the authorization was already captured or cancelled")
            wanted = self._wanted(payment, intent, payment.authorized)
            if wanted > payment.authorized:
                raise CaptureExceedsAuthorization(
                    f"at most {payment.authorized} can be captured", field="amount"
                )
            return _Plan(TransactionType.CHARGE, wanted)
        if action is IntentAction.REFUND:
            if payment.refundable <= 0:
                raise NothingToDo("nothing was captured, or it was all refunded")
            limit = min(payment.refundable, self._charge(payment, intent.transaction_id))
            wanted = self._wanted(payment, intent, limit)
            if limit <= 0:
                raise NothingToDo("that charge was refunded already")
            if wanted > limit:
                raise RefundExceedsCapture(f"at most {limit} can be refunded", field="amount")
            self._check_refund_leaves_share(payment, order, wanted)
            return _Plan(TransactionType.REFUND, wanted, intent.transaction_id)
        if payment.authorized <= 0:
            raise NothingToDo("there is no open authorization to cancel")
        return _Plan(TransactionType.CANCEL_AUTHORIZATION, payment.authorized)

    def _wanted(self, payment: Payment, intent: PaymentIntent, default: int) -> int:
        return default if intent.amount is None else self._amount(payment, intent.amount)

    @staticmethod
    def _charge(payment: Payment, transaction_id: str | None) -> int:
        """What is left to refund of the named charge (unbounded when none is named)."""
        if transaction_id is None:
            return payment.charged
        for t in payment.transactions:
            if t.id == transaction_id and t.type is TransactionType.CHARGE:
                if t.state is TransactionState.SUCCESS:
                    return payment.refundable_of(t.id)
        raise TransactionNotFound(field="transactionId")

    async def _move_money(self, work: Work, payment: Payment, plan: _Plan) -> None:
        if plan.kind is TransactionType.CHARGE:
            await self._capture(work, payment, plan.amount)
        elif plan.kind is TransactionType.REFUND:
            await self._refund(work, payment, plan.amount, charge_id=plan.charge_id)
        else:
            await self._cancel_authorization(work, payment)

    async def _withdraw(self, work: Work, payment: Payment) -> None:
        """A redemption given back before placing leaves the cart's payments: its money is
        back on the card, and the other cards cover what they can of the rest again."""
        given_back = await self._reload(work, payment)
        now = self.clock.now()
        removed = replace(given_back, status=PaymentStatus.REMOVED, updated_at=now)
        await work.payments.update_payment(removed)
        cart = await work.carts.get_cart(payment.cart_id)
        assert cart is not None
        await self.carts.update_allocation(work, cart)

    async def _processed(
        self,
        work: Work,
        order: Order | None,
        payment: Payment,
        intent: PaymentIntent,
        outcome: Outcome,
    ) -> None:
        payload = {
            "paymentId": payment.id,
            "action": intent.action.value,
            "outcome": outcome.value,
            "reference": intent.reference,
        }
        if order is not None:
            await self._event(work, "PaymentIntentProcessed", order, payload)
            return
        cart = await work.carts.get_cart(payment.cart_id)
        assert cart is not None
        await self.carts.event(work, "PaymentIntentProcessed", cart, payload)
