"""Wire models of orders, payments and shipping methods (commercetools-style names, money in
minor units); carts have theirs in ``tender.api.cart_schemas``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tender.api.schemas import MoneyIn, MoneyOut, Strict
from tender.domain.errors import InvalidAmount
from tender.domain.money import Money
from tender.domain.orders import Order
from tender.domain.payments import Payment, Transaction
from tender.domain.shipping import ShippingMethod
from tender.domain.totals import format_tax_rate
from tender.services.orders import OrderView

TAX_RATE = Field(description='Percent with up to two decimals, as a string: "19.00".')


def non_negative(amount: MoneyIn, field: str, currency: str | None = None) -> Money:
    """Prices may be zero (a free sample, free shipping); amounts that move money may not."""
    probe = amount.model_copy(update={"centAmount": max(amount.centAmount, 1)})
    checked = probe.money_in(currency, field) if currency else probe.money(field)
    if amount.centAmount < 0:
        raise InvalidAmount("the price cannot be negative", field=f"{field}.centAmount")
    return Money(amount.centAmount, checked.currency)


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
    names: dict[str, str] | None = Field(
        None,
        max_length=30,
        description='The name in other languages, by ISO 639 code: {"de": "Standardversand"}. '
        "A shopper whose language has none sees `name`.",
    )


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
        "names": dict(m.names),
        "active": m.active,
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
            "redeemed": p.redeemed,
        }
    return body


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
