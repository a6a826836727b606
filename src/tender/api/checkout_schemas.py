"""Wire models of carts, orders and payments (commercetools-style names, money in minor units).

Rounding is documented where totals appear: tax is extracted from each line's gross total and
rounded half-to-even in minor units, once per line; totals are sums of rounded lines.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from tender.api.schemas import MoneyIn, MoneyOut, Strict
from tender.domain import cart as c
from tender.domain.errors import InvalidAmount, InvalidInput
from tender.domain.money import Money
from tender.domain.orders import Order
from tender.domain.payments import Payment, Transaction
from tender.domain.shipping import ShippingMethod
from tender.domain.totals import format_tax_rate, parse_tax_rate
from tender.services.carts import CartView
from tender.services.orders import OrderView

TAX_RATE = Field(description='Percent with up to two decimals, as a string: "19.00".')


class Address(Strict):
    """Spryker's address fields; salutation, names, address1/2, zipCode, city, iso2Code required."""

    salutation: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    zipCode: str | None = None
    city: str | None = None
    iso2Code: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    id: str | None = None
    isDefaultShipping: bool | None = None
    isDefaultBilling: bool | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(
            exclude_none=True, exclude={"id", "isDefaultShipping", "isDefaultBilling"}
        )


def non_negative(amount: MoneyIn, field: str, currency: str | None = None) -> Money:
    """Prices may be zero (a free sample, free shipping); amounts that move money may not."""
    probe = amount.model_copy(update={"centAmount": max(amount.centAmount, 1)})
    checked = probe.money_in(currency, field) if currency else probe.money(field)
    if amount.centAmount < 0:
        raise InvalidAmount("the price cannot be negative", field=f"{field}.centAmount")
    return Money(amount.centAmount, checked.currency)


class LineItemDraft(Strict):
    sku: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    quantity: StrictInt = Field(ge=1, le=c.MAX_QUANTITY)
    price: MoneyIn = Field(description="Gross unit price (tax included).")
    taxRate: str = TAX_RATE

    def to_action(self, currency: str, field: str) -> c.AddLineItem:
        unit = non_negative(self.price, f"{field}.price", currency).minor
        try:
            rate = parse_tax_rate(self.taxRate)
        except InvalidInput as error:
            error.field = f"{field}.taxRate"
            raise
        return c.AddLineItem(self.sku, self.name, self.quantity, unit, rate)


class CartCreate(Strict):
    currency: str
    country: str
    customerEmail: str | None = Field(None, max_length=320)
    lineItems: list[LineItemDraft] = Field(default_factory=list, max_length=c.MAX_LINES)


class AddLineItemAction(LineItemDraft):
    action: Literal["addLineItem"]


class RemoveLineItemAction(Strict):
    action: Literal["removeLineItem"]
    lineItemId: str = Field(max_length=36)


class ChangeQuantityAction(Strict):
    action: Literal["changeLineItemQuantity"]
    lineItemId: str = Field(max_length=36)
    quantity: StrictInt = Field(ge=0, le=c.MAX_QUANTITY)


class SetAddressAction(Strict):
    action: Literal["setShippingAddress", "setBillingAddress"]
    address: Address | None = None


class SetShippingMethodAction(Strict):
    action: Literal["setShippingMethod"]
    shippingMethodId: StrictInt | None = None


class SetCustomerEmailAction(Strict):
    action: Literal["setCustomerEmail"]
    email: str | None = Field(None, max_length=320)


class SetCountryAction(Strict):
    action: Literal["setCountry"]
    country: str


CartUpdateAction = Annotated[
    AddLineItemAction
    | RemoveLineItemAction
    | ChangeQuantityAction
    | SetAddressAction
    | SetShippingMethodAction
    | SetCustomerEmailAction
    | SetCountryAction,
    Field(discriminator="action"),
]


class CartUpdate(Strict):
    version: StrictInt
    actions: list[CartUpdateAction] = Field(min_length=1, max_length=100)

    def domain_actions(self, currency: str) -> list[c.CartAction]:
        result: list[c.CartAction] = []
        for index, a in enumerate(self.actions):
            field = f"actions.{index}"
            match a:
                case AddLineItemAction():
                    result.append(a.to_action(currency, field))
                case RemoveLineItemAction():
                    result.append(c.RemoveLineItem(a.lineItemId))
                case ChangeQuantityAction():
                    result.append(c.ChangeLineItemQuantity(a.lineItemId, a.quantity))
                case SetAddressAction():
                    address = a.address.fields() if a.address else None
                    if a.action == "setShippingAddress":
                        result.append(c.SetShippingAddress(address))
                    else:
                        result.append(c.SetBillingAddress(address))
                case SetShippingMethodAction():
                    result.append(c.SetShippingMethod(a.shippingMethodId))
                case SetCustomerEmailAction():
                    result.append(c.SetCustomerEmail(a.email))
                case SetCountryAction():
                    result.append(c.SetCountry(a.country))
        return result


