"""Orders that share gift cards, in opposite positions, completed, cancelled or reopened at the
same moment, over HTTP on SQLite and PostgreSQL. Each of these touches every card of its order
under the card's row lock: taken in the order the cards sit on the cart, two orders holding
cards A, B and B, A waited on each other in a cycle, which PostgreSQL broke after a second by
failing one (retried, so the answers alone looked right). Every unit that locks several cards
takes them in the cards' order, as placing does: no retry may happen, and the books balance."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tender.domain.redemption import CaptureMode
from tests.api.conftest import Api
from tests.api.processor import Shop, crosswise_redemptions
from tests.conftest import Retries

ROUNDS = 4


async def shared_cards(api: Api) -> tuple[Shop, Shop, dict[str, Any], dict[str, Any]]:
    """``crosswise_redemptions``, both orders placed."""
    first, second, a, b = await crosswise_redemptions(api)
    for shop in (first, second):
        placed = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
        assert placed.status_code == 201, placed.text
        shop.cart["order"] = placed.json()["id"]
    return first, second, a, b


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
    db_retries: Retries,
    moves: tuple[str, str],
    left: tuple[int, int] | None,
) -> None:
    api.runtime.redemptions.capture = CaptureMode.AUTHORIZE
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
    assert db_retries() == []
