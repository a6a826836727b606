"""One payment of a placed order: capture, refund and cancel by the merchant, confirmation of
an external payment by the merchant (invoice) or by its provider's signed callback (redirect).
"""

from __future__ import annotations

from typing import Any

from tender.domain.checkout_ports import Work
from tender.domain.errors import (
    CaptureExceedsAuthorization,
    IllegalTransition,
    RefundExceedsCapture,
)
from tender.domain.money import Money
from tender.domain.orders import (
    CANCELLED,
    Order,
    OrderState,
    TransactionState,
    TransactionType,
)
from tender.domain.ownership import visible
from tender.domain.payments import (
    Payment,
    PaymentMethodNotAllowed,
    PaymentNotFound,
    Transaction,
    method_allowed,
)
from tender.services.external_payments import (
    Confirmation,
    ConfirmationRefused,
    PaymentAwaitingProvider,
)
from tender.services.orders.base import (
    NothingToDo,
    OrderService,
)


class PaymentOperations(OrderService):
    async def _payment_in_order(
        self, work: Work, payment_id: str, owner: str | None
    ) -> tuple[Payment, Order]:
        payment = await work.payments.payment(payment_id)
        order = await work.orders.order_by_cart(payment.cart_id) if payment else None
        if payment is None or not visible(order, owner):
            raise PaymentNotFound()
        await self.carts.lock(work, cart_id=payment.cart_id, owner=None)
        # Both again under the cart's lock: a reopen or placing may have committed meanwhile.
        fresh = await work.payments.payment(payment_id)
        current = await work.orders.order_by_cart(payment.cart_id)
        assert fresh is not None
        assert current is not None
        return fresh, current

    async def capture_payment(
        self, work: Work, *, payment_id: str, owner: str | None, amount: Money | None = None
    ) -> Payment:
        payment, order = await self._payment_in_order(work, payment_id, owner)
        if order.state is not OrderState.PROCESSING:
            raise IllegalTransition(f"the order is {order.state.value}, not Processing")
        if payment.authorized <= 0:
            raise NothingToDo("the authorization was already captured or cancelled")
        wanted = payment.authorized if amount is None else self._amount(payment, amount)
        if wanted > payment.authorized:
            raise CaptureExceedsAuthorization(
                f"at most {payment.authorized} can be captured", field="amount"
            )
        await self._capture(work, payment, wanted)
        return await self._reload(work, payment)

    async def refund_payment(
        self, work: Work, *, payment_id: str, owner: str | None, amount: Money | None = None
    ) -> Payment:
        payment, order = await self._payment_in_order(work, payment_id, owner)
        if (asked := payment.refund_asked) is not None:
            if amount is not None and self._amount(payment, amount) != asked.amount:
                raise IllegalTransition(
                    f"a refund of {Money(asked.amount, payment.currency)} waits to be made at "
                    "the provider: mark it made first, without an amount or with that one"
                )
            await self._made(work, payment, asked)
            return await self._reload(work, payment)
        if payment.refundable <= 0:
            raise NothingToDo("nothing was captured, or it was all refunded")
        wanted = payment.refundable if amount is None else self._amount(payment, amount)
        if wanted > payment.refundable:
            raise RefundExceedsCapture(
                f"at most {payment.refundable} can be refunded", field="amount"
            )
        self._check_refund_leaves_share(payment, order, wanted)
        await self._refund(work, payment, wanted)
        return await self._reload(work, payment)

    async def cancel_payment(self, work: Work, *, payment_id: str, owner: str | None) -> Payment:
        """Cancels the open authorization; or, for a cancellation asked of the provider
        (money it reported after the payment had ended, or an authorization its order's
        reopening or cancelling ended), records that the merchant made it there."""
        payment, _ = await self._payment_in_order(work, payment_id, owner)
        if (asked := payment.cancellation_asked) is not None:
            await self._made(work, payment, asked)
            return await self._reload(work, payment)
        if payment.authorized <= 0:
            raise NothingToDo("there is no open authorization to cancel")
        await self._cancel_authorization(work, payment)
        return await self._reload(work, payment)

    async def _made(self, work: Work, payment: Payment, asked: Transaction) -> None:
        await work.payments.update_transaction(
            asked.id, state=TransactionState.SUCCESS, error_code=None, now=self.clock.now()
        )
        await self._payment_event(
            work,
            "PaymentTransactionChanged",
            payment,
            {
                "transactionId": asked.id,
                "type": asked.type.value,
                "state": TransactionState.SUCCESS.value,
                "amount": asked.amount,
            },
        )

    async def confirm_external(
        self,
        work: Work,
        *,
        payment_id: str,
        owner: str | None,
        payload: list[dict[str, Any]],
        from_server: bool,
        allowed: frozenset[str] | None = None,
    ) -> Payment:
        """The merchant's backend confirms what it confirms (an invoice); for a method its
        provider confirms, anyone may only acknowledge a confirmation that already arrived
        through the provider's signed callback (``provider_confirmation``)."""
        payment, order = await self._payment_in_order(work, payment_id, owner)
        method = self.methods.get(payment.method)
        if method is None or payment.is_gift_card:
            raise PaymentNotFound("this payment takes no external confirmation")
        if not method_allowed(payment.method, allowed):
            raise PaymentMethodNotAllowed(
                f"this session does not allow {payment.method}", field="paymentIdentifier"
            )
        if method.confirmation is Confirmation.PROVIDER:
            return self._acknowledge(payment)
        if not from_server:
            raise PaymentNotFound("this payment is confirmed by the merchant's backend")
        pending = payment.pending_authorization
        if order.state is not OrderState.PROCESSING or pending is None:
            raise NothingToDo("the payment is not waiting for a confirmation")
        method.verify(payment, payload)
        await work.payments.update_transaction(
            pending.id, state=TransactionState.SUCCESS, error_code=None, now=self.clock.now()
        )
        await self._event(work, "PaymentAuthorized", order, {"paymentId": payment.id})
        return await self._reload(work, payment)

    @staticmethod
    def _acknowledge(payment: Payment) -> Payment:
        states = {t.state for t in payment.transactions if t.type is TransactionType.AUTHORIZATION}
        if TransactionState.SUCCESS in states:
            return payment
        if payment.awaiting_confirmation:
            raise PaymentAwaitingProvider(
                f"payment {payment.id} of {Money(payment.amount_planned, payment.currency)} is "
                "awaiting the provider's confirmation",
                field="paymentIdentifier",
            )
        raise NothingToDo("the provider did not confirm this payment")

    async def provider_confirmation(
        self,
        work: Work,
        *,
        payment_id: str,
        authorized: bool,
        amount: Money,
        provider_reference: str | None = None,
    ) -> Payment:
        """What the provider reports in its signed callback: the pending authorization
        succeeds or fails. A repeated report (providers retry) answers the same again."""
        payment, order = await self._payment_in_order(work, payment_id, None)
        method = self.methods.get(payment.method)
        if method is None or method.confirmation is not Confirmation.PROVIDER:
            raise PaymentNotFound("this payment is not confirmed by a provider")
        expected = Money(payment.amount_planned, payment.currency)
        if amount != expected:
            raise ConfirmationRefused(
                f"the payment is for {expected}, the provider reported {amount}", field="amount"
            )
        target = TransactionState.SUCCESS if authorized else TransactionState.FAILURE
        auths = [t for t in payment.transactions if t.type is TransactionType.AUTHORIZATION]
        pending = payment.pending_authorization
        if pending is None and any(t.state is target for t in auths):
            return payment
        if authorized and pending is None and ended_by_tender(auths):
            return await self._paid_after_end(work, payment, order, amount, provider_reference)
        if order.state is not OrderState.PROCESSING or pending is None:
            raise NothingToDo("the payment is not waiting for a confirmation")
        await work.payments.update_transaction(
            pending.id,
            state=target,
            error_code=None if authorized else "DeclinedByProvider",
            now=self.clock.now(),
        )
        await self._event(
            work,
            "PaymentAuthorized" if authorized else "PaymentFailed",
            order,
            {"paymentId": payment.id, "by": "provider", "providerReference": provider_reference},
        )
        return await self._reload(work, payment)

    async def _paid_after_end(
        self,
        work: Work,
        payment: Payment,
        order: Order,
        amount: Money,
        provider_reference: str | None,
    ) -> Payment:
        """The shopper paid at the provider after tender had ended the payment (its order was
        cancelled, or sent back to checkout, first). Refusing the report would have the
        provider deliver it again for ever while nobody learns of the money it holds, so it
        is kept: a ``CancelAuthorization`` in state ``Initial`` (to be done at the provider,
        which tender cannot call) and the event ``PaymentAuthorizedAfterCancel`` for the
        merchant's backend. The authorization stays failed: the payment brings the order
        nothing. A report delivered again finds the cancellation asked for (or made since:
        the authorization never succeeded, so no other cancellation is on this payment) and
        adds nothing."""
        if any(t.type is TransactionType.CANCEL_AUTHORIZATION for t in payment.transactions):
            return payment
        await self._transaction(
            work,
            payment,
            TransactionType.CANCEL_AUTHORIZATION,
            amount.minor,
            TransactionState.INITIAL,
            interaction_id=provider_reference,
        )
        await self._event(
            work,
            "PaymentAuthorizedAfterCancel",
            order,
            {
                "paymentId": payment.id,
                "by": "provider",
                "providerReference": provider_reference,
                "amount": {"centAmount": amount.minor, "currency": amount.currency},
            },
        )
        return await self._reload(work, payment)


def ended_by_tender(authorizations: list[Transaction]) -> bool:
    """An authorization tender ended while it waited for the provider (``Cancelled``, by
    cancelling or reopening the order), with none confirmed."""
    return any(
        t.state is TransactionState.FAILURE and t.error_code == CANCELLED for t in authorizations
    ) and not any(t.state is TransactionState.SUCCESS for t in authorizations)