class GiftCardAdd(Strict):
    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)


class AmountBody(Strict):
    amount: MoneyIn | None = Field(None, description="Defaults to all that is open.")


class ShippingMethodCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    carrierName: str = Field("tender", max_length=200)
    price: MoneyIn
    taxRate: str = TAX_RATE
    freeAbove: MoneyIn | None = None
    countries: list[str] = Field(default_factory=list, max_length=250)
    deliveryTime: str | None = Field(None, max_length=100)


# --- answers -------------------------------------------------------------------------------


def money(minor: int, currency: str) -> dict[str, Any]:
    return MoneyOut.of(minor, currency).model_dump()


def shipping_public(m: ShippingMethod) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "carrierName": m.carrier_name,
        "price": money(m.price, m.currency),
        "taxRate": format_tax_rate(m.tax_rate_bp),
        "freeAbove": money(m.free_above, m.currency) if m.free_above is not None else None,
        "countries": list(m.countries),
        "deliveryTime": m.delivery_time,
        "currencyIsoCode": m.currency,
    }


def transaction_public(t: Transaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "type": t.type.value,
        "state": t.state.value,
        "amount": money(t.amount, t.currency),
        "interactionId": t.interaction_id,
        "timestamp": t.created_at.isoformat(),
    }


def payment_public(p: Payment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": p.id,
        "paymentMethod": p.method,
        "paymentProvider": p.provider,
        "status": p.status.value,
        "amountPlanned": money(p.amount_planned, p.currency),
        "transactions": [transaction_public(t) for t in p.transactions],
        "createdAt": p.created_at.isoformat(),
        "lastModifiedAt": p.updated_at.isoformat(),
    }
    if p.is_gift_card:
        body["giftCard"] = {
            "code": f"****{p.card_last4}",
            "upperLimitAmount": money(p.upper_limit or 0, p.currency),
        }
    return body


def cart_public(view: CartView) -> dict[str, Any]:
    cart, t = view.cart, view.totals
    cur = cart.currency
    lines = []
    for line in cart.line_items:
        priced = line.priced()
        lines.append(
            {
                "id": line.id,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "price": money(line.unit_gross, cur),
                "taxRate": format_tax_rate(line.tax_rate_bp),
                "totalGross": money(priced.gross, cur),
                "totalNet": money(priced.net, cur),
                "totalTax": money(priced.tax, cur),
            }
        )
    return {
        "id": cart.id,
        "version": cart.version,
        "currency": cur,
        "country": cart.country,
        "locked": cart.locked,
        "customerEmail": cart.customer.get("email"),
        "lineItems": lines,
        "shippingAddress": cart.shipping_address,
        "billingAddress": cart.billing_address,
        "shippingMethod": shipping_public(view.shipping_method) if view.shipping_method else None,
        "paymentMethods": list(cart.payment_methods),
        "totals": {
            "subtotal": money(t.subtotal, cur),
            "shipping": money(t.shipping, cur),
            "net": money(t.net, cur),
            "tax": money(t.tax, cur),
            "taxes": [
                {
                    "rate": format_tax_rate(p.rate_bp),
                    "net": money(p.net, cur),
                    "tax": money(p.tax, cur),
                }
                for p in t.taxes
            ],
            "grandTotal": money(t.grand_total, cur),
            "giftCards": money(t.gift_cards, cur),
            "remaining": money(t.remaining, cur),
        },
        "payments": [payment_public(p) for p in view.payments],
        "createdAt": cart.created_at.isoformat(),
        "lastModifiedAt": cart.updated_at.isoformat(),
    }


def order_public(view: OrderView) -> dict[str, Any]:
    o: Order = view.order
    settled = o.snapshot.get("settledForLess")
    return {
        "id": o.id,
        "orderReference": o.reference,
        "cartId": o.cart_id,
        "state": o.state.value,
        "version": o.version,
        "currency": o.currency,
        "grandTotal": money(o.grand_total, o.currency),
        "snapshot": o.snapshot,
        "settledForLess": {
            "reason": settled["reason"],
            "shortfall": money(settled["shortfall"], o.currency),
        }
        if settled
        else None,
        "payments": [payment_public(p) for p in view.payments],
        "createdAt": o.created_at.isoformat(),
        "lastModifiedAt": o.updated_at.isoformat(),
    }


class CartPublic(BaseModel):
    """A cart with server-computed totals (see the rounding rule above)."""

    id: str
    version: int
    currency: str
    totals: dict[str, Any]
    lineItems: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    model_config = {"extra": "allow"}


class OrderPublic(BaseModel):
    id: str
    orderReference: str
    state: str
    payments: list[dict[str, Any]]
    model_config = {"extra": "allow"}
