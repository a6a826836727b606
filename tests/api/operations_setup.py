"""What the ``/operations/*`` tests share: an order paid by one gift card, and a provider that
is the ledger but can be told to decline, fail or hang (an outage cannot be reached over
tender's own API, so the provider stands in for one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tender.domain.errors import InsufficientFunds
from tender.domain.money import Money
from tender.providers import PROVIDERS, ProviderContext
from tests.api.conftest import Api
from tests.api.journeys import card, ready_cart, shipping_method
from tests.api.payment_setup import api_with

INTENTS = "/operations/payment-intents"


@dataclass
class Plan:
    """What the stand-in provider does; tests change it between calls."""

    decline: set[str] = field(default_factory=set)
    """Money calls (``capture``, ``refund``, ``release``) to decline."""
    status: str = "up"
    """``up``, ``fail`` (an error naming a secret host) or ``hang``."""
    calls: list[tuple[str, Any]] = field(default_factory=list)


class StandIn:
    """The ledger provider, wrapped."""

    name = "standin"

    def __init__(self, inner: Any, plan: Plan) -> None:
        self.inner = inner
        self.plan = plan

    def _gate(self, call: str, amount: Any = None) -> None:
        self.plan.calls.append((call, amount))
        if call in self.plan.decline:
            raise InsufficientFunds("declined by the provider")

    async def authenticate(self, **kwargs: Any) -> Any:
        return await self.inner.authenticate(**kwargs)

    async def cards(self, **kwargs: Any) -> Any:
        return await self.inner.cards(**kwargs)

    async def lock(self, **kwargs: Any) -> None:
        await self.inner.lock(**kwargs)

    async def reserve(self, **kwargs: Any) -> Any:
        return await self.inner.reserve(**kwargs)

    async def capture(self, *, hold_ref: str, amount: Money) -> None:
        self._gate("capture", amount)
        await self.inner.capture(hold_ref=hold_ref, amount=amount)

    async def release(self, *, hold_ref: str) -> None:
        self._gate("release")
        await self.inner.release(hold_ref=hold_ref)

    async def lapsed(self, **kwargs: Any) -> Any:
        return await self.inner.lapsed(**kwargs)

    async def refund(self, *, ref: str, amount: Money, reference: str) -> None:
        self._gate("refund", amount)
        await self.inner.refund(ref=ref, amount=amount, reference=reference)

    async def status(self) -> dict[str, str]:
        if self.plan.status == "fail":
            raise ConnectionError("cannot reach giftcards.internal:8443 with key sk_live_123")
        if self.plan.status == "hang":
            await asyncio.sleep(30)
        return await self.inner.status()  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def api_with_standin(
    db: Any, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> AsyncIterator[tuple[Api, Plan]]:
    plan = Plan()
    ledger = PROVIDERS["ledger"]

    def factory(context: ProviderContext) -> Any:
        return StandIn(ledger(context), plan)

    monkeypatch.setitem(PROVIDERS, "standin", factory)
    async with api_with(db, gift_card_provider="standin", **overrides) as api:
        yield api, plan


async def placed_order(
    api: Api, h: dict[str, str], *, balance: int = 10_000, unit: int = 4_000
) -> dict[str, Any]:
    """An order of ``unit`` + 4.90 shipping, all of it on one new card of ``balance``:
    ``{"order", "payment" (its id), "card" (as issued), "total"}``."""
    method = await shipping_method(api, h)
    gift = await card(api, h, balance)
    cart = await ready_cart(api, h, unit=unit, shipping=method)
    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": gift["code"]}, headers=h
    )
    assert added.status_code == 201, added.text
    placed = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    (payment,) = [p for p in order["payments"] if p["status"] == "active"]
    return {"order": order, "payment": payment["id"], "card": gift, "total": unit + 490}


def action(name: str, minor: int | None = None, currency: str = "EUR", **extra: Any) -> Any:
    body: dict[str, Any] = {"action": name, **extra}
    if minor is not None:
        body["amount"] = {"centAmount": minor, "currencyCode": currency}
    return {"actions": [body]}


async def intent(
    api: Api, h: dict[str, str], payment: str, body: Any, status: int = 200
) -> dict[str, Any]:
    response = await api.client.post(f"{INTENTS}/{payment}", json=body, headers=h)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def audit(api: Api) -> list[str]:
    return await api.runtime.db.read(  # type: ignore[no-any-return]
        lambda conn: api.runtime.work(conn, actor=None).ledger.audit()
    )


async def transactions(api: Api, h: dict[str, str], payment: str) -> list[tuple[str, str, int]]:
    found = await api.client.get(f"/payments/{payment}", headers=h)
    assert found.status_code == 200, found.text
    return [
        (t["type"], t["state"], t["amount"]["centAmount"]) for t in found.json()["transactions"]
    ]
