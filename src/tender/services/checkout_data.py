"""Checkout data for a cart, all of it in one request: customer, addresses, shipping method and
payment method selection (what Spryker's Glue API sends; ``tender.api.compat.spryker``
translates). Valid data is stored all together; invalid data changes nothing and every invalid
field is reported."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.countries import check_postal_code
from tender.domain.customers import Address, Customer, check_address, check_email
from tender.domain.errors import DomainError, InvalidInput
from tender.domain.payments import PaymentMethodSelection, select_payment_methods
from tender.services.carts import CartLocked, Carts

ADDRESS_NAMESPACE = uuid.UUID("5d3c3f3e-6a53-4c5e-9d1e-7e2a4b0f2a10")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AddressRef:
    """One of the cart's own addresses, by the id ``stored_addresses`` gave it."""

    id: str


@dataclass(frozen=True, slots=True)
class CheckoutData:
    """What a request carries; ``None`` leaves that part of the cart as it is."""

    customer: Customer | None = None
    billing_address: Address | AddressRef | None = None
    shipping_address: Address | AddressRef | None = None
    shipping_method_id: int | None = None
    payment_methods: tuple[PaymentMethodSelection, ...] | None = None


@dataclass(frozen=True, slots=True)
class StoredAddress:
    id: str
    kind: str
    """``shipping`` or ``billing``."""
    address: Address


def address_id(cart_id: str, kind: str) -> str:
    """Stable ids for the addresses a cart holds, so clients can send ``{"id": …}`` back."""
    return str(uuid.uuid5(ADDRESS_NAMESPACE, f"{cart_id}/{kind}"))


def stored_addresses(cart: Cart) -> list[StoredAddress]:
    found = []
    for kind, address in (("shipping", cart.shipping_address), ("billing", cart.billing_address)):
        if address is not None:
            found.append(StoredAddress(address_id(cart.id, kind), kind, address))
    return found


@dataclass(slots=True)
class _Changes:
    """The changes a request asks for, and every error found on the way."""

    cart: Cart
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[DomainError] = field(default_factory=list)
    refused_destination: str | None = None
    """The country of a shipping address this request sent and was refused: a shipping
    method is checked against where the shopper asked to ship, not the cart's old address."""

    def attempt(self, attribute: str, check: Callable[[], T]) -> None:
        try:
            self.values[attribute] = check()
        except DomainError as error:
            self.errors.append(error)


def _checked_address(address: Address, field: str) -> Address:
    """An address for an order, its postal code as its country's post writes them."""
    checked = check_address(address, field)
    check_postal_code(checked.country or "", checked.postal_code or "", f"{field}.postalCode")
    return checked


class CheckoutDataService:
    def __init__(self, carts: Carts) -> None:
        self.carts = carts

    async def store(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        data: CheckoutData,
        allowed: frozenset[str] | None = None,
        write: bool = True,
    ) -> tuple[Cart, bool]:
        """Validate and store ``data``; the cart afterwards and whether it changed. The gift
        cards are not re-allocated here: placing checks and allocates them itself, and a page
        that only posts data re-allocates to show what each card covers now. ``write=False``
        leaves writing the changed cart to the caller, in the same unit of work: placing
        writes it together with its lock flag, one statement instead of two."""
        cart = await self.carts.lock(work, cart_id=cart_id, owner=owner)
        if cart.locked:
            raise CartLocked()
        changes = _Changes(cart)
        self._customer(changes, data.customer)
        self._address(changes, "billing", data.billing_address)
        self._address(changes, "shipping", data.shipping_address)
        if data.payment_methods is not None:
            usable = self.carts.payment_method_names(allowed)
            chosen = data.payment_methods
            changes.attempt(
                "payment_methods",
                lambda: select_payment_methods(chosen, usable, "paymentMethods"),
            )
        if data.shipping_method_id is not None:
            await self._shipping_method(work, changes, data.shipping_method_id)
        elif cart.shipping_method_id is not None and not changes.errors:
            await self._keep_shipping_method(work, changes, cart.shipping_method_id)
        if changes.errors:
            raise DomainError.all_of(changes.errors)
        values = {k: v for k, v in changes.values.items() if getattr(cart, k) != v}
        if not values:
            return cart, False
        updated = replace(
            cart, **values, version=cart.version + 1, updated_at=self.carts.clock.now()
        )
        if write:
            await work.carts.save_cart(updated, expected_version=cart.version)
        await self.carts.event(work, "CheckoutDataUpdated", updated, {"fields": sorted(values)})
        return updated, True

    @staticmethod
    def _customer(changes: _Changes, customer: Customer | None) -> None:
        if customer is None:
            return
        email = customer.email
        if not email:
            changes.errors.append(
                InvalidInput("the customer's email is required", field="customer.email")
            )
            return
        changes.attempt(
            "customer",
            lambda: changes.cart.customer.updated(
                replace(customer, email=check_email(email, "customer.email"))
            ),
        )

    @staticmethod
    def _address(changes: _Changes, kind: str, given: Address | AddressRef | None) -> None:
        field = f"{kind}Address"
        if isinstance(given, Address):
            before = len(changes.errors)
            changes.attempt(f"{kind}_address", lambda: _checked_address(given, field))
            if kind == "shipping" and len(changes.errors) > before:
                changes.refused_destination = given.country or None
        elif isinstance(given, AddressRef):
            known = {a.id: a.address for a in stored_addresses(changes.cart)}
            if given.id in known:
                changes.values[f"{kind}_address"] = known[given.id]
            else:
                changes.errors.append(InvalidInput("no address with this id", field=f"{field}.id"))

    async def _keep_shipping_method(self, work: Work, changes: _Changes, method_id: int) -> None:
        """A new destination the chosen method does not ship to unselects it: the answer says
        so (no method selected, no shipping in the totals), and placing asks for one, where
        keeping it showed a method and a price that placing would refuse."""
        draft = replace(changes.cart, **changes.values)
        if self.carts.ship_to(draft) == self.carts.ship_to(changes.cart):
            return
        try:
            await self.carts.shipping_method(work, draft, method_id)
        except DomainError:
            changes.values["shipping_method_id"] = None

    async def _shipping_method(self, work: Work, changes: _Changes, method_id: int) -> None:
        """Checked against the destination the request itself may have just set (or tried
        to: a refused country is named, and so is the method that cannot ship there)."""
        draft = replace(changes.cart, **changes.values)
        if changes.refused_destination is not None:
            draft = replace(draft, shipping_address=None, country=changes.refused_destination)
        try:
            method = await self.carts.shipping_method(work, draft, method_id)
        except DomainError as error:
            error.field = "shippingMethodId"
            changes.errors.append(error)
        else:
            changes.values["shipping_method_id"] = method.id
