"""The money-moving routes, each with the state it needs set up first and the crash points a
request of it passes.

Every route's request is prepared on the steady service (a card, a cart paid by it, placed,
captured, as the route needs) and tagged, so ``effects`` finds what it wrote. Amounts are the
same in every case of a route, so a crashed case and an uncrashed one can be compared row for
row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.crash.effects import Effects, email
from tests.crash.stack import Call
from tests.helpers import ADDRESS

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
INTENTS = "/operations/payment-intents"


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
    ran again: the money moved twice), or a refusal and 1 (the state had moved on)."""

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


def _transactions(kind: str, amount: int) -> Callable[[Effects], int]:
    return lambda e: e.count("transactions", kind, "Success", amount)


def _activities(kind: str, amount: int) -> Callable[[Effects], int]:
    return lambda e: e.count("activities", kind, amount)


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
)
"""Every route that moves money on a card, once each: issuing, loading and correcting cards;
placing, capturing, completing, refunding, cancelling and reopening in checkout; the processor's
redeem and each payment-intent action (reverse on a redemption given back before its cart is
placed)."""
