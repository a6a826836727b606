"""Carts, their totals, and the gift cards on them (the Norce/Awardit split-tender rules).

Every change to a cart or its payments locks the cart first, so concurrent requests on one
cart apply one after the other, and ends by recomputing the gift card allocation so what the
shopper sees is always ``allocate(total, cards in order)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tender.domain.allocation import allocate
from tender.domain.cart import (
    AddLineItem,
    Cart,
    CartAction,
    CartNotFound,
    SetPaymentMethod,
    SetShippingMethod,
    apply_actions,
    check_cart_total,
    new_line,
)
from tender.domain.checkout_ports import StaleWrite, Work
from tender.domain.codes import Hasher
from tender.domain.customers import Customer, check_country, check_email
from tender.domain.errors import Conflict, IllegalTransition, InvalidInput
from tender.domain.events import NewEvent
from tender.domain.ids import new_id
from tender.domain.money import check_currency
from tender.domain.orders import PaymentStatus
from tender.domain.ownership import visible
from tender.domain.payments import (
    GIFT_CARD,
    Payment,
    PaymentMethodNotAllowed,
    PaymentNotFound,
    method_allowed,
    select_payment_methods,
)
from tender.domain.ports import Clock, ProviderCard
from tender.domain.redemption import RedeemedPaymentKept
from tender.domain.shipping import ShippingMethod, ShippingMethodNotFound, check_applicable
from tender.domain.shoppers import cart_shopper
from tender.domain.totals import Totals, compute_totals
from tender.services.card_payments import (
    card_payment,
    check_card_can_pay,
    check_card_fits,
    fresh_balances,
)


class CartLocked(IllegalTransition):
    code = "CartLocked"
    message = (
        "The cart's order has been placed; only reopening it, while it is open, unlocks the cart."
    )


class StaleVersion(Conflict):
    code = "ConcurrentModification"
    message = "The cart was changed by someone else; fetch it and retry with its version."

    def __init__(self, current: int) -> None:
        super().__init__(f"the cart's current version is {current}", field="version")
        self.current_version = current


@dataclass(frozen=True, slots=True)
class CartView:
    """What a client needs to draw a cart: the cart, its money and its payments."""

    cart: Cart
    totals: Totals
    shipping_method: ShippingMethod | None
    payments: tuple[Payment, ...]

    @property
    def gift_cards(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.payments if p.is_gift_card)


def owned(cart: Cart | None, owner: str | None) -> Cart:
    """The cart if the caller may see it; otherwise the same 404 as for a cart that does not
    exist, so ids of other merchants' carts cannot be probed."""
    if not visible(cart, owner):
        raise CartNotFound()
    return cart


