"""The life cycle of a placed order: back to **Checkout** releases every reservation,
**Completed** captures, **Cancelled** releases or refunds. Completing never marks an order paid
that its payments do not cover, unless the merchant says it settles for less, and why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.money import Money
from tender.domain.orders import (
    CANCELLED,
    Order,
    OrderState,
    PaymentStatus,
    TransactionState,
    check_order_transition,
)
from tender.domain.ownership import visible
from tender.domain.payments import (
    OrderNotFound,
    Payment,
    PaymentCaptured,
    PaymentsShortOfTotal,
    in_card_order,
)
from tender.services.orders.base import (
    OrderService,
    OrderView,
    PaymentNotAuthorized,
    covers,
    order_by_reference,
)


class Lifecycle(OrderService):
    async def get(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        order = await self._owned(work, order_id, owner)
        return OrderView(order, tuple(await work.payments.payments(order.cart_id)))

    async def _owned(self, work: Work, order_id: str, owner: str | None) -> Order:
        order = await work.orders.order(order_id)
        if not visible(order, owner):
            # Not by its id: another client's order of that id shadows none of the caller's.
            order = await order_by_reference(work, order_id, owner)
        if order is None:
            raise OrderNotFound()
        return order

    async def _locked(self, work: Work, order_id: str, owner: str | None) -> tuple[Order, Cart]:
        order = await self._owned(work, order_id, owner)
        cart = await self.carts.lock(work, cart_id=order.cart_id, owner=None)
        fresh = await work.orders.order(order.id)
        assert fresh is not None
        return fresh, cart

    async def complete(
        self,
        work: Work,
        *,
        order_id: str,
        owner: str | None,
        settle_for_less: str | None = None,
    ) -> OrderView:
        """Capture every open authorization. Refused while an external payment awaits its
        confirmation, and when the payments no longer cover the grand total, unless the
        merchant settles for less: its reason is kept on the order and in the event."""
        order, _ = await self._locked(work, order_id, owner)
        check_order_transition(order.state, OrderState.COMPLETED)
        payments = [p for p in await work.payments.payments(order.cart_id) if p.active]
        for payment in payments:
            if not payment.is_gift_card and payment.awaiting_confirmation:
                raise PaymentNotAuthorized(f"the {payment.method} payment is not confirmed")
        covered = sum(covers(p) for p in payments)
        shortfall = order.grand_total - covered
        settlement: dict[str, Any] | None = None
        if shortfall > 0:
            if settle_for_less is None:
                raise PaymentsShortOfTotal(self._short(order, payments, covered))
            settlement = {"reason": settle_for_less, "shortfall": shortfall}
        for payment in in_card_order(payments):
            if payment.authorized > 0:
                await self._capture(work, payment, payment.authorized)
        if settlement is None:
            return await self._move(work, order, OrderState.COMPLETED)
        return await self._move(
            work,
            order,
            OrderState.COMPLETED,
            snapshot={**order.snapshot, "settledForLess": settlement},
            payload={"settledForLess": {**settlement, "currency": order.currency}},
        )

    @staticmethod
    def _short(order: Order, payments: list[Payment], covered: int) -> str:
        cur = order.currency
        grand = Money(order.grand_total, cur)
        total = f"the order's payments cover {Money(covered, cur)} of its {grand}"
        hint = "; to accept less, complete with settleForLess and a reason"
        for payment in payments:
            if covers(payment) < payment.amount_planned:
                what = (
                    f"gift card ****{payment.card_last4}"
                    if payment.is_gift_card
                    else f"the {payment.method} payment"
                )
                return (
                    f"payment {payment.id} ({what}) covers {Money(covers(payment), cur)} of "
                    f"its {Money(payment.amount_planned, cur)}: {total}{hint}"
                )
        return total + hint

    async def reopen(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        """Back to Checkout: every reservation is released and the cart can change again.
        Refused while a payment that placing would take again holds captured money."""
        order, cart = await self._locked(work, order_id, owner)
        check_order_transition(order.state, OrderState.CHECKOUT)
        for payment in await work.payments.payments(order.cart_id):
            # Placing keeps a redemption as it is, counting its whole share: one that brings
            # less than that (partly refunded, or partly captured) is refunded first, after
            # which placing takes it again like any card.
            kept = payment.already_reserved and payment.brings >= payment.amount_planned
            if payment.refundable > 0 and not kept:
                raise PaymentCaptured(
                    "payment {payment} has captured {captured}; refund it before reopening",
                    field="orderId",
                    payment=payment.id,
                    captured=Money(payment.refundable, payment.currency),
                )
        await self._release_all(work, order, drop_external=True)
        view = await self._move(work, order, OrderState.CHECKOUT)
        await work.carts.set_cart_locked(cart.id, False, self.clock.now())
        await self.carts.update_allocation(work, replace(cart, locked=False))
        return view

    async def cancel(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        order, cart = await self._locked(work, order_id, owner)
        check_order_transition(order.state, OrderState.CANCELLED)
        await self._release_all(work, order, drop_external=False)
        for payment in in_card_order(await work.payments.payments(order.cart_id)):
            if payment.refundable > 0:
                await self._refund(work, payment, payment.refundable, by_order=True)
        if not cart.locked:  # cancelled from Checkout: the cart is final as well
            await work.carts.set_cart_locked(cart.id, True, self.clock.now())
        return await self._move(work, order, OrderState.CANCELLED)

    async def _release_all(self, work: Work, order: Order, *, drop_external: bool) -> None:
        for payment in in_card_order(await work.payments.payments(order.cart_id)):
            if payment.authorized > 0:
                await self._cancel_authorization(work, payment, by_order=True)
            pending = [t for t in payment.transactions if t.state is TransactionState.PENDING]
            for tx in pending:
                await work.payments.update_transaction(
                    tx.id,
                    state=TransactionState.FAILURE,
                    error_code=CANCELLED,
                    now=self.clock.now(),
                )
            if drop_external and not payment.is_gift_card and payment.active:
                await work.payments.update_payment(
                    replace(payment, status=PaymentStatus.REMOVED, updated_at=self.clock.now())
                )

    async def _move(
        self,
        work: Work,
        order: Order,
        target: OrderState,
        *,
        snapshot: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> OrderView:
        moved = replace(
            order,
            state=target,
            version=order.version + 1,
            snapshot=order.snapshot if snapshot is None else snapshot,
            updated_at=self.clock.now(),
        )
        await work.orders.save_order(moved, expected_version=order.version)
        await self._event(
            work, f"Order{target.value}", moved, {"from": order.state.value, **(payload or {})}
        )
        return OrderView(moved, tuple(await work.payments.payments(order.cart_id)))
