"""Placing: Checkout → Processing. Every gift card is reserved for exactly the amount the
shopper saw it cover, all or nothing (cards in a fixed order, so two orders sharing cards never
wait on each other in a cycle), and the external method starts for the rest. Placing never
changes an amount the shopper saw: a card that no longer covers its share stops it (409,
naming the card), rather than the difference moving onto another method.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.errors import (
    DomainError,
    InvalidInput,
)
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
    Payment,
    PaymentIncomplete,
    PaymentMethodNotAllowed,
    in_card_order,
    method_allowed,
)
from tender.domain.ports import ProviderCard
from tender.domain.redemption import RedeemedBeyondTotal
from tender.faults import crash_point
from tender.services.carts import CartView
from tender.services.external_payments import (
    ExternalMethod,
    Redirect,
)
from tender.services.orders.base import (
    CheckoutDataInvalid,
    OrderAlreadyPlaced,
    OrderService,
    Placed,
)
from tender.services.orders.snapshot import order_snapshot

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def missing_checkout_data(cart: Cart) -> list[tuple[str, str]]:
    problems = []
    if not cart.line_items:
        problems.append(("lineItems", "the cart is empty"))
    if not cart.customer.email:
        problems.append(("customer.email", "the customer's email is required"))
    if cart.shipping_address is None:
        problems.append(("shippingAddress", "a shipping address is required"))
    if cart.billing_address is None:
        problems.append(("billingAddress", "a billing address is required"))
    if cart.shipping_method_id is None:
        problems.append(("shippingMethodId", "a shipment method is required"))
    return problems


class Placing(OrderService):
    async def place(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        reference: str | None = None,
        return_url: str | None = None,
        allowed: frozenset[str] | None = None,
        unsaved: Cart | None = None,
    ) -> Placed:
        """Reserve every gift card for exactly the amount allocated to it and start the
        external method for the rest. ``allowed`` limits the methods (a browser session's).
        ``unsaved`` is the cart as this unit of work changed its data without writing it yet:
        it is written with the lock flag, and the allocation follows its new total, once
        every card is known to still cover its share."""
        stored = await self.carts.lock(work, cart_id=cart_id, owner=owner)
        if unsaved is not None and unsaved.id != stored.id:
            raise ValueError("the unsaved cart is not the cart being placed")
        cart = stored if unsaved is None else unsaved
        existing = await self._placeable(work, cart)
        view = await self._allocated(work, cart, recompute=unsaved is not None)
        self._check_gift_cards_allowed(view, allowed)
        method = self._external_method(view, allowed)
        now = self.clock.now()
        await self._reserve_all(work, view)
        redirect = Redirect(None, False)
        if method is not None:
            redirect = await self._start_external(work, view, method, return_url, now)
        order = await self._record_order(work, view, existing, reference, now)
        locked = replace(cart, locked=True, version=cart.version + 1, updated_at=now)
        await work.carts.save_cart(locked, expected_version=stored.version)
        await self._event(work, "OrderPlaced", order, {"grandTotal": order.grand_total})
        placed_view = await self.carts.view(work, locked)
        return Placed(order, placed_view, redirect)

    async def _placeable(self, work: Work, cart: Cart) -> Order | None:
        """The locked cart's order if it was placed before and reopened: refused unless it is
        in Checkout with complete checkout data."""
        existing = await work.orders.order_by_cart(cart.id)
        if existing is not None and existing.state is not OrderState.CHECKOUT:
            raise OrderAlreadyPlaced(
                "order {reference} is {state}",
                reference=existing.reference,
                state=existing.state.value,
            )
        problems = missing_checkout_data(cart)
        if problems:
            raise CheckoutDataInvalid.all_of(
                [CheckoutDataInvalid(text, field=field) for field, text in problems]
            )
        if cart.shipping_method_id is not None:
            await self.carts.shipping_method(work, cart, cart.shipping_method_id)
        return existing

    async def _allocated(self, work: Work, cart: Cart, *, recompute: bool) -> CartView:
        """The cart's view once every card is known to still cover its share; the cards are
        allocated again if the request changed the cart or they plan more than its total."""
        view = await self.carts.view(work, cart)
        if await self._lapsed_redemptions(work, view):
            view = await self.carts.view(work, cart)
        found = await self._check_cards_cover(work, view)
        cards = [p for p in view.gift_cards if p.active]
        if sum(p.amount_planned for p in cards if p.redeemed) > view.totals.grand_total:
            raise RedeemedBeyondTotal(field="payments")
        planned = sum(p.amount_planned for p in cards)
        if recompute or planned > view.totals.grand_total:
            await self.carts.update_allocation(work, cart, found=found)
            view = await self.carts.view(work, cart)
        return view

    async def _start_external(
        self,
        work: Work,
        view: CartView,
        method: ExternalMethod,
        return_url: str | None,
        now: datetime,
    ) -> Redirect:
        """A payment of the external method for what the gift cards leave open, its
        authorization pending until the method's confirmation."""
        cart = view.cart
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
        await work.payments.insert_payment(payment)
        await self._transaction(
            work,
            payment,
            TransactionType.AUTHORIZATION,
            payment.amount_planned,
            TransactionState.PENDING,
        )
        return method.start(payment, return_url=return_url)

    async def _record_order(
        self,
        work: Work,
        view: CartView,
        existing: Order | None,
        reference: str | None,
        now: datetime,
    ) -> Order:
        """A new order in Processing, or the reopened one moved back to Processing, with the
        cart as placed."""
        cart, totals = view.cart, view.totals
        snapshot = order_snapshot(view)
        if existing is not None:
            check_order_transition(existing.state, OrderState.PROCESSING)
            order = replace(
                existing,
                state=OrderState.PROCESSING,
                version=existing.version + 1,
                snapshot=snapshot,
                grand_total=totals.grand_total,
                updated_at=now,
            )
            await work.orders.save_order(order, expected_version=existing.version)
            return order
        order = Order(
            id=new_id(),
            reference=await self._reference_for(work, cart, reference),
            cart_id=cart.id,
            owner=cart.owner,
            state=OrderState.PROCESSING,
            version=1,
            currency=cart.currency,
            snapshot=snapshot,
            grand_total=totals.grand_total,
            created_at=now,
            updated_at=now,
        )
        await work.orders.insert_order(order)
        return order

    async def _lapsed_redemptions(self, work: Work, view: CartView) -> bool:
        """A redemption whose hold lapsed before placing (it expired, the sweep gave the money
        back) holds nothing: its authorization is recorded as ended, so that placing reserves
        it again like any card (or names the shortfall) instead of counting money it lacks."""
        holding = [
            p
            for p in view.gift_cards
            if p.active and p.redeemed and p.authorized > 0 and p.hold_ref
        ]
        if not holding:
            return False
        reserving = [p for p in view.gift_cards if p.active and not p.already_reserved]
        if reserving:
            # Ending a lapsed redemption takes its card, and reserving takes the others after
            # it: all of them first, in their order, as every unit takes cards.
            await work.provider.lock(refs=[p.card_ref or "" for p in holding + reserving])
        lapsed = await work.provider.lapsed(hold_refs=[p.hold_ref or "" for p in holding])
        for payment in holding:
            if payment.hold_ref in lapsed:
                await self._transaction(
                    work,
                    payment,
                    TransactionType.CANCEL_AUTHORIZATION,
                    payment.authorized,
                    interaction_id=payment.hold_ref,
                    error_code="ReservationExpired",
                )
        return bool(lapsed)

    async def _check_cards_cover(self, work: Work, view: CartView) -> dict[str, ProviderCard]:
        """Every card's fresh balance still covers the amount the shopper saw it cover; the
        first that does not stops placing, named with what it can still cover. Answers the
        balances read, by card. A redeemed card still holding its money needs no check."""
        cards = [p for p in view.gift_cards if p.active and not p.already_reserved]
        if not cards:
            return {}
        found = await work.provider.cards(refs=[p.card_ref or "" for p in cards])
        for payment in cards:
            card = found.get(payment.card_ref or "")
            can = max(card.available, 0) if card is not None else 0
            if can < payment.amount_planned:
                raise GiftCardShortfall(
                    "gift card ****{last4} now covers only {covers} of the {allocated} "
                    "allocated to it; nothing was reserved: apply the card again to see what "
                    "each payment covers",
                    field="payments",
                    last4=payment.card_last4,
                    covers=Money(can, payment.currency),
                    allocated=Money(payment.amount_planned, payment.currency),
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
        names = [selection.method for selection in cart.payment_methods]
        for name in names:
            if name != GIFT_CARD and name not in self.methods:
                raise PaymentMethodNotAllowed(
                    "{method} is not offered; use one of {methods}",
                    field="paymentMethods",
                    method=name,
                    methods=", ".join([GIFT_CARD, *self.methods]),
                )
            if not method_allowed(name, allowed):
                raise PaymentMethodNotAllowed(
                    "this session does not allow {method}", field="paymentMethods", method=name
                )
        if totals.remaining == 0:
            return None
        chosen = [self.methods[n] for n in names if n != GIFT_CARD]
        if not chosen:
            raise PaymentIncomplete(
                "gift cards cover {covered}; select a payment method for the remaining {remaining}",
                field="paymentMethods",
                covered=Money(totals.gift_cards, cart.currency),
                remaining=Money(totals.remaining, cart.currency),
            )
        return chosen[0]

    async def _reserve_all(self, work: Work, view: CartView) -> None:
        """Reserve every card's amount or none: on the first refusal, release what was taken
        (an external provider keeps no hold; the ledger's vanish with the rollback anyway). A
        redeemed card keeps the hold it took when it was redeemed."""
        cards = in_card_order(
            p
            for p in view.gift_cards
            if p.active and p.amount_planned > 0 and not p.already_reserved
        )
        taken: list[str] = []
        held: list[Payment] = []
        try:
            for payment in cards:
                hold_ref = await work.provider.reserve(
                    ref=payment.card_ref or "",
                    amount=Money(payment.amount_planned, payment.currency),
                    reference=payment.id,
                    expires_in=self.payment_window,
                )
                taken.append(hold_ref)
                crash_point("money_reserved")
                held.append(replace(payment, hold_ref=hold_ref, updated_at=self.clock.now()))
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
                "gift card ****{last4} could not be reserved: {reason}",
                field="payments",
                last4=failed.card_last4,
                reason=error,
            ) from error
        await work.payments.update_payments(held)  # the hold references, all in one write

    async def _reference_for(self, work: Work, cart: Cart, wanted: str | None) -> str:
        """The new order's reference, decided here only: the merchant's own (unless another
        of its orders or sessions has it), else the number a browser session promised for
        this cart (``futureOrderNumber``), else a fresh one."""
        promised = await work.sessions.future_order_number(cart.id)
        if wanted is None:
            return promised or self._reference()
        if wanted != promised and not await work.orders.take_order_number(cart.owner, wanted):
            raise InvalidInput("the order reference is taken", field="orderReference")
        return wanted

    @staticmethod
    def _reference() -> str:
        return "TND-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))
