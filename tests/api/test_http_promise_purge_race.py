"""The sweep, forgetting a month-old promise of an order number, passes over a cart being
placed under that number: else the client could promise the number to another cart before the
order that takes it commits, and that cart could never be placed."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tender.db import purge
from tender.db.session_store import SqlSessionStore
from tests.api.conftest import Api
from tests.api.journeys import choose_payment_method, ready_cart, shipping_method


@pytest.mark.parametrize("migrated_db", ["postgresql"], indirect=True)
async def test_a_promise_being_placed_is_not_forgotten(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, secret = await api.new_client()

    async def headers() -> dict[str, str]:
        got = await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        return {"Authorization": f"Bearer {got.json()['access_token']}"}

    h = await headers()
    method = await shipping_method(api, h)
    a = await ready_cart(api, h, unit=4000, shipping=method)
    b = await ready_cart(api, h, unit=4000, shipping=method)
    for cart in (a, b):
        await choose_payment_method(api, h, cart["id"], "Invoice")
    promise = {"cart": {"cartRef": {"id": a["id"]}}, "metadata": {"futureOrderNumber": "N-1"}}
    assert (await api.client.post("/sessions", json=promise, headers=h)).status_code == 201
    s = api.runtime.settings
    grace = timedelta(seconds=s.order_payment_window_seconds)
    api.clock.advance(
        seconds=(
            timedelta(seconds=s.session_ttl_seconds) + grace + purge.PROMISE_KEPT
        ).total_seconds()
        + 60
    )
    h = await headers()
    app = api.client._transport.app  # type: ignore[attr-defined]
    server = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )
    original = SqlSessionStore.future_order_number
    meanwhile: list[int] = []

    async def elsewhere() -> None:
        async with api.runtime.db.engine.begin() as conn:  # the sweep, on another worker
            await purge.forget_expired(conn, api.clock.now(), session_grace=grace)
        again = {"cart": {"cartRef": {"id": b["id"]}}, "metadata": {"futureOrderNumber": "N-1"}}
        meanwhile.append((await server.post("/sessions", json=again, headers=h)).status_code)

    async def read_then_race(self: SqlSessionStore, cart_id: str) -> Any:
        promised = await original(self, cart_id)
        if promised == "N-1" and not meanwhile:
            await asyncio.create_task(elsewhere(), context=contextvars.Context())
        return promised

    monkeypatch.setattr(SqlSessionStore, "future_order_number", read_then_race)
    try:
        placed = await server.post("/orders", json={"cartId": a["id"]}, headers=h)
        later = await server.post("/orders", json={"cartId": b["id"]}, headers=h)
    finally:
        await server.aclose()
    assert placed.status_code == 201, placed.text
    assert placed.json()["orderReference"] == "N-1"
    assert meanwhile == [409]  # N-1 was still promised while A was placed under it
    assert later.status_code == 201, later.text
    assert later.json()["orderReference"] != "N-1"
