"""Placing orders and moving them through their life cycle, with every cent reserved,
captured, released or refunded exactly once through the gift card provider.

Checkout → **Processing** reserves every gift card all or nothing (cards in a fixed order, so
two orders sharing cards never wait on each other in a cycle); back to **Checkout** releases;
**Completed** captures; **Cancelled** releases or refunds.

Placing never changes an amount the shopper saw: a card that no longer covers its share stops
it (409, naming the card), rather than the difference moving onto another method. Completing
never marks an order paid that its payments do not cover, unless the merchant says it settles
for less, and why.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.errors import (
    BusinessRuleViolation,
    CurrencyMismatch,
    DomainError,
    HoldNotActive,
    IllegalTransition,
    InvalidAmount,
    InvalidInput,
    RefundExceedsCapture,
)
from tender.domain.events import NewEvent
from tender.domain.ids import new_id
from tender.domain.money import Money
from tender.domain.orders import (
    Order,
    OrderState,
    PaymentStatus,
    TransactionState,
    TransactionType,
    check_order_transition,
)
from tender.domain.payments import (
    GIFT_CARD,
    GiftCardReservationFailed,
    GiftCardShortfall,
    OrderNotFound,
    Payment,
    PaymentIncomplete,
    PaymentMethodNotAllowed,
    PaymentNotFound,
    PaymentsShortOfTotal,
    Transaction,
    method_allowed,
)
from tender.domain.ports import Clock, ProviderCard
from tender.services.carts import Carts, CartView
from tender.services.external_payments import (
    Confirmation,
    ConfirmationRefused,
    ExternalMethod,
    PaymentAwaitingProvider,
    Redirect,
)

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


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


def missing_checkout_data(cart: Cart) -> list[tuple[str, str]]:
    problems = []
    if not cart.line_items:
        problems.append(("idCart", "the cart is empty"))
    if not cart.customer.get("email"):
        problems.append(("customer.email", "the customer's email is required"))
    if cart.shipping_address is None:
        problems.append(("shippingAddress", "a shipping address is required"))
    if cart.billing_address is None:
        problems.append(("billingAddress", "a billing address is required"))
    if cart.shipping_method_id is None:
        problems.append(("shipment.idShipmentMethod", "a shipment method is required"))
    return problems


class Orders:
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

    # --- placing ---------------------------------------------------------------------------

    async def place(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        reference: str | None = None,
        return_url: str | None = None,
        allowed: frozenset[str] | None = None,
        recompute: bool = False,
    ) -> Placed:
        """Reserve every gift card for exactly the amount allocated to it and start the
        external method for the rest. ``allowed`` limits the methods (a browser session's);
        ``recompute`` says this request itself changed the cart's data, so the allocation
        follows the new total, once every card is known to still cover its share."""
        cart = await self.carts.lock(work, cart_id=cart_id, owner=owner)
        existing = await work.store.order_by_cart(cart.id)
        if existing is not None and existing.state is not OrderState.CHECKOUT:
            raise OrderAlreadyPlaced(f"order {existing.reference} is {existing.state.value}")
        problems = missing_checkout_data(cart)
        if problems:
            raise CheckoutDataInvalid("; ".join(p[1] for p in problems), field=problems[0][0])
        if cart.shipping_method_id is not None:
            await self.carts.shipping_method(work, cart, cart.shipping_method_id)
        view = await self.carts.view(work, cart)
        found = await self._check_cards_cover(work, view)
        planned = sum(p.amount_planned for p in view.gift_cards if p.active)
        if recompute or planned > view.totals.grand_total:
            view = await self.carts.reallocate(work, cart, found=found)
        self._check_gift_cards_allowed(view, allowed)
        method = self._external_method(view, allowed)
        now = self.clock.now()

        await self._reserve_all(work, view)
        redirect = Redirect(None, False)
        if method is not None:
            payment = Payment(
                id=new_id(),
                cart_id=cart.id,
                method=method.name,
                provider=method.provider_name,
                status=PaymentStatus.ACTIVE,
                currency=cart.currency,
                amount_planned=view.totals.remaining,
                upper_limit=None,
                card_ref=None,
                card_last4=None,
                hold_ref=None,
                position=len(view.payments) + 1,
                created_at=now,
                updated_at=now,
            )
            await work.store.insert_payment(payment)
            await self._transaction(
                work,
                payment,
                TransactionType.AUTHORIZATION,
                payment.amount_planned,
                TransactionState.PENDING,
            )
            redirect = method.start(payment, return_url=return_url)

        snapshot = self._snapshot(view)
        if existing is None:
            order = Order(
                id=new_id(),
                reference=await self._reference_for(work, cart.id, reference),
                cart_id=cart.id,
                owner=cart.owner,
                state=OrderState.PROCESSING,
                version=1,
                currency=cart.currency,
                snapshot=snapshot,
                grand_total=view.totals.grand_total,
                created_at=now,
                updated_at=now,
            )
            await work.store.insert_order(order)
        else:
            check_order_transition(existing.state, OrderState.PROCESSING)
            order = replace(
                existing,
                state=OrderState.PROCESSING,
                version=existing.version + 1,
                snapshot=snapshot,
                grand_total=view.totals.grand_total,
                updated_at=now,
            )
            await work.store.save_order(order, expected_version=existing.version)
        await work.store.set_cart_locked(cart.id, True, now)
        await self._event(work, "OrderPlaced", order, {"grandTotal": order.grand_total})
        placed_view = await self.carts.view(work, replace(cart, locked=True))
        return Placed(order, placed_view, redirect)

    async def _check_cards_cover(self, work: Work, view: CartView) -> dict[str, ProviderCard]:
        """Every card's fresh balance still covers the amount the shopper saw it cover; the
        first that does not stops placing, named with what it can still cover. Answers the
        balances read, by card."""
        cards = [p for p in view.gift_cards if p.active]
        if not cards:
            return {}
        found = await work.provider.cards(refs=[p.card_ref or "" for p in cards])
        for payment in cards:
            card = found.get(payment.card_ref or "")
            can = max(card.available, 0) if card is not None else 0
            if can < payment.amount_planned:
                raise GiftCardShortfall(
                    f"gift card ****{payment.card_last4} now covers only "
                    f"{Money(can, payment.currency)} of the "
                    f"{Money(payment.amount_planned, payment.currency)} allocated to it; nothing "
                    "was reserved: apply the card again to see what each payment covers",
                    field="payments",
                )
        return found

    @staticmethod
    def _check_gift_cards_allowed(view: CartView, allowed: frozenset[str] | None) -> None:
        if method_allowed(GIFT_CARD, allowed):
            return
        if any(p.active and p.amount_planned > 0 for p in view.gift_cards):
            raise PaymentMethodNotAllowed(
                "this session does not allow gift cards; remove them first", field="payments"
            )

    def _external_method(
        self, view: CartView, allowed: frozenset[str] | None
    ) -> ExternalMethod | None:
        """The selected method for what the gift cards leave open; a selected method the
        merchant does not offer, or the session does not allow, is refused even when nothing
        is left open, so a refused choice never stays on an order."""
        cart, totals = view.cart, view.totals
        names = [str(p.get("paymentMethodName", "")).lower() for p in cart.payment_methods]
        for name in names:
            if name != GIFT_CARD and name not in self.methods:
                raise PaymentMethodNotAllowed(
                    f"{name} is not offered; use one of {', '.join([GIFT_CARD, *self.methods])}",
                    field="payments",
                )
            if not method_allowed(name, allowed):
                raise PaymentMethodNotAllowed(
                    f"this session does not allow {name}", field="payments"
                )
        if totals.remaining == 0:
            return None
        chosen = [self.methods[n] for n in names if n != GIFT_CARD]
        if not chosen:
            raise PaymentIncomplete(
                f"gift cards cover {Money(totals.gift_cards, cart.currency)}; select a payment "
                f"method for the remaining {Money(totals.remaining, cart.currency)}",
                field="payments",
            )
        return chosen[0]

    async def _reserve_all(self, work: Work, view: CartView) -> None:
        """Reserve every card's amount or none: on the first refusal, release what was taken
        (an external provider keeps no hold; the ledger's vanish with the rollback anyway)."""
        cards = sorted(
            (p for p in view.gift_cards if p.active and p.amount_planned > 0),
            key=lambda p: p.card_ref or "",
        )
        taken: list[str] = []
        try:
            for payment in cards:
                hold_ref = await work.provider.reserve(
                    ref=payment.card_ref or "",
                    amount=Money(payment.amount_planned, payment.currency),
                    reference=payment.id,
                    expires_in=self.payment_window,
                )
                taken.append(hold_ref)
                await work.store.update_payment(
                    replace(payment, hold_ref=hold_ref, updated_at=self.clock.now())
                )
                await self._transaction(
                    work,
                    payment,
                    TransactionType.AUTHORIZATION,
                    payment.amount_planned,
                    interaction_id=hold_ref,
                )
        except DomainError as error:
            for hold_ref in taken:
                try:
                    await work.provider.release(hold_ref=hold_ref)
                except DomainError:
                    pass
            failed = cards[len(taken)]
            raise GiftCardReservationFailed(
                f"gift card ****{failed.card_last4} could not be reserved: "
                f"{error.code}: {error.detail}",
                field="payments",
            ) from error

    def _snapshot(self, view: CartView) -> dict[str, Any]:
        cart, totals = view.cart, view.totals
        return {
            "lineItems": [
                {
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": line.quantity,
                    "unitGross": line.unit_gross,
                    "taxRateBp": line.tax_rate_bp,
                }
                for line in cart.line_items
            ],
            "customer": cart.customer,
            "shippingAddress": cart.shipping_address,
            "billingAddress": cart.billing_address,
            "shippingMethodId": cart.shipping_method_id,
            "totals": {
                "subtotal": totals.subtotal,
                "shipping": totals.shipping,
                "net": totals.net,
                "tax": totals.tax,
                "grandTotal": totals.grand_total,
                "giftCards": totals.gift_cards,
                "remaining": totals.remaining,
            },
        }

    async def _reference_for(self, work: Work, cart_id: str, wanted: str | None) -> str:
        """The new order's reference, decided here only: the merchant's own (unless another
        order or session has it), else the number a browser session promised for this cart
        (``futureOrderNumber``), else a fresh one."""
        promised = await work.store.future_order_number(cart_id)
        if wanted is None:
            return promised or self._reference()
        if wanted != promised and await work.store.order_number_taken(wanted):
            raise InvalidInput("the order reference is taken", field="orderReference")
        return wanted

    @staticmethod
    def _reference() -> str:
        return "TND-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))

    # --- life cycle ------------------------------------------------------------------------

    async def get(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        order = await self._owned(work, order_id, owner)
        return OrderView(order, tuple(await work.store.payments(order.cart_id)))

    async def _owned(self, work: Work, order_id: str, owner: str | None) -> Order:
        order = await work.store.order(order_id)
        if order is None:
            order = await work.store.order_by_reference(order_id)
        if order is None or (owner is not None and order.owner != owner):
            raise OrderNotFound()
        return order

    async def _locked(self, work: Work, order_id: str, owner: str | None) -> tuple[Order, Cart]:
        order = await self._owned(work, order_id, owner)
        cart = await self.carts.lock(work, cart_id=order.cart_id, owner=None)
        fresh = await work.store.order(order.id)
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
        payments = [p for p in await work.store.payments(order.cart_id) if p.active]
        for payment in payments:
            if not payment.is_gift_card and _awaiting_confirmation(payment):
                raise PaymentNotAuthorized(f"the {payment.method} payment is not confirmed")
        covered = sum(_covers(p) for p in payments)
        shortfall = order.grand_total - covered
        settlement: dict[str, Any] | None = None
        if shortfall > 0:
            if settle_for_less is None:
                raise PaymentsShortOfTotal(self._short(order, payments, covered))
            settlement = {"reason": settle_for_less, "shortfall": shortfall}
        for payment in payments:
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
            if _covers(payment) < payment.amount_planned:
                what = (
                    f"gift card ****{payment.card_last4}"
                    if payment.is_gift_card
                    else f"the {payment.method} payment"
                )
                return (
                    f"payment {payment.id} ({what}) covers {Money(_covers(payment), cur)} of "
                    f"its {Money(payment.amount_planned, cur)}: {total}{hint}"
                )
        return total + hint

    async def reopen(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        """Back to Checkout: every reservation is released and the cart can change again."""
        order, cart = await self._locked(work, order_id, owner)
        check_order_transition(order.state, OrderState.CHECKOUT)
        await self._release_all(work, order, drop_external=True)
        view = await self._move(work, order, OrderState.CHECKOUT)
        await work.store.set_cart_locked(cart.id, False, self.clock.now())
        await self.carts.reallocate(work, replace(cart, locked=False))
        return view

    async def cancel(self, work: Work, *, order_id: str, owner: str | None) -> OrderView:
        order, cart = await self._locked(work, order_id, owner)
        check_order_transition(order.state, OrderState.CANCELLED)
        await self._release_all(work, order, drop_external=False)
        for payment in await work.store.payments(order.cart_id):
            if payment.refundable > 0:
                await self._refund(work, payment, payment.refundable)
        if not cart.locked:  # cancelled from Checkout: the cart is final as well
            await work.store.set_cart_locked(cart.id, True, self.clock.now())
        return await self._move(work, order, OrderState.CANCELLED)

    async def _release_all(self, work: Work, order: Order, *, drop_external: bool) -> None:
        for payment in await work.store.payments(order.cart_id):
            if payment.authorized > 0:
                await self._cancel_authorization(work, payment)
            pending = [t for t in payment.transactions if t.state is TransactionState.PENDING]
            for tx in pending:
                await work.store.update_transaction(
                    tx.id,
                    state=TransactionState.FAILURE,
                    error_code="Cancelled",
                    now=self.clock.now(),
                )
            if drop_external and not payment.is_gift_card and payment.active:
                await work.store.update_payment(
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
        await work.store.save_order(moved, expected_version=order.version)
        await self._event(
            work, f"Order{target.value}", moved, {"from": order.state.value, **(payload or {})}
        )
        return OrderView(moved, tuple(await work.store.payments(order.cart_id)))

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
                # The reservation lapsed (expiry sweep): take the money again if it is still
                # there, otherwise refuse, naming the card; nothing is captured from a dead hold.
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
                        f"gift card ****{payment.card_last4}: its reservation expired and "
                        f"could not be renewed: {error.code}",
                        field="payments",
                    ) from error
                await work.store.update_payment(
                    replace(payment, hold_ref=hold_ref, updated_at=self.clock.now())
                )
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

    async def _cancel_authorization(self, work: Work, payment: Payment) -> None:
        if payment.is_gift_card and payment.hold_ref:
            try:
                await work.provider.release(hold_ref=payment.hold_ref)
            except HoldNotActive:
                pass  # already expired and swept: the money is back on the card
        await self._transaction(
            work,
            payment,
            TransactionType.CANCEL_AUTHORIZATION,
            payment.authorized,
            interaction_id=payment.hold_ref,
        )

    async def _refund(self, work: Work, payment: Payment, amount: int) -> None:
        if payment.is_gift_card:
            await work.provider.refund(
                ref=payment.card_ref or "",
                amount=Money(amount, payment.currency),
                reference=payment.id,
            )
        await self._transaction(work, payment, TransactionType.REFUND, amount)

    async def _payment_in_order(
        self, work: Work, payment_id: str, owner: str | None
    ) -> tuple[Payment, Order]:
        payment = await work.store.payment(payment_id)
        order = await work.store.order_by_cart(payment.cart_id) if payment else None
        if payment is None or order is None or (owner is not None and order.owner != owner):
            raise PaymentNotFound()
        await self.carts.lock(work, cart_id=payment.cart_id, owner=None)
        fresh = await work.store.payment(payment_id)
        assert fresh is not None
        return fresh, order

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
            raise InvalidAmount(f"at most {payment.authorized} can be captured", field="amount")
        await self._capture(work, payment, wanted)
        return await self._reload(work, payment)

    async def refund_payment(
        self, work: Work, *, payment_id: str, owner: str | None, amount: Money | None = None
    ) -> Payment:
        payment, _ = await self._payment_in_order(work, payment_id, owner)
        if payment.refundable <= 0:
            raise NothingToDo("nothing was captured, or it was all refunded")
        wanted = payment.refundable if amount is None else self._amount(payment, amount)
        if wanted > payment.refundable:
            raise RefundExceedsCapture(
                f"at most {payment.refundable} can be refunded", field="amount"
            )
        await self._refund(work, payment, wanted)
        return await self._reload(work, payment)

    async def cancel_payment(self, work: Work, *, payment_id: str, owner: str | None) -> Payment:
        payment, _ = await self._payment_in_order(work, payment_id, owner)
        if payment.authorized <= 0:
            raise NothingToDo("there is no open authorization to cancel")
        await self._cancel_authorization(work, payment)
        return await self._reload(work, payment)

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
        pending = [
            t
            for t in payment.transactions
            if t.type is TransactionType.AUTHORIZATION and t.state is TransactionState.PENDING
        ]
        if order.state is not OrderState.PROCESSING or not pending:
            raise NothingToDo("the payment is not waiting for a confirmation")
        method.verify(payment, payload)
        await work.store.update_transaction(
            pending[0].id, state=TransactionState.SUCCESS, error_code=None, now=self.clock.now()
        )
        await self._event(work, "PaymentAuthorized", order, {"paymentId": payment.id})
        return await self._reload(work, payment)

    @staticmethod
    def _acknowledge(payment: Payment) -> Payment:
        states = {t.state for t in payment.transactions if t.type is TransactionType.AUTHORIZATION}
        if TransactionState.SUCCESS in states:
            return payment
        if TransactionState.PENDING in states:
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
        pending = [t for t in auths if t.state is TransactionState.PENDING]
        if not pending and any(t.state is target for t in auths):
            return payment
        if order.state is not OrderState.PROCESSING or not pending:
            raise NothingToDo("the payment is not waiting for a confirmation")
        await work.store.update_transaction(
            pending[0].id,
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

    @staticmethod
    def _amount(payment: Payment, amount: Money) -> int:
        money = Money.of(amount.minor, amount.currency)
        if money.currency != payment.currency:
            raise CurrencyMismatch(payment.currency, money.currency, field="amount.currency")
        return money.minor

    async def _reload(self, work: Work, payment: Payment) -> Payment:
        fresh = await work.store.payment(payment.id)
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
    ) -> None:
        now = self.clock.now()
        await work.store.insert_transaction(
            Transaction(
                id=new_id(),
                payment_id=payment.id,
                type=kind,
                state=state,
                amount=amount,
                currency=payment.currency,
                interaction_id=interaction_id,
                error_code=None,
                created_at=now,
                updated_at=now,
            )
        )
        cart = await work.store.get_cart(payment.cart_id)
        await work.store.append_events(
            [
                NewEvent(
                    "PaymentTransactionAdded",
                    "payment",
                    payment.id,
                    cart.owner if cart else None,
                    {
                        "type": kind.value,
                        "state": state.value,
                        "amount": amount,
                        "currency": payment.currency,
                        "cartId": payment.cart_id,
                    },
                )
            ],
            correlation_id=work.correlation_id,
            now=now,
        )

    async def _event(self, work: Work, kind: str, order: Order, payload: dict[str, Any]) -> None:
        await work.store.append_events(
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


def _awaiting_confirmation(payment: Payment) -> bool:
    return any(
        t.type is TransactionType.AUTHORIZATION and t.state is TransactionState.PENDING
        for t in payment.transactions
    )


def _covers(payment: Payment) -> int:
    """What a payment still brings to its order: open authorizations and captures not
    refunded (a cancelled or released authorization brings nothing)."""
    return payment.authorized + payment.charged - payment.total_refunded
