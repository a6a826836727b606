"""Steps the processor tests share: a shop (a merchant's token, a cart ready to place and a page
on a session for it), the processor's calls as the page makes them, and what a card holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tender.db.ledger_store import SqlLedgerStore
from tests.api.conftest import Api
from tests.api.journeys import browser, card, held, ready_cart, shipping_method


@dataclass
class Shop:
    api: Api
    h: dict[str, str]
    """The merchant's backend."""
    cart: dict[str, Any]
    page: dict[str, str]
    """The shopper's page: ``X-Session-Id`` and its origin."""
    shipping: int

    async def balance(self, code: str, pin: str | None = None, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"code": code, **extra}
        if pin is not None:
            body["pin"] = pin
        return await self.api.client.post("/balance", json=body, headers=self.page)

    async def redeem(
        self,
        code: str,
        cents: int,
        *,
        pin: str | None = None,
        currency: str = "EUR",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "code": code,
            "redeemAmount": {"centAmount": cents, "currencyCode": currency},
        }
        if pin is not None:
            body["pin"] = pin
        return await self.api.client.post("/redeem", json=body, headers=headers or self.page)

    async def config(self) -> httpx.Response:
        return await self.api.client.get("/operations/config", headers=self.page)

    async def current(self) -> dict[str, Any]:
        """The cart as the merchant's backend sees it."""
        response = await self.api.client.get(f"/carts/{self.cart['id']}", headers=self.h)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def held(self, card: dict[str, Any]) -> tuple[int, int]:
        return await held(self.api, self.h, card["id"])

    async def holds_taken(self, card: dict[str, Any]) -> int:
        """How many holds were ever taken on the card."""
        page = await self.api.client.get(f"/giftcards/{card['id']}/activities", headers=self.h)
        return sum(1 for a in page.json()["results"] if a["type"] == "hold")

    async def audit(self) -> list[str]:
        return await self.api.runtime.db.read(lambda c: SqlLedgerStore(c).audit())


async def open_shop(api: Api, *, unit: int = 4000, **metadata: Any) -> Shop:
    """A cart of ``unit`` + 4.90 shipping (44.90 by default) and a page on a session for it."""
    h = await api.headers()
    shipping = await shipping_method(api, h)
    cart = await ready_cart(api, h, unit=unit, shipping=shipping)
    metadata.setdefault("paymentInterface", "tender-giftcards")
    page = await browser(api, h, cart["id"], **metadata)
    return Shop(api, h, cart, page, shipping)


async def crosswise_redemptions(api: Api) -> tuple[Shop, Shop, dict[str, Any], dict[str, Any]]:
    """Two 44.90 carts, each paid by redeeming 30.00 and 14.90 of cards A and B (100.00
    each): the first A then B, the second B then A, so that whatever moves both carts' money
    at once takes the same two cards in opposite orders unless it sorts them."""
    first, second = await open_shop(api), await open_shop(api)
    a, b = await card(api, first.h, 10_000), await card(api, first.h, 10_000)
    for shop, cards in ((first, (a, b)), (second, (b, a))):
        for gift, cents in zip(cards, (3000, 1490), strict=True):
            redeemed = await shop.redeem(gift["code"], cents)
            assert redeemed.json()["result"] == "Success", redeemed.text
    return first, second, a, b


def gift_payments(cart: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in cart["payments"] if p["paymentMethod"] == "giftcard"]


def transactions(payment: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(t["type"], t["state"], t["amount"]["centAmount"]) for t in payment["transactions"]]