class Carts:
    def __init__(
        self, clock: Clock, *, payment_methods: Sequence[str], hasher: Hasher | None = None
    ) -> None:
        self.clock = clock
        self.hasher = hasher
        """Hashes a guest's anonymous id; without one, carts cannot have guests."""
        self.payment_methods = tuple(payment_methods)
        """What the merchant offers, gift cards included, in the order clients list them."""

    def payment_method_names(self, allowed: frozenset[str] | None = None) -> list[str]:
        """The methods the merchant offers, narrowed to what ``allowed`` (a browser session's
        ``allowedPaymentMethods``) permits."""
        return [n for n in self.payment_methods if method_allowed(n, allowed)]

    async def create(
        self,
        work: Work,
        *,
        owner: str,
        currency: str,
        country: str,
        customer_email: str | None = None,
        lines: list[AddLineItem] | None = None,
        anonymous_id: str | None = None,
        customer_id: str | None = None,
    ) -> CartView:
        """``anonymous_id`` and ``customer_id`` name the Glue guest and customer who may
        check the cart out (``domain.shoppers``); the merchant's backend sets them here only."""
        now = self.clock.now()
        customer = Customer(email=check_email(customer_email) if customer_email else None)
        shopper = cart_shopper(anonymous_id, customer_id, self.guest_hash)
        line_items = tuple(new_line(a) for a in lines or ())
        check_cart_total(sum(line.priced().gross for line in line_items), currency)
        cart = Cart(
            id=new_id(),
            version=1,
            owner=owner,
            locked=False,
            currency=check_currency(currency),
            country=check_country(country),
            customer=customer,
            line_items=line_items,
            shipping_address=None,
            billing_address=None,
            shipping_method_id=None,
            payment_methods=(),
            created_at=now,
            updated_at=now,
            **shopper,
        )
        await work.carts.insert_cart(cart)
        await self.event(work, "CartCreated", cart, {"version": cart.version})
        return await self.view(work, cart)

    def guest_hash(self, anonymous_id: str) -> bytes:
        if self.hasher is None:
            raise TypeError("carts with guests need a hasher")
        return self.hasher.secret("guest:" + anonymous_id)

    async def get(self, work: Work, *, cart_id: str, owner: str | None) -> CartView:
        cart = owned(await work.carts.get_cart(cart_id), owner)
        return await self.view(work, cart)

    async def lock(self, work: Work, *, cart_id: str, owner: str | None) -> Cart:
        return owned(await work.carts.get_cart(cart_id, lock=True, owner=owner), owner)

    async def update(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        version: int,
        actions: list[CartAction],
    ) -> CartView:
        """Apply every action or none, under optimistic versioning (409 with the version)."""
        cart = await self.lock(work, cart_id=cart_id, owner=owner)
        if cart.version != version:
            raise StaleVersion(cart.version)
        if cart.locked:
            raise CartLocked()
        if not actions:
            raise InvalidInput("at least one action is required", field="actions")
        updated = apply_actions(cart, [self._offered(a) for a in actions], self.clock.now())
        for action in actions:
            if isinstance(action, SetShippingMethod) and action.shipping_method_id is not None:
                await self.shipping_method(work, updated, action.shipping_method_id)
        try:
            await work.carts.save_cart(updated, expected_version=cart.version)
        except StaleWrite as error:
            raise StaleVersion(cart.version) from error
        await self.event(
            work,
            "CartUpdated",
            updated,
            {
                "version": updated.version,
                "actions": [type(a).__name__ for a in actions],
            },
        )
        await self.update_allocation(work, updated)
        return await self.view(work, updated)

    def _offered(self, action: CartAction) -> CartAction:
        """A payment method is chosen by the rules every route keeps: one the merchant offers
        (the cart API is the merchant's backend, so no session narrows them)."""
        if isinstance(action, SetPaymentMethod) and action.selection is not None:
            names = self.payment_method_names()
            (selection,) = select_payment_methods([action.selection], names, "paymentMethod")
            return SetPaymentMethod(selection)
        return action

    async def shipping_method(self, work: Work, cart: Cart, method_id: int) -> ShippingMethod:
        method = await work.shipping.shipping_method(method_id)
        if method is None or not method.active:
            raise ShippingMethodNotFound(field="shippingMethodId")
        check_applicable(method, currency=cart.currency, country=self.ship_to(cart))
        return method

    @staticmethod
    def ship_to(cart: Cart) -> str:
        address = cart.shipping_address
        return address.country if address is not None and address.country else cart.country

    async def fitting_shipping_methods(self, work: Work, cart: Cart) -> list[ShippingMethod]:
        country = self.ship_to(cart)
        return [
            m
            for m in await work.shipping.shipping_methods()
            if m.fits(currency=cart.currency, country=country)
        ]

    # --- money -----------------------------------------------------------------------------

    async def totals(
        self, work: Work, cart: Cart, gift_cards: int = 0
    ) -> tuple[Totals, ShippingMethod | None]:
        lines = [line.priced() for line in cart.line_items]
        subtotal = sum(line.gross for line in lines)
        method = None
        if cart.shipping_method_id is not None:
            method = await work.shipping.shipping_method(cart.shipping_method_id)
        shipping = method.priced(subtotal) if method else None
        grand = subtotal + (shipping.gross if shipping else 0)
        return compute_totals(cart.currency, lines, shipping, min(gift_cards, grand)), method

    async def view(self, work: Work, cart: Cart) -> CartView:
        payments = await work.payments.payments(cart.id)
        covered = sum(p.amount_planned for p in payments if p.is_gift_card and p.active)
        totals, method = await self.totals(work, cart, covered)
        return CartView(cart, totals, method, tuple(payments))

    async def update_allocation(
        self,
        work: Work,
        cart: Cart,
        *,
        found: dict[str, ProviderCard] | None = None,
        added: Payment | None = None,
    ) -> None:
        """Recompute what each gift card covers from fresh balances (only while the cart can
        change: once placed, the reserved amounts are what the order pays with). Placing does
        not call this blindly: it first checks that every card still covers what was shown,
        and hands over the balances it ``found`` then, so they are read once. A card being
        ``added`` is allocated with the others and written once. Redeemed cards keep their
        amounts: the others share what those leave open."""
        if cart.locked:
            return
        totals, _ = await self.totals(work, cart)
        check_cart_total(totals.grand_total, cart.currency)  # else the unit rolls back
        cards = [p for p in await work.payments.payments(cart.id) if p.is_gift_card and p.active]
        fixed = sum(p.amount_planned for p in cards if p.redeemed)
        active = [p for p in cards if not p.redeemed]
        if added is not None:
            active.append(added)
        now = self.clock.now()
        balances = await fresh_balances(work, active, found or {}, now)
        changed: list[Payment] = []
        open_total = max(totals.grand_total - fixed, 0)
        for payment, share in zip(active, allocate(open_total, balances), strict=True):
            if (payment.amount_planned, payment.upper_limit) != (share.amount, share.upper_limit):
                moved = replace(payment, amount_planned=share.amount, upper_limit=share.upper_limit)
                changed.append(replace(moved, updated_at=now))
        if added is not None:
            allocated = next((p for p in changed if p.id == added.id), added)
            await work.payments.insert_payment(allocated)
            await work.payments.update_payments([p for p in changed if p.id != added.id])
        else:
            await work.payments.update_payments(changed)
        if changed:
            await self.event(work, "GiftCardAllocationChanged", cart, {})

    # --- gift cards on the cart ------------------------------------------------------------

    async def add_gift_card(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        code: str,
        pin: str | None,
        allowed: frozenset[str] | None = None,
    ) -> tuple[CartView, Payment]:
        """Verify code and PIN (a wrong PIN counts towards the lockout), then keep only the
        card's reference and what it covers. ``allowed`` is a browser session's
        ``allowedPaymentMethods``: without ``giftcard`` no code is even looked at."""
        cart = await self.lock(work, cart_id=cart_id, owner=owner)
        card, payments = await self._verified_card(work, cart, code, pin, allowed)
        payment = await self._card_payment(work, cart, card, payments)
        await self.update_allocation(work, cart, found={card.ref: card}, added=payment)
        view = await self.view(work, cart)
        return view, next(p for p in view.payments if p.id == payment.id)

    async def apply_gift_card(
        self,
        work: Work,
        cart: Cart,
        *,
        code: str,
        pin: str | None,
        allowed: frozenset[str] | None = None,
    ) -> Payment | None:
        """A card a checkout document names, on ``cart`` (locked by the caller, perhaps changed
        and not written yet): verified exactly as ``add_gift_card`` does, and added covering
        nothing yet, for the caller to allocate once for all its cards. A card already on
        the cart adds nothing (``None``): a document sent again must not pay twice with it."""
        card, payments = await self._verified_card(work, cart, code, pin, allowed)
        if any(p.is_gift_card and p.active and p.card_ref == card.ref for p in payments):
            return None
        payment = await self._card_payment(work, cart, card, payments)
        await work.payments.insert_payment(payment)
        return payment

    async def _verified_card(
        self, work: Work, cart: Cart, code: str, pin: str | None, allowed: frozenset[str] | None
    ) -> tuple[ProviderCard, list[Payment]]:
        """The card behind ``code`` and ``pin``, and the cart's payments so far."""
        if cart.locked:
            raise CartLocked()
        if not method_allowed(GIFT_CARD, allowed):
            raise PaymentMethodNotAllowed("this session does not allow gift cards", field="code")
        card = await work.provider.authenticate(code=code, pin=pin)
        return card, list(await work.payments.payments(cart.id))

    async def _card_payment(
        self, work: Work, cart: Cart, card: ProviderCard, payments: list[Payment]
    ) -> Payment:
        """The card's new payment, if it may join the others, and its event."""
        position, now = len(payments) + 1, self.clock.now()
        check_card_fits(cart, card, payments)
        check_card_can_pay(card, now)
        payment = card_payment(cart, card, provider=work.provider.name, position=position, now=now)
        await self.event(
            work, "GiftCardAdded", cart, {"paymentId": payment.id, "card": f"****{card.last4}"}
        )
        return payment

    async def remove_gift_card(
        self, work: Work, *, cart_id: str, owner: str | None, payment_id: str
    ) -> CartView:
        """A soft delete: the payment stays, marked removed; adding the card again makes a new
        payment (as in the Norce adapter)."""
        cart = await self.lock(work, cart_id=cart_id, owner=owner)
        if cart.locked:
            raise CartLocked()
        payment = await work.payments.payment(payment_id)
        if payment is None or payment.cart_id != cart.id or not payment.is_gift_card:
            raise PaymentNotFound()
        if not payment.active:
            raise IllegalTransition("the gift card was already removed")
        if payment.already_reserved:
            raise RedeemedPaymentKept(field="paymentId")
        now = self.clock.now()
        await work.payments.update_payment(
            replace(payment, status=PaymentStatus.REMOVED, amount_planned=0, updated_at=now)
        )
        await self.event(work, "GiftCardRemoved", cart, {"paymentId": payment.id})
        await self.update_allocation(work, cart)
        return await self.view(work, cart)

    async def event(
        self,
        work: Work,
        kind: str,
        cart: Cart,
        payload: dict[str, Any],
        *,
        object_type: str = "cart",
        object_id: str | None = None,
    ) -> None:
        await work.events.append_events(
            [
                NewEvent(
                    kind,
                    object_type,
                    object_id or cart.id,
                    cart.owner,
                    {"cartId": cart.id, **payload},
                )
            ],
            correlation_id=work.correlation_id,
            now=self.clock.now(),
        )
