"""Checkout data as the Spryker Glue API sends it: customer, addresses, shipment and payment
method selection for a cart. Valid data is stored all together; invalid data changes nothing
and every invalid field is reported."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from tender.domain.cart import Cart, check_address, check_email
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, InvalidInput
from tender.domain.payments import GIFT_CARD, PaymentMethodNotAllowed, method_allowed
from tender.services.carts import CartLocked, Carts, CartView
from tender.services.external_payments import ExternalMethod

ADDRESS_NAMESPACE = uuid.UUID("5d3c3f3e-6a53-4c5e-9d1e-7e2a4b0f2a10")


@dataclass(frozen=True, slots=True)
class CheckoutData:
    """What a request carries; ``None`` leaves that part of the cart as it is."""

    customer: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    shipment_method_id: int | None = None
    payments: list[dict[str, str]] | None = None


def address_id(cart_id: str, kind: str) -> str:
    """Stable ids for the addresses a cart holds, so clients can send ``{"id": …}`` back."""
    return str(uuid.uuid5(ADDRESS_NAMESPACE, f"{cart_id}/{kind}"))


def stored_addresses(cart: Cart) -> dict[str, dict[str, Any]]:
    found = {}
    for kind, address in (("shipping", cart.shipping_address), ("billing", cart.billing_address)):
        if address:
            found[address_id(cart.id, kind)] = address
    return found


class CheckoutDataService:
    def __init__(self, carts: Carts, methods: dict[str, ExternalMethod]) -> None:
        self.carts = carts
        self.methods = methods

    def payment_method_names(self, allowed: frozenset[str] | None = None) -> list[str]:
        """The methods the merchant offers, narrowed to what ``allowed`` (a browser session's
        ``allowedPaymentMethods``) permits."""
        return [n for n in (GIFT_CARD, *self.methods) if method_allowed(n, allowed)]

    async def apply(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        data: CheckoutData,
        allowed: frozenset[str] | None = None,
    ) -> CartView:
        """Store ``data`` and answer the cart as it now is, gift cards re-allocated from fresh
        balances even when nothing changed: posting checkout data again is how a page shows
        the shopper what each card covers now, before placing."""
        cart, _ = await self.store(work, cart_id=cart_id, owner=owner, data=data, allowed=allowed)
        return await self.carts.reallocate(work, cart)

    async def store(
        self,
        work: Work,
        *,
        cart_id: str,
        owner: str | None,
        data: CheckoutData,
        allowed: frozenset[str] | None = None,
    ) -> tuple[Cart, bool]:
        """Validate and store ``data``; the cart afterwards and whether it changed. Placing
        calls this directly, since it checks and allocates the gift cards itself."""
        cart = await self.carts.lock(work, cart_id=cart_id, owner=owner)
        if cart.locked:
            raise CartLocked()
        errors: list[DomainError] = []
        changes: dict[str, Any] = {}
        known = stored_addresses(cart)

        def attempt(field: str, check: Any) -> Any:
            try:
                return check()
            except DomainError as error:
                error.field = error.field if error.field and "." in error.field else field
                errors.append(error)
                return None

        if data.customer is not None:
            email = data.customer.get("email")
            customer = {k: v for k, v in data.customer.items() if isinstance(v, str)}
            if not email:
                errors.append(
                    InvalidInput("the customer's email is required", field="customer.email")
                )
            elif attempt("customer.email", lambda: check_email(email, "customer.email")):
                changes["customer"] = {**cart.customer, **customer}
        for kind in ("billing", "shipping"):
            raw = data.billing_address if kind == "billing" else data.shipping_address
            if raw is None:
                continue
            field = f"{kind}Address"
            if raw.get("id") is not None:
                resolved = known.get(str(raw["id"]))
                if resolved is None:
                    errors.append(InvalidInput("no address with this id", field=f"{field}.id"))
                else:
                    changes[f"{kind}_address"] = resolved
                continue
            checked = attempt(field, lambda raw=raw, field=field: check_address(raw, field))
            if checked is not None:
                changes[f"{kind}_address"] = checked
        if data.payments is not None:
            names = [str(p.get("paymentMethodName", "")).lower() for p in data.payments]
            usable = self.payment_method_names(allowed)
            refused = [n for n in names if n not in usable]
            if refused:
                errors.append(
                    PaymentMethodNotAllowed(
                        f"{refused[0]} is not available here; use one of "
                        + (", ".join(usable) or "no method (none is allowed)"),
                        field="payments",
                    )
                )
            elif len(data.payments) > 3:
                errors.append(InvalidInput("at most 3 payment methods", field="payments"))
            else:
                changes["payment_methods"] = tuple(
                    {
                        "paymentMethodName": n,
                        "paymentProviderName": str(p.get("paymentProviderName") or "tender"),
                    }
                    for n, p in zip(names, data.payments, strict=True)
                )
        draft = replace(cart, **changes)
        if data.shipment_method_id is not None:
            try:
                method = await self.carts.shipping_method(work, draft, data.shipment_method_id)
                changes["shipping_method_id"] = method.id
            except DomainError as error:
                error.field = "shipment.idShipmentMethod"
                errors.append(error)
        if errors:
            raise DomainError.all_of(errors)
        changes = {k: v for k, v in changes.items() if getattr(cart, k) != v}
        if not changes:
            return cart, False
        updated = replace(
            cart, **changes, version=cart.version + 1, updated_at=self.carts.clock.now()
        )
        await work.carts.save_cart(updated, expected_version=cart.version)
        await self.carts.event(work, "CheckoutDataUpdated", updated, {"fields": sorted(changes)})
        return updated, True
