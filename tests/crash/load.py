"""The crash test's load: clients that each run journeys (issue a card, load it, build a cart
paid by it, either added by the merchant's backend or redeemed by the shopper's page on a
session, place, capture or complete, refund twice), every POST with its own
``Idempotency-Key``, retried with the same key and body until it gets an answer.

"No answer" is what a client of a crashed worker sees: a connection refused, reset or closed,
a timeout, a 5xx, or 409 ``IdempotencyKeyInUse`` (the first attempt is still holding the key).
Every operation's id is its key and is written into what it creates (card metadata, load
reference, customer email, order reference), so the database can be asked afterwards how
many times each one happened.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import ADDRESS

STEPS = 9
"""issue, load, cart, update, add_card, place, capture or complete, refund1, refund2; a
redeeming journey has ``session`` and ``redeem`` instead of ``add_card``."""


def eur(minor: int) -> dict[str, Any]:
    return {"centAmount": minor, "currency": "EUR"}


@dataclass
class Op:
    """One state-changing request; its id is its Idempotency-Key."""

    id: str
    kind: str
    path: str
    body: dict[str, Any] | None
    expect: int
    headers: dict[str, str] | None = None
    """A browser's headers (``X-Session-Id``) instead of the caller's server credentials."""
    no_answer: list[str] = field(default_factory=list)
    """What each attempt that got no answer got instead."""
    status: int | None = None
    replayed: bool = False
    answer: Any = None
    text: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def acknowledged(self) -> bool:
        return self.status == self.expect

    @property
    def retried(self) -> bool:
        return bool(self.no_answer)

    def describe(self) -> str:
        tries = f"{len(self.no_answer) + 1} attempts"
        if self.no_answer:
            tries += f" (unanswered: {', '.join(sorted(set(self.no_answer)))})"
        return f"{self.id} [{self.kind} {self.path}] {tries}"


@dataclass
class Journey:
    """One card's way through checkout, with the amounts the client asked for."""

    prefix: str
    issued: int
    loaded: int
    price: int
    refunds: list[int]
    captured_by: str
    """``capture`` (the payment) or ``complete`` (the order)."""
    paid_by: str = "add_card"
    """``add_card`` (the merchant's backend) or ``redeem`` (the page, through the processor)."""
    ops: list[Op] = field(default_factory=list)
    card_id: str | None = None
    cart_id: str | None = None
    payment_id: str | None = None
    order_id: str | None = None

    def op(self, kind: str) -> Op | None:
        return next((o for o in self.ops if o.kind == kind), None)

    @property
    def finished(self) -> bool:
        steps = STEPS + (1 if self.paid_by == "redeem" else 0)
        return len(self.ops) == steps and all(o.acknowledged for o in self.ops)


@dataclass
class Tally:
    in_flight: int = 0
    requests: int = 0


class Caller:
    """Sends one operation until it is answered, or until ``budget`` seconds have passed."""

    def __init__(
        self, url: str, headers: dict[str, str], tally: Tally, *, budget: float, timeout: float
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, timeout=timeout, limits=httpx.Limits(max_connections=1)
        )
        self.headers = headers
        self.tally = tally
        self.budget = budget

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, op: Op) -> Op:
        deadline = time.monotonic() + self.budget
        headers = {**(op.headers or self.headers), "Idempotency-Key": op.id}
        while True:
            self.tally.in_flight += 1
            self.tally.requests += 1
            try:
                response = await self.client.post(op.path, json=op.body, headers=headers)
            except httpx.TransportError as error:
                op.no_answer.append(type(error).__name__)
            else:
                unanswered = _no_answer(response)
                if unanswered is None:
                    op.status = response.status_code
                    op.replayed = response.headers.get("idempotent-replayed") == "true"
                    op.text = response.text[:300]
                    op.answer = response.json() if op.text.startswith(("{", "[")) else None
                    return op
                op.no_answer.append(unanswered)
            finally:
                self.tally.in_flight -= 1
            if time.monotonic() > deadline:
                return op
            await asyncio.sleep(min(1.0, 0.05 * len(op.no_answer)))


