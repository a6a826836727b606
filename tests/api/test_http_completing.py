"""Hole 5 of issue 8: an order is never Completed with money its payments no longer bring. A
cancelled gift card payment or a released remainder makes ``complete`` answer 409, naming the
payment; a merchant who settles for less says so, and the reason stays on the order and in
its ``OrderCompleted`` event."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.journeys import card, checkout_document, held, ready_cart, shipping_method


async def paid_by_card_and_invoice(api: Api) -> dict[str, Any]:
    """An order of 100.00: a gift card covers 50.00, a confirmed invoice the other 50.00."""
    h = await api.headers()
    shipping = await shipping_method(api, h)
    gift = await card(api, h, 5_000)
    cart = await ready_cart(api, h, unit=9_510, shipping=shipping)
    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": gift["code"]}, headers=h
    )
    assert added.status_code == 201, added.text
    chosen = await api.client.post(
        "/checkout-data",
        json=checkout_document("checkout-data", cart["id"], shipping, "invoice"),
        headers=h,
    )
    assert chosen.status_code == 200, chosen.text
    placed = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    by_method = {p["paymentMethod"]: p for p in order["payments"] if p["status"] == "active"}
    confirmed = await api.client.post(
        f"/payments/{by_method['invoice']['id']}/confirm",
        json={"dataPayload": [{"type": "invoice-confirmation"}]},
        headers=h,
    )
    assert confirmed.status_code == 200, confirmed.text
    return {
        "h": h,
        "order": order,
        "card": gift,
        "masked": "****" + gift["code"][-4:],
        "gift_payment": by_method["giftcard"]["id"],
        "invoice_payment": by_method["invoice"]["id"],
    }


def charges(order: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (p["paymentMethod"], t["amount"]["centAmount"])
        for p in order["payments"]
        for t in p["transactions"]
        if t["type"] == "Charge"
    ]


async def test_a_cancelled_card_payment_stops_completion_until_settled(api: Api) -> None:
    world = await paid_by_card_and_invoice(api)
    h, order_id = world["h"], world["order"]["id"]
    cancelled = await api.client.post(f"/payments/{world['gift_payment']}/cancel", headers=h)
    assert cancelled.status_code == 200, cancelled.text

    refused = await api.client.post(f"/orders/{order_id}/complete", headers=h)
    body = assert_error(refused, 409, "PaymentsShortOfTotal")
    message = body["errors"][0]["message"]
    assert world["gift_payment"] in message
    assert world["masked"] in message
    assert "covers 0.00 EUR of its 50.00 EUR" in message
    assert "cover 50.00 EUR of its 100.00 EUR" in message
    assert "settleForLess" in message
    order = (await api.client.get(f"/orders/{order_id}", headers=h)).json()
    assert order["state"] == "Processing"
    assert charges(order) == []
    assert order["settledForLess"] is None
    assert await held(api, h, world["card"]["id"]) == (5_000, 0)

    for bad in ({"settleForLess": {"reason": ""}}, {"settleForLess": {}}, {"settle": True}):
        assert_error(
            await api.client.post(f"/orders/{order_id}/complete", json=bad, headers=h), 400
        )

    settled = await api.client.post(
        f"/orders/{order_id}/complete",
        json={"settleForLess": {"reason": "partial shipment"}},
        headers=h,
    )
    assert settled.status_code == 200, settled.text
    done = settled.json()
    assert done["state"] == "Completed"
    shortfall = {"centAmount": 5_000, "currency": "EUR", "currencyCode": "EUR", "fractionDigits": 2}
    assert done["settledForLess"] == {"reason": "partial shipment", "shortfall": shortfall}
    assert charges(done) == [("invoice", 5_000)]
    stored = (await api.client.get(f"/orders/{order_id}", headers=h)).json()
    assert stored["settledForLess"] == done["settledForLess"]
    assert await held(api, h, world["card"]["id"]) == (5_000, 0)  # the card was never charged
    events = (await api.client.get("/events?limit=500", headers=h)).json()["results"]
    completed = [e for e in events if e["type"] == "OrderCompleted"]
    assert len(completed) == 1
    assert completed[0]["payload"]["settledForLess"] == {
        "reason": "partial shipment",
        "shortfall": 5_000,
        "currency": "EUR",
    }


async def test_a_released_remainder_stops_completion(api: Api) -> None:
    world = await paid_by_card_and_invoice(api)
    h, order_id = world["h"], world["order"]["id"]
    partial = await api.client.post(
        f"/payments/{world['gift_payment']}/capture",
        json={"amount": {"centAmount": 2_000, "currency": "EUR"}},
        headers=h,
    )
    assert partial.status_code == 200, partial.text  # 20.00 taken, 30.00 released
    refused = await api.client.post(f"/orders/{order_id}/complete", headers=h)
    message = assert_error(refused, 409, "PaymentsShortOfTotal")["errors"][0]["message"]
    assert f"{world['masked']}) covers 20.00 EUR of its 50.00 EUR" in message
    assert "cover 70.00 EUR of its 100.00 EUR" in message
    order = (await api.client.get(f"/orders/{order_id}", headers=h)).json()
    assert order["state"] == "Processing"
    assert charges(order) == [("giftcard", 2_000)]


async def test_covered_orders_complete_without_a_settlement(api: Api) -> None:
    world = await paid_by_card_and_invoice(api)
    h, order_id = world["h"], world["order"]["id"]
    # Saying it settles for less when nothing is short records nothing.
    done = await api.client.post(
        f"/orders/{order_id}/complete",
        json={"settleForLess": {"reason": "just in case"}},
        headers=h,
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "Completed"
    assert done.json()["settledForLess"] is None
    assert sorted(charges(done.json())) == [("giftcard", 5_000), ("invoice", 5_000)]
    assert await held(api, h, world["card"]["id"]) == (0, 0)
