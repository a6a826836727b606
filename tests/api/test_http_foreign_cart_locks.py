"""A client naming another client's cart is answered as for an unknown cart without taking the
cart's lock: it cannot hold up the owner's requests, nor be held up by them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text

from tests.api.conftest import Api
from tests.api.journeys import checkout_document, new_cart
from tests.conftest import POSTGRESQL_ONLY

"""Row locks are PostgreSQL's: SQLite's one writer serialises every write whatever it names."""


@asynccontextmanager
async def locked(api: Api, cart_id: str) -> AsyncIterator[None]:
    """The cart's row lock, held as the owner's own request would hold it."""
    async with api.runtime.db.engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text("SELECT id FROM carts WHERE id = :id FOR UPDATE"), {"id": cart_id})
        try:
            yield
        finally:
            await transaction.rollback()


@POSTGRESQL_ONLY
async def test_another_clients_cart_is_refused_without_waiting_for_its_lock(api: Api) -> None:
    owner, other = await api.headers(), await api.headers()
    cart = await new_cart(api, owner)
    calls: dict[str, tuple[str, dict[str, object], int]] = {
        "POST /sessions": ("/sessions", {"cart": {"cartRef": {"id": cart["id"]}}}, 404),
        "POST /carts/{id}": (
            f"/carts/{cart['id']}",
            {"version": cart["version"], "actions": [{"action": "setCountry", "country": "AT"}]},
            404,
        ),
        "POST /checkout-data": (
            "/checkout-data",
            checkout_document("checkout-data", cart["id"], 1, "invoice"),
            422,  # Glue's status for a cart it does not find
        ),
    }
    async with locked(api, cart["id"]):
        for label, (path, body, status) in calls.items():
            try:
                response: httpx.Response = await asyncio.wait_for(
                    api.client.post(path, json=body, headers=other), timeout=3
                )
            except TimeoutError:
                pytest.fail(f"{label} on another client's cart waited for the cart's lock")
            assert response.status_code == status, (label, response.text)
            assert response.json()["errors"][0]["code"] == "CartNotFound"
    unchanged = await api.client.get(f"/carts/{cart['id']}", headers=owner)
    assert unchanged.json()["version"] == cart["version"]