def _no_answer(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return str(response.status_code)
    if response.status_code == 409 and "IdempotencyKeyInUse" in response.text:
        return "409 IdempotencyKeyInUse"
    return None


def plan_journey(rng: random.Random, prefix: str) -> Journey:
    issued = rng.randint(2_000, 6_000)
    loaded = rng.randint(500, 3_000)
    price = rng.randint(1_000, issued + loaded)
    refunds = rng.sample(range(1, price // 3 + 1), 2)  # distinct, so each can be counted
    captured_by = rng.choice(["capture", "complete"])
    return Journey(
        prefix, issued, loaded, price, refunds, captured_by, rng.choice(["add_card", "redeem"])
    )


async def run_journey(caller: Caller, journey: Journey, shipping_method_id: int) -> None:
    """Each step needs the answer of the one before; a step without its expected answer ends
    the journey (the audit reports it)."""
    j, p = journey, journey.prefix

    async def step(
        kind: str,
        path: str,
        body: dict[str, Any] | None,
        expect: int,
        headers: dict[str, str] | None = None,
    ) -> Any:
        op = Op(f"{p}-{kind}", kind, path, body, expect, headers)
        j.ops.append(op)
        await caller.send(op)
        return op.answer if op.acknowledged else None

    card = await step(
        "issue", "/giftcards", {"amount": eur(j.issued), "metadata": {"op": f"{p}-issue"}}, 201
    )
    if card is None:
        return
    j.card_id = card["id"]
    body = {"amount": eur(j.loaded), "reference": f"{p}-load"}
    if await step("load", f"/giftcards/{j.card_id}/load", body, 200) is None:
        return
    line = {"sku": "TEA", "name": "Tea", "quantity": 1, "price": eur(j.price), "taxRate": "19.00"}
    body = {
        "currency": "EUR",
        "country": "DE",
        "customerEmail": f"{p}-cart@crash.example",
        "lineItems": [line],
    }
    cart = await step("cart", "/carts", body, 201)
    if cart is None:
        return
    j.cart_id = cart["id"]
    actions = [
        {"action": "setShippingAddress", "address": ADDRESS},
        {"action": "setBillingAddress", "address": ADDRESS},
        {"action": "setShippingMethod", "shippingMethodId": shipping_method_id},
    ]
    body = {"version": cart["version"], "actions": actions}
    if await step("update", f"/carts/{j.cart_id}", body, 200) is None:
        return
    j.payment_id = await pay(step, j, card["code"])
    if j.payment_id is None:
        return
    body = {"cartId": j.cart_id, "orderReference": f"{p}-place"}
    order = await step("place", "/orders", body, 201)
    if order is None:
        return
    j.order_id = order["id"]
    if j.captured_by == "capture":
        done = await step("capture", f"/payments/{j.payment_id}/capture", None, 200)
    else:
        done = await step("complete", f"/orders/{j.order_id}/complete", None, 200)
    if done is None:
        return
    for n, amount in enumerate(j.refunds, 1):
        path = f"/payments/{j.payment_id}/refund"
        if await step(f"refund{n}", path, {"amount": eur(amount)}, 200) is None:
            return


async def pay(step: Any, j: Journey, code: str) -> str | None:
    """The card pays for the cart: added by the merchant's backend, or redeemed for the whole
    price by the shopper's page on a session the backend opened (``None``: no answer)."""
    if j.paid_by == "add_card":
        added = await step("add_card", f"/carts/{j.cart_id}/giftcards", {"code": code}, 201)
        return None if added is None else str(added["payment"]["id"])
    body = {"cart": {"cartRef": {"id": j.cart_id}}}
    session = await step("session", "/sessions", body, 201)
    if session is None:
        return None
    page = {"X-Session-Id": session["id"]}
    amount = {"centAmount": j.price, "currencyCode": "EUR"}
    redeemed = await step("redeem", "/redeem", {"code": code, "redeemAmount": amount}, 200, page)
    if redeemed is None or redeemed["result"] != "Success":
        return None
    return str(redeemed["paymentReference"])


async def client_loop(
    caller: Caller,
    rng: random.Random,
    name: str,
    shipping_method_id: int,
    stop: asyncio.Event,
) -> list[Journey]:
    """Journeys one after another until ``stop``; the one under way is always finished."""
    journeys: list[Journey] = []
    try:
        while not stop.is_set():
            journey = plan_journey(rng, f"{name}-j{len(journeys) + 1}")
            journeys.append(journey)
            await run_journey(caller, journey, shipping_method_id)
    finally:
        await caller.close()
    return journeys
