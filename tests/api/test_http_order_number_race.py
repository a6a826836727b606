"""Order numbers are unique across orders and the numbers sessions promised
(``futureOrderNumber``), also when two requests on different carts ask for one at once: the
cart locks do not serialise them, and under ``READ COMMITTED`` both checks passed, so the
second insert hit a unique constraint (a 500), or, order against session, two tables no
constraint spans, a cart promised a number another order took, which could then never be
placed. The window between a check and its insert is widened here so that the two always
overlap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tender.db.order_store import SqlOrderStore
from tests.api.conftest import Api, assert_error
from tests.api.journeys import ORIGIN, add_card, card, ready_cart, shipping_method


@pytest.fixture
async def server(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a server runs it: an unexpected error answers 500 instead of raising here."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def overlapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request waits after asking whether its number is free, before it writes."""
    asked = SqlOrderStore.take_order_number

    async def slowly(self: SqlOrderStore, owner: str, number: str) -> bool:
        free = await asked(self, owner, number)
        await asyncio.sleep(0.2)
        return free

    monkeypatch.setattr(SqlOrderStore, "take_order_number", slowly)


async def paid_carts(api: Api, h: dict[str, str], count: int) -> list[str]:
    method = await shipping_method(api, h)
    carts = []
    for _ in range(count):
        gift = await card(api, h, 10_000)
        cart = await ready_cart(api, h, unit=4_000, shipping=method)
        await add_card(api, h, cart["id"], gift["code"])
        carts.append(str(cart["id"]))
    return carts


def promising(cart_id: str, number: str) -> dict[str, Any]:
    metadata = {"allowedOrigins": [ORIGIN], "futureOrderNumber": number}
    return {"cart": {"cartRef": {"id": cart_id}}, "metadata": metadata}


async def test_two_orders_placed_at_once_with_one_reference(
    api: Api, server: httpx.AsyncClient, overlapping: None
) -> None:
    h = await api.headers()
    carts = await paid_carts(api, h, 2)
    answers = await asyncio.gather(
        *(
            server.post("/orders", json={"cartId": c, "orderReference": "PO-1"}, headers=h)
            for c in carts
        )
    )
    refused = [a for a in answers if a.status_code != 201]
    assert len(refused) == 1, [a.text for a in answers]
    assert_error(refused[0], 400, "InvalidInput")


async def test_two_sessions_at_once_promise_one_number(
    api: Api, server: httpx.AsyncClient, overlapping: None
) -> None:
    h = await api.headers()
    carts = await paid_carts(api, h, 2)
    answers = await asyncio.gather(
        *(server.post("/sessions", json=promising(c, "N-1"), headers=h) for c in carts)
    )
    refused = [a for a in answers if a.status_code != 201]
    assert len(refused) == 1, [a.text for a in answers]
    assert_error(refused[0], 409, "DuplicateOrderNumber")


async def test_an_order_and_a_session_at_once_on_one_number(
    api: Api, server: httpx.AsyncClient, overlapping: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of them is refused; the cart whose session was created is placed afterwards under
    its promised number."""
    h = await api.headers()
    placed, promised = await paid_carts(api, h, 2)
    order, session = await asyncio.gather(
        server.post("/orders", json={"cartId": placed, "orderReference": "N-2"}, headers=h),
        server.post("/sessions", json=promising(promised, "N-2"), headers=h),
    )
    assert sorted([order.status_code, session.status_code]) in ([201, 409], [201, 400])
    monkeypatch.undo()
    if session.status_code == 201:
        later = await server.post("/orders", json={"cartId": promised}, headers=h)
        assert later.status_code == 201, later.text
        assert later.json()["orderReference"] == "N-2"
    else:
        assert_error(session, 409, "DuplicateOrderNumber")
        assert order.json()["orderReference"] == "N-2"
