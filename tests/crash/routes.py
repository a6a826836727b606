"""The money-moving routes, each with the state it needs set up first and the crash points a
request of it passes.

Every route's request is prepared on the steady service (a card, a cart paid by it, placed,
captured, as the route needs) and tagged, so ``effects`` finds what it wrote. Amounts are the
same in every case of a route, so a crashed case and an uncrashed one can be compared row for
row.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tender.services.external_payments import callback_signature
from tests.crash.effects import Effects, email
from tests.crash.stack import Call
from tests.helpers import ADDRESS, GLUE_ADDRESS

BALANCE = 10_000
LOAD = 2_500
ADJUST = 700
"""Taken off by a correction."""
PRICE = 4_000
CAPTURE = 3_000
"""Less than the price: a partial capture also releases the rest."""
REFUND = 1_200
"""Less than half of what was captured: a refund that ran twice would still fit."""
REDEEM = 1_500
"""Less than half of the price: a redemption that ran twice would still fit."""

UNITS = ("unit_ran", "unit_flushed", "before_commit", "after_commit")
"""What every keyed request passes: its unit of work, then its commit with the key's record."""
ALONE = ("unit_ran", "unit_flushed", "unit_committed")
"""What a request that no key's record joins passes: its unit of work, a transaction of its
own, then its commit."""
INTENTS = "/operations/payment-intents"
NORCE = "/api/checkout/v1/orders"
PROVIDER_SECRET = "crash-test-provider-secret-0123456789abcdef"
PROVIDER = {
    "TENDER_REDIRECT_PROVIDER_URL": "https://pay.example/checkout/{paymentId}",
    "TENDER_REDIRECT_PROVIDER_SECRET": PROVIDER_SECRET,
}
"""The redirect provider's settings: the service offers ``redirect`` and takes its callback."""


def eur(minor: int) -> dict[str, Any]:
    return {"centAmount": minor, "currency": "EUR"}


def intent(action: str, minor: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action}
    if minor is not None:
        body["amount"] = {"centAmount": minor, "currencyCode": "EUR"}
    return {"actions": [body]}


@dataclass
class Shop:
    """The merchant's backend (and a shopper's page) on the steady service."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    shipping_method_id: int = 0

    async def post(
        self, path: str, body: dict[str, Any] | None, expect: int, **headers: str
    ) -> Any:
        sent = await self.client.post(path, json=body, headers={**self.headers, **headers})
        assert sent.status_code == expect, f"{path}: {sent.status_code} {sent.text}"
        return sent.json()

    async def open(self) -> None:
        method = {"name": "Free", "price": eur(0), "taxRate": "19.00", "countries": ["DE"]}
        self.shipping_method_id = (await self.post("/shipping-methods", method, 201))["id"]

    async def card(self, tag: str) -> dict[str, Any]:
        body = {"amount": eur(BALANCE), "metadata": {"case": tag}}
        return dict(await self.post("/giftcards", body, 201))

    async def cart(self, tag: str) -> str:
        line = {"sku": "TEA", "name": "Tea", "quantity": 1, "price": eur(PRICE), "taxRate": "19.00"}
        body = {
            "currency": "EUR",
            "country": "DE",
            "customerEmail": email(tag),
            "lineItems": [line],
        }
        cart = await self.post("/carts", body, 201)
        actions = [
            {"action": "setShippingAddress", "address": ADDRESS},
            {"action": "setBillingAddress", "address": ADDRESS},
            {"action": "setShippingMethod", "shippingMethodId": self.shipping_method_id},
        ]
        update = {"version": cart["version"], "actions": actions}
        await self.post(f"/carts/{cart['id']}", update, 200)
        return str(cart["id"])

    async def paid_cart(self, tag: str) -> tuple[str, str]:
        """A cart paid in full by a new card: (cart, payment)."""
        card, cart = await self.card(tag), await self.cart(tag)
        added = await self.post(f"/carts/{cart}/giftcards", {"code": card["code"]}, 201)
        return cart, str(added["payment"]["id"])

    async def placed(self, tag: str) -> tuple[str, str]:
        """A placed order whose card is reserved: (order, payment)."""
        cart, payment = await self.paid_cart(tag)
        order = await self.post("/orders", {"cartId": cart, "orderReference": tag}, 201)
        return str(order["id"]), payment

    async def captured(self, tag: str) -> tuple[str, str]:
        """A placed order whose payment is captured whole: (order, payment)."""
        order, payment = await self.placed(tag)
        await self.post(f"/payments/{payment}/capture", None, 200)
        return order, payment

    async def session(self, tag: str) -> tuple[dict[str, str], str]:
        """A new card's code and a shopper's session on a new cart: (page headers, code)."""
        card, cart = await self.card(tag), await self.cart(tag)
        session = await self.post("/sessions", {"cart": {"cartRef": {"id": cart}}}, 201)
        return {"X-Session-Id": session["id"]}, str(card["code"])

    async def external(self, tag: str, method: str) -> tuple[str, str]:
        """A placed order whose cart ``method`` pays whole (``invoice``, ``redirect``), its
        authorization pending: (order reference, payment)."""
        cart = await self.cart(tag)
        current = (await self.client.get(f"/carts/{cart}", headers=self.headers)).json()
        actions = [{"action": "setPaymentMethod", "paymentMethod": method}]
        await self.post(f"/carts/{cart}", {"version": current["version"], "actions": actions}, 200)
        order = await self.post("/orders", {"cartId": cart, "orderReference": tag}, 201)
        (payment,) = (p for p in order["payments"] if p["paymentMethod"] == method)
        return str(order["orderReference"]), str(payment["id"])

    async def redeemed(self, tag: str) -> str:
        """A card redeemed by the shopper's page on a cart not placed yet: the payment."""
        page, code = await self.session(tag)
        amount = {"centAmount": REDEEM, "currencyCode": "EUR"}
        body = {"code": code, "redeemAmount": amount}
        answer = await self.client.post("/redeem", json=body, headers=page)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == "Success", answer.text
        return str(answer.json()["paymentReference"])


