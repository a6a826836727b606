"""Orders that share gift cards, in opposite positions, completed, cancelled or reopened at the
same moment, over HTTP on SQLite and PostgreSQL. Each of these touches every card of its order
under the card's row lock: taken in the order the cards sit on the cart, two orders holding
cards A, B and B, A waited on each other in a cycle, which PostgreSQL broke after a second by
failing one (retried, so the answers alone looked right). Every unit that locks several cards
takes them in the cards' order, as placing does: no retry may happen, and the books balance."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tender.domain.redemption import CaptureMode
from tests.api.conftest import Api
from tests.api.journeys import card
from tests.api.processor import Shop, open_shop

ROUNDS = 4


async def shared_cards(api: Api) -> tuple[Shop, Shop, dict[str, Any], dict[str, Any]]:
    """Two 44.90 carts, each paid by redeeming cards A and B: the first A then B, the second
    B then A; both orders placed."""
    first, second = await open_shop(api), await open_shop(api)
    a, b = await card(api, first.h, 10_000), await card(api, first.h, 10_000)
    for shop, cards in ((first, (a, b)), (second, (b, a))):
        for gift, cents in zip(cards, (3000, 1490), strict=True):
            redeemed = await shop.redeem(gift["code"], cents)
            assert redeemed.json()["result"] == "Success", redeemed.text
        placed = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
        assert placed.status_code == 201, placed.text
        shop.cart["order"] = placed.json()["id"]
    return first, second, a, b


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tender.db.retries"]


@pytest.mark.parametrize(
    ("moves", "left"),
    [
        (("complete", "complete"), (10_000 - 4490, 0)),
        (("cancel", "cancel"), (10_000, 0)),
        (("reopen", "reopen"), (10_000, 0)),
        (("complete", "cancel"), None),
    ],
)
async def test_orders_sharing_cards_never_wait_on_each_other(
    api: Api,
    caplog: pytest.LogCaptureFixture,
    moves: tuple[str, str],
    left: tuple[int, int] | None,
) -> None:
    api.runtime.redemptions.capture = CaptureMode.AUTHORIZE
    caplog.set_level(logging.INFO, logger="tender.db.retries")
    for _ in range(ROUNDS):
        first, second, a, b = await shared_cards(api)
        answers = await asyncio.gather(
            *(
                api.client.post(f"/orders/{shop.cart['order']}/{move}", headers=shop.h)
                for shop, move in zip((first, second), moves, strict=True)
            )
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        if left is not None:
            assert await first.held(a) == left
            assert await first.held(b) == left
        else:  # the first order took 30.00 of A and 14.90 of B, the second gave its holds back
            assert await first.held(a) == (10_000 - 3000, 0)
            assert await first.held(b) == (10_000 - 1490, 0)
        assert await first.audit() == []
    assert retries(caplog) == []
