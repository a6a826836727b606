"""Carts and the commercetools-style update actions that change them.

``apply_actions`` is pure: it returns a new cart or raises, so the actions of one request apply
all together or not at all, and the caller writes the result under the version it read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tender.domain.customers import Address, Customer, check_address, check_country, check_email
from tender.domain.errors import InvalidAmount, InvalidInput, NotFound
from tender.domain.ids import new_id
from tender.domain.money import MAX_MINOR, Money
from tender.domain.payments import PaymentMethodSelection
from tender.domain.totals import PricedLine, price_line

MAX_LINES = 200
MAX_QUANTITY = 10_000


class CartNotFound(NotFound):
    code = "CartNotFound"
    message = "The cart was not found."


class LineItemNotFound(NotFound):
    code = "LineItemNotFound"
    message = "The line item was not found in the cart."


@dataclass(frozen=True, slots=True)
class LineItem:
    id: str
    sku: str
    name: str
    quantity: int
    unit_gross: int
    tax_rate_bp: int

    def priced(self) -> PricedLine:
        return price_line(self.unit_gross, self.quantity, self.tax_rate_bp)


@dataclass(frozen=True, slots=True)
class Cart:
    id: str
    version: int
    owner: str
    locked: bool
    currency: str
    country: str
    customer: Customer
    line_items: tuple[LineItem, ...]
    shipping_address: Address | None
    billing_address: Address | None
    shipping_method_id: int | None
    payment_methods: tuple[PaymentMethodSelection, ...]
    """What pays for what the gift cards leave open, as chosen (checked when chosen)."""
    created_at: datetime
    updated_at: datetime
    anonymous_id_hash: bytes | None = None
    """The keyed hash of the guest's anonymous id (``domain.shoppers``): never the id."""
    anonymous_id_last4: str | None = None
    customer_id: str | None = None
    """The ``sub`` of the customer's tokens from the merchant's identity provider."""


@dataclass(frozen=True, slots=True)
class AddLineItem:
    sku: str
    name: str
    quantity: int
    unit_gross: int
    tax_rate_bp: int


@dataclass(frozen=True, slots=True)
class RemoveLineItem:
    line_item_id: str


@dataclass(frozen=True, slots=True)
class ChangeLineItemQuantity:
    line_item_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SetShippingAddress:
    address: Address | None


@dataclass(frozen=True, slots=True)
class SetBillingAddress:
    address: Address | None


@dataclass(frozen=True, slots=True)
class SetShippingMethod:
    shipping_method_id: int | None


@dataclass(frozen=True, slots=True)
class SetCustomerEmail:
    email: str | None


@dataclass(frozen=True, slots=True)
class SetCountry:
    country: str


@dataclass(frozen=True, slots=True)
class SetPaymentMethod:
    """``None`` clears the choice. Whether the method may be chosen depends on what the
    merchant offers, so ``Carts.update`` checks it; applying it only stores it."""

    selection: PaymentMethodSelection | None


CartAction = (
    AddLineItem
    | RemoveLineItem
    | ChangeLineItemQuantity
    | SetShippingAddress
    | SetBillingAddress
    | SetShippingMethod
    | SetCustomerEmail
    | SetCountry
    | SetPaymentMethod
)


@dataclass(slots=True)
class _Draft:
    lines: list[LineItem]
    customer: Customer
    changes: dict[str, Any] = field(default_factory=dict)


def new_line(action: AddLineItem) -> LineItem:
    if not 1 <= action.quantity <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be 1 to {MAX_QUANTITY}", field="quantity")
    if not 0 <= action.unit_gross <= MAX_MINOR // MAX_QUANTITY:
        raise InvalidInput("the unit price is out of range", field="price")
    if not action.sku.strip() or len(action.sku) > 100:
        raise InvalidInput("a sku is 1 to 100 characters", field="sku")
    if not action.name.strip() or len(action.name) > 200:
        raise InvalidInput("a name is 1 to 200 characters", field="name")
    return LineItem(
        new_id(), action.sku, action.name, action.quantity, action.unit_gross, action.tax_rate_bp
    )


def check_cart_total(gross: int, currency: str) -> None:
    """A cart's total is one amount, as large as any amount may be: a larger one could be
    neither paid by one payment nor told on the wire (a provider's callback, a capture)."""
    if gross > MAX_MINOR:
        raise InvalidAmount(
            "amounts are limited to {limit}", field="actions", limit=Money(MAX_MINOR, currency)
        )


def _find(lines: list[LineItem], line_id: str) -> int:
    for index, line in enumerate(lines):
        if line.id == line_id:
            return index
    raise LineItemNotFound(f"no line item {line_id}", field="lineItemId")


def apply_actions(cart: Cart, actions: list[CartAction], now: datetime) -> Cart:
    """The cart after every action, in order; any refused action refuses them all."""
    draft = _Draft(list(cart.line_items), cart.customer)
    for action in actions:
        _apply(draft, action)
    if len(draft.lines) > MAX_LINES:
        raise InvalidInput(f"a cart holds at most {MAX_LINES} line items", field="actions")
    return replace(
        cart,
        line_items=tuple(draft.lines),
        version=cart.version + 1,
        updated_at=now,
        **draft.changes,
    )


def _apply(draft: _Draft, action: CartAction) -> None:
    match action:
        case AddLineItem():
            draft.lines.append(new_line(action))
        case RemoveLineItem(line_item_id=line_id):
            del draft.lines[_find(draft.lines, line_id)]
        case ChangeLineItemQuantity(line_item_id=line_id, quantity=quantity):
            index = _find(draft.lines, line_id)
            if quantity == 0:
                del draft.lines[index]
            elif not 1 <= quantity <= MAX_QUANTITY:
                raise InvalidInput(f"quantity must be 0 to {MAX_QUANTITY}", field="quantity")
            else:
                draft.lines[index] = replace(draft.lines[index], quantity=quantity)
        case SetShippingAddress(address=address):
            draft.changes["shipping_address"] = (
                check_address(address, "address") if address is not None else None
            )
        case SetBillingAddress(address=address):
            draft.changes["billing_address"] = (
                check_address(address, "address") if address is not None else None
            )
        case SetShippingMethod(shipping_method_id=method_id):
            draft.changes["shipping_method_id"] = method_id
        case SetCustomerEmail(email=email):
            checked = check_email(email, "email") if email else None
            draft.customer = replace(draft.customer, email=checked)
            draft.changes["customer"] = draft.customer
        case SetCountry(country=country):
            draft.changes["country"] = check_country(country)
        case SetPaymentMethod(selection=selection):
            draft.changes["payment_methods"] = (selection,) if selection else ()
