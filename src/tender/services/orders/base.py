"""What every order use case shares: its errors and results, the service's parts, and the
money movements of one payment (capture, release, refund), each recorded as a payment
transaction and an event.

The use cases are grouped by what they do: ``placing`` (Checkout → Processing), ``lifecycle``
(complete, reopen, cancel) and ``payments`` (one payment's capture, refund, cancel and
confirmation); ``tender.services.orders.Orders`` is all three.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tender.domain.checkout_ports import Work
from tender.domain.errors import (
    BusinessRuleViolation,
    CurrencyMismatch,
    DomainError,
    HoldNotActive,
    IllegalTransition,
)
from tender.domain.events import NewEvent
from tender.domain.ids import new_id
from tender.domain.money import Money
from tender.domain.orders import (
    Order,
    OrderState,
    TransactionState,
    TransactionType,
)
from tender.domain.payments import (
    GiftCardReservationFailed,
    OrderReferenceAmbiguous,
    Payment,
    Transaction,
)
from tender.domain.ports import Clock
from tender.faults import crash_point
from tender.services.carts import Carts, CartView
from tender.services.external_payments import (
    Confirmation,
    ExternalMethod,
    Redirect,
)

MAX_NAMESAKES = 50
"""How many clients' orders of one reference a caller across clients (an admin, a Glue guest
or customer) is shown before ``sees`` picks: more clients than that using one number would
hide the rest from a shopper."""


async def order_by_reference(
    work: Work,
    reference: str,
    owner: str | None,
    sees: Callable[[Order], Awaitable[bool]] | None = None,
) -> Order | None:
    """The order of this reference among the client ``owner``'s, or with ``owner`` None the
    one among every client's that the caller ``sees``. Several such (an admin's view) are
    refused rather than one picked: acting on another client's order by mistake moves
    money."""
    found = await work.orders.orders_by_reference(reference, owner, limit=MAX_NAMESAKES)
    if sees is not None:
        found = [order for order in found if await sees(order)]
    if len(found) > 1:
        raise OrderReferenceAmbiguous()
    return found[0] if found else None


class CheckoutDataInvalid(BusinessRuleViolation):
    code = "CheckoutDataInvalid"
    message = "The checkout data is incomplete or incorrect."


class OrderAlreadyPlaced(IllegalTransition):
    code = "OrderAlreadyPlaced"
    message = "The cart has already been placed as an order."


class PaymentNotAuthorized(IllegalTransition):
    code = "PaymentNotAuthorized"
    message = "A payment is not authorized yet; confirm it before completing the order."


class NothingToDo(IllegalTransition):
    code = "PaymentTransactionRefused"
    message = "The payment has nothing left to capture, refund or cancel."


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order
    view: CartView
    redirect: Redirect


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    payments: tuple[Payment, ...]


class OrderService:
    """The parts every use case needs; the use cases are its subclasses."""

    def __init__(
        self,
        carts: Carts,
        clock: Clock,
        *,
        methods: dict[str, ExternalMethod],
        payment_window: timedelta = timedelta(hours=24),
    ) -> None:
        self.carts = carts
        self.clock = clock
        self.methods = methods
        self.payment_window = payment_window

    # --- money movements of one payment ------------------------------------------------------

    async def _capture(self, work: Work, payment: Payment, amount: int) -> None:
        hold_ref = payment.hold_ref
        if payment.is_gift_card:
            hold_ref = payment.hold_ref or ""
            try:
                await work.provider.capture(
                    hold_ref=hold_ref, amount=Money(amount, payment.currency)
                )
            except HoldNotActive:
                # The reservation lapsed (expired, swept or not yet: ``lapsed`` gives an
                # overdue one's money back first): take the money again if it is still there,
                # otherwise refuse, naming the card; nothing is captured from a dead hold.
                if hold_ref not in await work.provider.lapsed(hold_refs=[hold_ref]):
                    raise
                try:
                    hold_ref = await work.provider.reserve(
                        ref=payment.card_ref or "",
                        amount=Money(amount, payment.currency),
                        reference=payment.id,
                        expires_in=self.payment_window,
                    )
                    await work.provider.capture(
                        hold_ref=hold_ref, amount=Money(amount, payment.currency)
                    )
                except DomainError as error:
                    raise GiftCardReservationFailed(
                        "gift card ****{last4}: its reservation expired and could not be "
                        "renewed: {reason}",
                        field="payments",
                        last4=payment.card_last4,
                        reason=error,
                    ) from error
                await work.payments.update_payment(
                    replace(payment, hold_ref=hold_ref, updated_at=self.clock.now())
                )
        crash_point("money_captured")
        # The hold the money was taken from: the renewed one if the first had lapsed, so the
        # transactions point at a hold that really moved the money.
        await self._transaction(
            work, payment, TransactionType.CHARGE, amount, interaction_id=hold_ref
        )
        rest = payment.authorized - amount
        if rest > 0:
            # A partial capture releases the rest of the reservation in the same step.
            await self._transaction(
                work,
                payment,
                TransactionType.CANCEL_AUTHORIZATION,
                rest,
                interaction_id=hold_ref,
            )

    async def _cancel_authorization(
        self, work: Work, payment: Payment, *, by_order: bool = False
    ) -> None:
        if payment.is_gift_card and payment.hold_ref:
            try:
                await work.provider.release(hold_ref=payment.hold_ref)
            except HoldNotActive:
                pass  # already expired and swept: the money is back on the card
        crash_point("money_released")
        await self._transaction(
            work,
            payment,
            TransactionType.CANCEL_AUTHORIZATION,
            payment.authorized,
            self._done_or_asked(payment, by_order),
            interaction_id=payment.hold_ref,
        )

    async def _refund(
        self,
        work: Work,
        payment: Payment,
        amount: int,
        *,
        by_order: bool = False,
        charge_id: str | None = None,
    ) -> None:
        """``charge_id``: the charge the refund names, kept as its ``interaction_id`` so that
        no charge is refunded beyond what it took (``Payment.refundable_of``)."""
        if payment.is_gift_card:
            await work.provider.refund(
                ref=payment.card_ref or "",
                amount=Money(amount, payment.currency),
                reference=payment.id,
            )
        crash_point("money_refunded")
        await self._transaction(
            work,
            payment,
            TransactionType.REFUND,
            amount,
            self._done_or_asked(payment, by_order),
            interaction_id=charge_id,
        )

    @staticmethod
    def _check_refund_leaves_share(payment: Payment, order: Order | None, wanted: int) -> None:
        """While its order is back in checkout, a redemption placing would keep is refunded in
        full or not at all: placing counts a kept redemption's whole share, so one refunded in
        part would leave the order short of what it says it holds (reopening refuses such a
        payment for the same reason)."""
        in_checkout = order is not None and order.state is OrderState.CHECKOUT
        if in_checkout and payment.already_reserved and wanted < payment.refundable:
            raise IllegalTransition(
                "the order is back in checkout: refund all of this redemption "
                f"({Money(payment.refundable, payment.currency)}) or none of it",
                field="amount",
            )

    def _at_provider(self, payment: Payment) -> bool:
        """Whether the payment's money is held by an outside provider that only confirms
        (a redirect payment): tender cannot call it to give money back."""
        method = None if payment.is_gift_card else self.methods.get(payment.method)
        return method is not None and method.confirmation is Confirmation.PROVIDER

    def _done_or_asked(self, payment: Payment, by_order: bool) -> TransactionState:
        """A cancellation or refund is done (``Success``) when tender makes it, or when the
        merchant reports one of a payment it made at the provider (the payment's own cancel
        and refund). One that reopening or cancelling an order makes of money at an outside
        provider is only asked for (``Initial``): the merchant makes it at the provider, then
        marks it made (``POST /payments/{id}/cancel`` or ``…/refund``). Recorded as done, the
        books would show money given back that the provider still holds."""
        asked = by_order and self._at_provider(payment)
        return TransactionState.INITIAL if asked else TransactionState.SUCCESS

    @staticmethod
    def _amount(payment: Payment, amount: Money) -> int:
        money = Money.of(amount.minor, amount.currency)
        if money.currency != payment.currency:
            raise CurrencyMismatch(payment.currency, money.currency, field="amount.currency")
        return money.minor

    async def _reload(self, work: Work, payment: Payment) -> Payment:
        fresh = await work.payments.payment(payment.id)
        assert fresh is not None
        return fresh

    async def _transaction(
        self,
        work: Work,
        payment: Payment,
        kind: TransactionType,
        amount: int,
        state: TransactionState = TransactionState.SUCCESS,
        *,
        interaction_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """A payment's transactions are read back in the order of their ``created_at``, and
        what is open is worked out in that order (``Payment.authorized``): a worker whose clock
        is behind the one that wrote the last transaction must still write the next after it,
        or a capture would sort before its authorization and leave it looking open."""
        latest = max((t.created_at for t in payment.transactions), default=None)
        now = self.clock.now()
        if latest is not None and now <= latest:
            now = latest + timedelta(microseconds=1)
        await work.payments.insert_transaction(
            Transaction(
                id=new_id(),
                payment_id=payment.id,
                type=kind,
                state=state,
                amount=amount,
                currency=payment.currency,
                interaction_id=interaction_id,
                error_code=error_code,
                created_at=now,
                updated_at=now,
            )
        )
        await self._payment_event(
            work,
            "PaymentTransactionAdded",
            payment,
            {"type": kind.value, "state": state.value, "amount": amount},
            now=now,
        )

    async def _payment_event(
        self,
        work: Work,
        kind: str,
        payment: Payment,
        payload: dict[str, Any],
        *,
        now: datetime | None = None,
    ) -> None:
        """An event of the payment, for its cart's owner."""
        cart = await work.carts.get_cart(payment.cart_id)
        await work.events.append_events(
            [
                NewEvent(
                    kind,
                    "payment",
                    payment.id,
                    cart.owner if cart else None,
                    {**payload, "currency": payment.currency, "cartId": payment.cart_id},
                )
            ],
            correlation_id=work.correlation_id,
            now=now or self.clock.now(),
        )

    async def _event(self, work: Work, kind: str, order: Order, payload: dict[str, Any]) -> None:
        await work.events.append_events(
            [
                NewEvent(
                    kind,
                    "order",
                    order.id,
                    order.owner,
                    {"orderReference": order.reference, "state": order.state.value, **payload},
                )
            ],
            correlation_id=work.correlation_id,
            now=self.clock.now(),
        )


def covers(payment: Payment) -> int:
    """What a payment still brings to its order (``Payment.brings``)."""
    return payment.brings
