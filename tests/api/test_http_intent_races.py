"""A payment intent decides on its order as it is under the cart's lock, not as it was
before: a placing or reopen committed while the intent waited for the lock changes what it
may do. Read before the lock, a cancel sent to a reopened order that was placed again
meanwhile still took the order for open, and withdrew the payment from it (``removed`` on a
Processing order, the event saying Checkout): an outcome neither order of the two requests
gives. The window between the intent's first read and its lock is widened here."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from tender.db.order_store import SqlOrderStore
from tender.domain.orders import Order
from tests.api.conftest import Api, assert_error
from tests.api.operations_setup import INTENTS, action, placed_order

SLOW = contextvars.ContextVar("slow", default=False)


@pytest.fixture
def late_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that set ``SLOW`` waits after its first read of an order."""
    read = SqlOrderStore.order_by_cart

    async def slowly(self: SqlOrderStore, cart_id: str) -> Order | None:
        found = await read(self, cart_id)
        if SLOW.get():
            SLOW.set(False)
            await asyncio.sleep(0.5)
        return found

    monkeypatch.setattr(SqlOrderStore, "order_by_cart", slowly)


async def test_a_cancel_waiting_for_the_lock_sees_the_order_placed_again(
    api: Api, late_lock: None
) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    order, payment = world["order"], world["payment"]
    reopened = await api.client.post(f"/orders/{order['id']}/reopen", headers=h)
    assert reopened.status_code == 200, reopened.text

    async def cancel() -> Any:
        SLOW.set(True)
        return await api.client.post(
            f"{INTENTS}/{payment}", json=action("cancelPayment"), headers=h
        )

    async def place() -> Any:
        await asyncio.sleep(0.1)
        return await api.client.post("/orders", json={"cartId": order["cartId"]}, headers=h)

    cancelled, placed = await asyncio.gather(cancel(), place())
    assert placed.status_code == 201, placed.text
    after = (await api.client.get(f"/payments/{payment}", headers=h)).json()
    assert after["status"] == "active", after  # in the order placed, whichever came first
    events = (await api.client.get("/events", headers=h)).json()["results"]
    processed = [e["payload"] for e in events if e["type"] == "PaymentIntentProcessed"]
    if cancelled.status_code == 200:  # placed first (PostgreSQL): it cancels in its order
        assert cancelled.json() == {"outcome": "approved"}, cancelled.text
        assert [p["state"] for p in processed] == ["Processing"], processed
    else:  # cancelled first (SQLite's one writer): reopening had released the authorization
        assert_error(cancelled, 409, "PaymentTransactionRefused")
        assert processed == []
