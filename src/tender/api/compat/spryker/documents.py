"""The documents Glue clients send, and what they mean in tender's terms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from tender.api.compat.spryker.jsonapi import Lenient
from tender.api.compat.spryker.names import GLUE_ADDRESS
from tender.domain.customers import Address, Customer
from tender.domain.payments import MAX_SELECTED_METHODS, PaymentMethodSelection
from tender.services.card_payments import MAX_GIFT_CARDS
from tender.services.checkout_data import AddressRef, CheckoutData


class CustomerIn(Lenient):
    salutation: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)
    firstName: str | None = Field(None, max_length=200)
    lastName: str | None = Field(None, max_length=200)

    def domain(self) -> Customer:
        return Customer(
            email=self.email,
            salutation=self.salutation,
            first_name=self.firstName,
            last_name=self.lastName,
        )


class AddressIn(Lenient):
    """An address, or the id of one of the cart's (its parts are then dummies: ignored)."""

    id: str | None = Field(None, max_length=36)
    salutation: str | None = Field(None, max_length=200)
    firstName: str | None = Field(None, max_length=200)
    lastName: str | None = Field(None, max_length=200)
    address1: str | None = Field(None, max_length=200)
    address2: str | None = Field(None, max_length=200)
    address3: str | None = Field(None, max_length=200)
    zipCode: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=200)
    iso2Code: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=200)

    def domain(self) -> Address | AddressRef:
        if self.id is not None:
            return AddressRef(self.id)
        return Address(**{attr: getattr(self, glue) for glue, attr in GLUE_ADDRESS.items()})


class GiftCardIn(Lenient):
    """``giftCard.code`` and ``giftCard.pin``, as the gift card method's
    ``requiredRequestData`` names them."""

    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)


class PaymentIn(Lenient):
    paymentMethodName: str = Field(max_length=100)
    paymentProviderName: str | None = Field(None, max_length=100)
    giftCard: GiftCardIn | None = None

    def domain(self) -> PaymentMethodSelection:
        return PaymentMethodSelection(self.paymentMethodName, self.paymentProviderName or "tender")


class ShipmentIn(Lenient):
    idShipmentMethod: StrictInt

    @field_validator("idShipmentMethod", mode="before")
    @classmethod
    def _resource_id(cls, value: Any) -> Any:
        """The seed sends a number; the included shipment method's JSON:API ``id`` is its
        string, which a client may send back as it is."""
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
        return value


class CheckoutAttributes(Lenient):
    idCart: str = Field(max_length=36)
    customer: CustomerIn | None = None
    billingAddress: AddressIn | None = None
    shippingAddress: AddressIn | None = None
    payments: list[PaymentIn] | None = Field(None, max_length=MAX_GIFT_CARDS + MAX_SELECTED_METHODS)
    """As many cards as a cart takes, beside the methods that pay the rest."""
    shipment: ShipmentIn | None = None

    def data(self) -> CheckoutData:
        return CheckoutData(
            customer=self.customer.domain() if self.customer else None,
            billing_address=self.billingAddress.domain() if self.billingAddress else None,
            shipping_address=self.shippingAddress.domain() if self.shippingAddress else None,
            shipping_method_id=self.shipment.idShipmentMethod if self.shipment else None,
            # Several gift cards are several entries of one method, selected once.
            payment_methods=tuple(dict.fromkeys(p.domain() for p in self.payments))
            if self.payments is not None
            else None,
        )


class CheckoutDataResource(Lenient):
    type: Literal["checkout-data"]
    attributes: CheckoutAttributes


class CheckoutDataDocument(Lenient):
    data: CheckoutDataResource


class CheckoutResource(Lenient):
    type: Literal["checkout"]
    attributes: CheckoutAttributes


class CheckoutDocument(Lenient):
    data: CheckoutResource


class OrderPaymentAttributes(Lenient):
    paymentIdentifier: str | None = Field(None, max_length=100)
    dataPayload: list[dict[str, Any]] = Field(max_length=20)


class OrderPaymentResource(Lenient):
    type: Literal["order-payments"]
    attributes: OrderPaymentAttributes


class OrderPaymentDocument(Lenient):
    data: OrderPaymentResource