Prepare = Callable[[Shop, str], Awaitable[Call]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    prepare: Prepare
    points: tuple[str, ...]
    """The crash points a keyed request passes, besides ``UNITS``."""
    effect: Callable[[Effects], int]
    """How many times the route's own effect is in the database."""
    keyless: tuple[int, int]
    """What a retry without a key gets after the first attempt committed and died unanswered,
    and how many times the effect is then in the database: the route's own status and 2 (it
    ran again: the money moved twice), a refusal and 1 (the state had moved on), or, for a
    request that is safe to send again (``REDELIVERED``), its own status and 1."""

    @property
    def keyed_points(self) -> tuple[str, ...]:
        return (*UNITS, *self.points)


def _call(shop: Shop, path: str, body: dict[str, Any] | None, expect: int = 200) -> Call:
    return Call(path, body, dict(shop.headers), expect)


async def _issue(shop: Shop, tag: str) -> Call:
    return _call(shop, "/giftcards", {"amount": eur(BALANCE), "metadata": {"case": tag}}, 201)


async def _load(shop: Shop, tag: str) -> Call:
    card = await shop.card(tag)
    body = {"amount": eur(LOAD), "reference": f"{tag}-load"}
    return _call(shop, f"/giftcards/{card['id']}/load", body)


async def _adjust(shop: Shop, tag: str) -> Call:
    card = await shop.card(tag)
    body = {"amount": eur(-ADJUST), "reference": f"{tag}-adjust"}
    return _call(shop, f"/giftcards/{card['id']}/adjust", body)


async def _place(shop: Shop, tag: str) -> Call:
    cart, _ = await shop.paid_cart(tag)
    return _call(shop, "/orders", {"cartId": cart, "orderReference": tag}, 201)


async def _capture(shop: Shop, tag: str) -> Call:
    _, payment = await shop.placed(tag)
    return _call(shop, f"/payments/{payment}/capture", {"amount": eur(CAPTURE)})


async def _complete(shop: Shop, tag: str) -> Call:
    order, _ = await shop.placed(tag)
    return _call(shop, f"/orders/{order}/complete", None)


async def _refund(shop: Shop, tag: str) -> Call:
    _, payment = await shop.captured(tag)
    return _call(shop, f"/payments/{payment}/refund", {"amount": eur(REFUND)})


async def _cancel_payment(shop: Shop, tag: str) -> Call:
    _, payment = await shop.placed(tag)
    return _call(shop, f"/payments/{payment}/cancel", None)


async def _cancel_order(shop: Shop, tag: str) -> Call:
    order, _ = await shop.captured(tag)
    return _call(shop, f"/orders/{order}/cancel", None)


async def _reopen(shop: Shop, tag: str) -> Call:
    order, _ = await shop.placed(tag)
    return _call(shop, f"/orders/{order}/reopen", None)


async def _redeem(shop: Shop, tag: str) -> Call:
    page, code = await shop.session(tag)
    amount = {"centAmount": REDEEM, "currencyCode": "EUR"}
    return Call("/redeem", {"code": code, "redeemAmount": amount}, page, 200)


async def _intent_capture(shop: Shop, tag: str) -> Call:
    _, payment = await shop.placed(tag)
    return _call(shop, f"{INTENTS}/{payment}", intent("capturePayment", CAPTURE))


async def _intent_refund(shop: Shop, tag: str) -> Call:
    _, payment = await shop.captured(tag)
    return _call(shop, f"{INTENTS}/{payment}", intent("refundPayment", REFUND))


async def _intent_cancel(shop: Shop, tag: str) -> Call:
    _, payment = await shop.placed(tag)
    return _call(shop, f"{INTENTS}/{payment}", intent("cancelPayment"))


async def _intent_reverse(shop: Shop, tag: str) -> Call:
    payment = await shop.redeemed(tag)
    return _call(shop, f"{INTENTS}/{payment}", intent("reversePayment"))


async def _confirm(shop: Shop, tag: str) -> Call:
    _, payment = await shop.external(tag, "invoice")
    return _call(shop, f"/payments/{payment}/confirm", CONFIRMATION)


async def _glue_checkout(shop: Shop, tag: str) -> Call:
    """Glue's checkout document naming the card, on a cart without it: the route adds the card
    and places the order, reserving the card's money, in one unit of work."""
    card, cart = await shop.card(tag), await shop.cart(tag)
    attributes = {
        "idCart": cart,
        "customer": {"email": email(tag)},
        "billingAddress": GLUE_ADDRESS,
        "shippingAddress": GLUE_ADDRESS,
        "shipment": {"idShipmentMethod": shop.shipping_method_id},
        "payments": [
            {
                "paymentMethodName": "giftcard",
                "paymentProviderName": "tender",
                "giftCard": {"code": card["code"]},
            }
        ],
    }
    return _call(shop, "/checkout", {"data": {"type": "checkout", "attributes": attributes}}, 201)


async def _order_payments(shop: Shop, tag: str) -> Call:
    reference, _ = await shop.external(tag, "invoice")
    attributes = {"paymentIdentifier": reference, **CONFIRMATION}
    return _call(
        shop, "/order-payments", {"data": {"type": "order-payments", "attributes": attributes}}, 201
    )


async def _norce_add(shop: Shop, tag: str) -> Call:
    card, cart = await shop.card(tag), await shop.cart(tag)
    return _call(shop, f"{NORCE}/{cart}/payments", {"cardId": card["code"]}, 201)


async def _norce_remove(shop: Shop, tag: str) -> Call:
    cart, payment = await shop.paid_cart(tag)
    return _call(shop, f"{NORCE}/{cart}/payments/{payment}/remove", None)


async def _session_add(shop: Shop, tag: str) -> Call:
    page, code = await shop.session(tag)
    return Call("/session/giftcards", {"code": code}, page, 201)


async def _session_remove(shop: Shop, tag: str) -> Call:
    page, code = await shop.session(tag)
    added = await shop.client.post("/session/giftcards", json={"code": code}, headers=page)
    assert added.status_code == 201, added.text
    return Call(f"/session/giftcards/{added.json()['payment']['id']}/remove", None, page, 200)


async def _provider_callback(shop: Shop, tag: str) -> Call:
    """The provider's signed callback confirming a redirect payment, as it delivers it (and
    delivers it again when it got no answer): the same body, signature and timestamp."""
    _, payment = await shop.external(tag, "redirect")
    return _signed_callback(payment, tag)


async def _late_callback(shop: Shop, tag: str) -> Call:
    """The same callback, for a payment whose order was cancelled before the shopper paid."""
    order, payment = await shop.external(tag, "redirect")
    await shop.post(f"/orders/{order}/cancel", None, 200)
    return _signed_callback(payment, tag)


def _signed_callback(payment: str, tag: str) -> Call:
    body = {
        "paymentId": payment,
        "status": "authorized",
        "amount": eur(PRICE),
        "providerReference": f"{tag}-psp",
    }
    raw = httpx.Request("POST", "/", json=body).content  # as ``send`` will encode it
    timestamp = str(int(time.time()))
    headers = {
        "X-Tender-Timestamp": timestamp,
        "X-Tender-Signature": callback_signature(PROVIDER_SECRET.encode(), timestamp, raw),
    }
    return Call(f"/redirect-payments/{payment}/callback", body, headers, 200)


def _transactions(kind: str, amount: int) -> Callable[[Effects], int]:
    return lambda e: e.count("transactions", kind, "Success", amount)


def _activities(kind: str, amount: int) -> Callable[[Effects], int]:
    return lambda e: e.count("activities", kind, amount)


def _payments(status: str, amount: int) -> Callable[[Effects], int]:
    return lambda e: e.count("payments", status, amount)


CONFIRMATION = {"dataPayload": [{"type": "invoice-confirmation"}]}
MOVED = "ledger_moved"
ROUTES = (
    Route("issue", _issue, (), lambda e: len(e.digest["cards"]), (201, 2)),
    Route("load", _load, (MOVED,), _activities("load", LOAD), (200, 2)),
    Route("adjust", _adjust, (MOVED,), _activities("adjust", -ADJUST), (200, 2)),
    Route("place", _place, (MOVED, "money_reserved"), _activities("hold", PRICE), (409, 1)),
    Route(
        "capture", _capture, (MOVED, "money_captured"), _transactions("Charge", CAPTURE), (409, 1)
    ),
    Route(
        "complete", _complete, (MOVED, "money_captured"), _transactions("Charge", PRICE), (409, 1)
    ),
    Route("refund", _refund, (MOVED, "money_refunded"), _transactions("Refund", REFUND), (200, 2)),
    Route(
        "cancel_payment",
        _cancel_payment,
        (MOVED, "money_released"),
        _activities("release", PRICE),
        (409, 1),
    ),
    Route(
        "cancel_order",
        _cancel_order,
        (MOVED, "money_refunded"),
        _transactions("Refund", PRICE),
        (409, 1),
    ),
    Route("reopen", _reopen, (MOVED, "money_released"), _activities("release", PRICE), (409, 1)),
    Route("redeem", _redeem, (MOVED, "money_reserved"), _activities("hold", REDEEM), (400, 1)),
    Route(
        "intent_capture",
        _intent_capture,
        (MOVED, "money_captured"),
        _transactions("Charge", CAPTURE),
        (409, 1),
    ),
    Route(
        "intent_refund",
        _intent_refund,
        (MOVED, "money_refunded"),
        _transactions("Refund", REFUND),
        (200, 2),
    ),
    Route(
        "intent_cancel",
        _intent_cancel,
        (MOVED, "money_released"),
        _activities("release", PRICE),
        (409, 1),
    ),
    Route(
        "intent_reverse",
        _intent_reverse,
        (MOVED, "money_released"),
        _activities("release", REDEEM),
        (409, 1),
    ),
    Route("confirm", _confirm, (), _transactions("Authorization", PRICE), (409, 1)),
    Route(
        "glue_checkout",
        _glue_checkout,
        (MOVED, "money_reserved"),
        _activities("hold", PRICE),
        (422, 1),
    ),
    Route(
        "glue_order_payments", _order_payments, (), _transactions("Authorization", PRICE), (422, 1)
    ),
    Route("norce_add", _norce_add, (), _payments("active", PRICE), (400, 1)),
    Route("norce_remove", _norce_remove, (), _payments("removed", 0), (409, 1)),
    Route("session_add", _session_add, (), _payments("active", PRICE), (400, 1)),
    Route("session_remove", _session_remove, (), _payments("removed", 0), (409, 1)),
)
"""Every route that moves money on a card or changes what pays for a cart or an order, once
each: issuing, loading and correcting cards; placing, capturing, completing, refunding,
cancelling and reopening in checkout; the processor's redeem and each payment-intent action
(reverse on a redemption given back before its cart is placed); confirming an invoice
(tender's route and Glue's ``/order-payments``); Glue's ``/checkout`` (adding the card the
document names and placing); adding and removing a card on a cart through Norce's routes and
the shopper's session."""
REDELIVERED = (
    Route(
        "provider_callback",
        _provider_callback,
        (),
        _transactions("Authorization", PRICE),
        (200, 1),
    ),
    Route(
        "late_provider_callback",
        _late_callback,
        (),
        lambda e: e.count("transactions", "CancelAuthorization", "Initial", PRICE),
        (200, 1),
    ),
)
"""Requests sent again without a key by design: the redirect provider delivers its signed
callback again when it got no answer, also for a payment tender ended before the shopper paid
(tender keeps it as a cancellation to make). Each is crashed at every point of ``ALONE``."""
