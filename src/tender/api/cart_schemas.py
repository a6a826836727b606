"""Wire models of tender's own cart API: commercetools-style names, money in minor units.

tender's wire names are its domain's names in camelCase (``postal_code`` is ``postalCode``),
so the models here translate to and from the domain by that rule; error fields already use it.
Rounding is documented where totals appear: tax is extracted from each line's gross total and
rounded half-to-even in minor units, once per line; totals are sums of rounded lines.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from tender.api.checkout_schemas import TAX_RATE, non_negative
from tender.api.order_schemas import PaymentPublic, ShippingMethodPublic
from tender.api.schemas import MoneyIn, MoneyOut, Strict
from tender.domain import cart as c
from tender.domain import customers, shoppers
from tender.domain.errors import InvalidInput
from tender.domain.payments import PaymentMethodSelection
from tender.domain.totals import Totals, format_tax_rate, parse_tax_rate
from tender.services.carts import CartView


class Address(Strict):
    """commercetools' address parts. An order needs salutation, firstName, lastName,
    streetName, streetNumber, postalCode, city and country (ISO 3166-1 alpha-2)."""

    salutation: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    streetName: str | None = None
    streetNumber: str | None = None
    additionalStreetInfo: str | None = None
    postalCode: str | None = None
    city: str | None = None
    country: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None

    def domain(self) -> customers.Address:
        parts = {name: getattr(self, customers.camel(name)) for name in customers.ADDRESS_PARTS}
        return customers.Address(**parts)

    @classmethod
    def of(cls, address: customers.Address | None) -> Address | None:
        document = customers.address_document(address)
        return cls(**document) if document is not None else None


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
    anonymousId: str | None = Field(
        None,
        max_length=shoppers.MAX_ANONYMOUS_ID,
        description="The Glue guest's `X-Anonymous-Customer-Unique-Id`: a random value of at "
        "least 22 characters, its only secret (kept hashed, shown masked).",
    )
    customerId: str | None = Field(
        None,
        max_length=shoppers.MAX_CUSTOMER_ID,
        description="The `sub` of the customer's tokens from the merchant's identity provider.",
    )


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


class SetPaymentMethodAction(Strict):
    """The method for what the gift cards leave open (``invoice``, ``redirect``): one the
    merchant offers, else 422 ``PaymentMethodNotAllowed``. ``null`` clears the choice."""

    action: Literal["setPaymentMethod"]
    paymentMethod: str | None = Field(None, max_length=100)
    paymentProvider: str = Field("tender", max_length=100)


CartUpdateAction = Annotated[
    AddLineItemAction
    | RemoveLineItemAction
    | ChangeQuantityAction
    | SetAddressAction
    | SetShippingMethodAction
    | SetCustomerEmailAction
    | SetCountryAction
    | SetPaymentMethodAction,
    Field(discriminator="action"),
]


def _domain_action(a: CartUpdateAction, currency: str, field: str) -> c.CartAction:
    match a:
        case AddLineItemAction():
            return a.to_action(currency, field)
        case RemoveLineItemAction():
            return c.RemoveLineItem(a.lineItemId)
        case ChangeQuantityAction():
            return c.ChangeLineItemQuantity(a.lineItemId, a.quantity)
        case SetAddressAction(action="setShippingAddress"):
            return c.SetShippingAddress(a.address.domain() if a.address else None)
        case SetAddressAction():
            return c.SetBillingAddress(a.address.domain() if a.address else None)
        case SetShippingMethodAction():
            return c.SetShippingMethod(a.shippingMethodId)
        case SetCustomerEmailAction():
            return c.SetCustomerEmail(a.email)
        case SetCountryAction():
            return c.SetCountry(a.country)
        case SetPaymentMethodAction():
            chosen = a.paymentMethod
            return c.SetPaymentMethod(
                PaymentMethodSelection(chosen, a.paymentProvider) if chosen else None
            )


class CartUpdate(Strict):
    version: StrictInt
    actions: list[CartUpdateAction] = Field(min_length=1, max_length=100)

    def domain_actions(self, currency: str) -> list[c.CartAction]:
        return [_domain_action(a, currency, f"actions.{i}") for i, a in enumerate(self.actions)]


class GiftCardAdd(Strict):
    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)


# --- answers -------------------------------------------------------------------------------


class LineItemPublic(BaseModel):
    id: str
    sku: str
    name: str
    quantity: int
    price: MoneyOut
    taxRate: str
    totalGross: MoneyOut
    totalNet: MoneyOut
    totalTax: MoneyOut

    @classmethod
    def of(cls, line: c.LineItem, currency: str) -> LineItemPublic:
        priced = line.priced()
        return cls(
            id=line.id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            price=MoneyOut.of(line.unit_gross, currency),
            taxRate=format_tax_rate(line.tax_rate_bp),
            totalGross=MoneyOut.of(priced.gross, currency),
            totalNet=MoneyOut.of(priced.net, currency),
            totalTax=MoneyOut.of(priced.tax, currency),
        )


class TaxPortionPublic(BaseModel):
    rate: str
    net: MoneyOut
    tax: MoneyOut


class TotalsPublic(BaseModel):
    """Computed by the server, with the rounding rule above."""

    subtotal: MoneyOut
    shipping: MoneyOut
    net: MoneyOut
    tax: MoneyOut
    taxes: list[TaxPortionPublic]
    grandTotal: MoneyOut
    giftCards: MoneyOut
    remaining: MoneyOut

    @classmethod
    def of(cls, t: Totals, currency: str) -> TotalsPublic:
        def money(minor: int) -> MoneyOut:
            return MoneyOut.of(minor, currency)

        return cls(
            subtotal=money(t.subtotal),
            shipping=money(t.shipping),
            net=money(t.net),
            tax=money(t.tax),
            taxes=[
                TaxPortionPublic(
                    rate=format_tax_rate(p.rate_bp), net=money(p.net), tax=money(p.tax)
                )
                for p in t.taxes
            ],
            grandTotal=money(t.grand_total),
            giftCards=money(t.gift_cards),
            remaining=money(t.remaining),
        )


class PaymentMethodPublic(BaseModel):
    paymentMethod: str
    paymentProvider: str


class CartPublic(BaseModel):
    """A cart with server-computed totals."""

    id: str
    version: int
    currency: str
    totals: TotalsPublic
    lineItems: list[LineItemPublic]
    payments: list[PaymentPublic]
    country: str
    locked: bool
    customerEmail: str | None
    shippingAddress: Address | None
    billingAddress: Address | None
    shippingMethod: ShippingMethodPublic | None
    paymentMethods: list[PaymentMethodPublic]
    anonymousId: str | None = Field(
        description="The guest's anonymous id, masked (`****` and its last four characters)."
    )
    customerId: str | None
    createdAt: str
    lastModifiedAt: str


def cart_public(view: CartView) -> CartPublic:
    cart = view.cart
    return CartPublic(
        id=cart.id,
        version=cart.version,
        currency=cart.currency,
        totals=TotalsPublic.of(view.totals, cart.currency),
        lineItems=[LineItemPublic.of(line, cart.currency) for line in cart.line_items],
        payments=[PaymentPublic.of(p) for p in view.payments],
        country=cart.country,
        locked=cart.locked,
        customerEmail=cart.customer.email,
        shippingAddress=Address.of(cart.shipping_address),
        billingAddress=Address.of(cart.billing_address),
        shippingMethod=(
            ShippingMethodPublic.of(view.shipping_method) if view.shipping_method else None
        ),
        paymentMethods=[
            PaymentMethodPublic(paymentMethod=p.method, paymentProvider=p.provider)
            for p in cart.payment_methods
        ],
        anonymousId=(
            shoppers.mask_anonymous_id(cart.anonymous_id_last4)
            if cart.anonymous_id_last4 is not None
            else None
        ),
        customerId=cart.customer_id,
        createdAt=cart.created_at.isoformat(),
        lastModifiedAt=cart.updated_at.isoformat(),
    )


class GiftCardAdded(BaseModel):
    payment: PaymentPublic
    cart: CartPublic


class ShippingMethods(BaseModel):
    results: list[ShippingMethodPublic]
