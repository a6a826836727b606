"""The answers of the merchant's order API (orders, payments, shipping methods, the event feed).
Times are sent as the ISO 8601 strings the checkout has always sent (``+00:00``), so they are
strings here too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tender.api.checkout_schemas import payment_public, shipping_public
from tender.api.schemas import MoneyOut
from tender.domain.events import Event
from tender.domain.orders import OrderState, PaymentStatus, TransactionState, TransactionType
from tender.domain.payments import Payment
from tender.domain.shipping import ShippingMethod


class TransactionPublic(BaseModel):
    id: str
    type: TransactionType
    state: TransactionState
    amount: MoneyOut
    interactionId: str | None
    timestamp: str


def _gift_card_share(schema: dict[str, Any]) -> None:
    """``giftCard`` is sent for gift card payments only (no ``null`` for the others), so it is
    not a field of the model: the document names it all the same."""
    money = {"$ref": "#/components/schemas/MoneyOut"}
    schema["properties"]["giftCard"] = {
        "type": "object",
        "description": "Gift card payments only: the masked code, what the card held when it "
        "was added (its upper limit) and whether the shopper's page redeemed it.",
        "required": ["code", "upperLimitAmount", "redeemed"],
        "properties": {
            "code": {"type": "string", "examples": ["****1234"]},
            "upperLimitAmount": money,
            "redeemed": {"type": "boolean"},
        },
    }


class PaymentPublic(BaseModel):
    """A payment; a gift card's also has ``giftCard``: its masked code and upper limit."""

    id: str
    paymentMethod: str
    paymentProvider: str
    status: PaymentStatus
    amountPlanned: MoneyOut
    transactions: list[TransactionPublic]
    createdAt: str
    lastModifiedAt: str
    model_config = ConfigDict(extra="allow", json_schema_extra=_gift_card_share)

    @classmethod
    def of(cls, payment: Payment) -> PaymentPublic:
        return cls.model_validate(payment_public(payment))


class SettledForLess(BaseModel):
    reason: str
    shortfall: MoneyOut


class OrderPublic(BaseModel):
    """An order: what was placed (``snapshot``: its lines, addresses and totals in minor
    units, as they were when placed) and its payments."""

    id: str
    orderReference: str
    cartId: str
    state: OrderState
    version: int
    currency: str
    grandTotal: MoneyOut
    snapshot: dict[str, Any]
    settledForLess: SettledForLess | None
    """Completed for less than its total, by the merchant's decision: why, and how much."""
    payments: list[PaymentPublic]
    createdAt: str
    lastModifiedAt: str
    model_config = {"extra": "allow"}


class PlacedOrder(OrderPublic):
    """The order just placed, and where the shopper pays what the gift cards leave open when
    that is paid by redirect (``redirectUrl``). The page is made for the payment placing
    started, so it is answered with placing (and with a replay of it under the same
    Idempotency-Key), as Glue's ``POST /checkout`` answers it; the order's other answers
    (``GET /orders/{id}``, its transitions) do not carry it, as Glue's order does not."""

    redirectUrl: str | None = Field(
        description="The payment page for the order's pending redirect payment, to send the "
        "shopper's browser to: the provider's page (TENDER_REDIRECT_PROVIDER_URL with the "
        "payment's id, amount in minor units and currency filled in), or in development "
        "tender's simulator. Holding it confirms nothing: only the provider's signed "
        "callback does. null when nothing is paid by redirect (invoice, or gift cards "
        "covering everything). Answered with placing and its replays only.",
        examples=[
            "https://pay.example/checkout/0190a5d2-7c3e-7b1a-9f4e-2d6c8b0a1e53"
            "?amount=100500&currency=EUR"
        ],
    )


class PaymentInOrder(PaymentPublic):
    cartId: str
    orderId: str | None
    """``None`` until the cart is placed."""

    @classmethod
    def of_order(cls, payment: Payment, order_id: str | None) -> PaymentInOrder:
        return cls.model_validate(
            {**payment_public(payment), "cartId": payment.cart_id, "orderId": order_id}
        )


class ShippingMethodPublic(BaseModel):
    id: int
    name: str
    carrierName: str
    price: MoneyOut
    taxRate: str
    freeAbove: MoneyOut | None
    countries: list[str]
    deliveryTime: str | None
    currencyIsoCode: str
    names: dict[str, str]
    active: bool
    """Whether carts are offered the method (``/deactivate``, ``/activate``)."""

    @classmethod
    def of(cls, method: ShippingMethod) -> ShippingMethodPublic:
        return cls.model_validate(shipping_public(method))


class ShippingMethodList(BaseModel):
    results: list[ShippingMethodPublic]


class EventPublic(BaseModel):
    id: int
    type: str
    objectType: str
    objectId: str
    payload: dict[str, Any]
    correlationId: str | None
    createdAt: str

    @classmethod
    def of(cls, event: Event) -> EventPublic:
        return cls(
            id=event.id,
            type=event.type,
            objectType=event.object_type,
            objectId=event.object_id,
            payload=event.payload,
            correlationId=event.correlation_id,
            createdAt=event.created_at.isoformat(),
        )


class EventFeed(BaseModel):
    results: list[EventPublic]
    next: int | None
    """Pass as ``after`` for what came since; the same ``after`` again when nothing did."""
