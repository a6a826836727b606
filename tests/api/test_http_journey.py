"""The whole journey over HTTP, as the issue lays it out: the merchant's backend creates a cart
and a session; the shopper's page adds two gift cards (one with a PIN) and picks invoice for
the rest; the order is placed; the backend confirms the invoice, completes, refunds part of a
card, and cancels the rest. Balances, holds, payments, transactions and events are checked at
each step."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.journeys import browser as page_of
from tests.api.journeys import card, checkout_attributes, new_cart, shipping_method
from tests.api.journeys import held as card_state


def transactions(payment: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(t["type"], t["state"], t["amount"]["centAmount"]) for t in payment["transactions"]]


async def event_types(api: Api, h: dict[str, str], after: int | None) -> tuple[list[str], int]:
    query = f"?after={after}" if after is not None else ""
    body = (await api.client.get(f"/events{query}", headers=h)).json()
    return [e["type"] for e in body["results"]], body["next"]


async def test_whole_journey(api: Api) -> None:
    h = await api.headers()
    shipping = await shipping_method(api, h)
    plain = await card(api, h, 3000)
    with_pin = await card(api, h, 2500, pin="4711")

    # 1. The merchant's backend: cart and session.
    cart = await new_cart(api, h, unit=4000, quantity=2)
    browser = await page_of(api, h, cart["id"], futureOrderNumber="SHOP-1001")
    types, cursor = await event_types(api, h, None)
    assert types[-2:] == ["CartCreated", "SessionCreated"]

    # 2. The page: two gift cards, one with its PIN.
    first = await api.client.post(
        "/session/giftcards", json={"code": plain["code"]}, headers=browser
    )
    assert first.status_code == 201, first.text
    second = await api.client.post(
        "/session/giftcards", json={"code": with_pin["code"], "pin": "4711"}, headers=browser
    )
    assert second.status_code == 201, second.text
    p1, p2 = first.json()["payment"], second.json()["payment"]
    assert p1["amountPlanned"]["centAmount"] == 3000
    assert p2["amountPlanned"]["centAmount"] == 2500
    assert await card_state(api, h, plain["id"]) == (3000, 0)  # nothing held before placing

    # 3. The page: checkout data with invoice for the rest, then the order.
    data = checkout_attributes(cart["id"], shipping, "invoice")
    filled = await api.client.post(
        "/checkout-data",
        json={"data": {"type": "checkout-data", "attributes": data}},
        headers=browser,
    )
    assert filled.status_code == 200, filled.text
    assert filled.json()["data"]["attributes"]["totals"]["priceToPay"] == 8490 - 5500
    placed = await api.client.post(
        "/checkout", json={"data": {"type": "checkout", "attributes": data}}, headers=browser
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["data"]["attributes"]["orderReference"] == "SHOP-1001"
    assert await card_state(api, h, plain["id"]) == (3000, 3000)
    assert await card_state(api, h, with_pin["id"]) == (2500, 2500)
    order = (await api.client.get("/orders/SHOP-1001", headers=h)).json()
    assert order["state"] == "Processing"
    by_method = {p["paymentMethod"]: p for p in order["payments"] if p["status"] == "active"}
    assert transactions(by_method["invoice"]) == [("Authorization", "Pending", 2990)]
    types, cursor = await event_types(api, h, cursor)
    assert "OrderPlaced" in types
    assert types.count("PaymentTransactionAdded") == 3

    # 4. The backend confirms the invoice and completes: the cards are charged.
    invoice_id = by_method["invoice"]["id"]
    assert (
        await api.client.post(
            f"/payments/{invoice_id}/confirm",
            json={"dataPayload": [{"type": "invoice-confirmation"}]},
            headers=h,
        )
    ).status_code == 200
    completed = (await api.client.post("/orders/SHOP-1001/complete", headers=h)).json()
    assert completed["state"] == "Completed"
    assert await card_state(api, h, plain["id"]) == (0, 0)
    assert await card_state(api, h, with_pin["id"]) == (0, 0)
    payments = {p["id"]: p for p in completed["payments"]}
    assert transactions(payments[p1["id"]]) == [
        ("Authorization", "Success", 3000),
        ("Charge", "Success", 3000),
    ]

    # 5. A partial refund to the first card, then cancel the rest.
    refunded = await api.client.post(
        f"/payments/{p1['id']}/refund",
        json={"amount": {"centAmount": 1200, "currency": "EUR"}},
        headers=h,
    )
    assert refunded.status_code == 200, refunded.text
    assert await card_state(api, h, plain["id"]) == (1200, 0)
    cancelled = (await api.client.post("/orders/SHOP-1001/cancel", headers=h)).json()
    assert cancelled["state"] == "Cancelled"
    assert await card_state(api, h, plain["id"]) == (3000, 0)
    assert await card_state(api, h, with_pin["id"]) == (2500, 0)
    payments = {p["id"]: p for p in cancelled["payments"]}
    assert transactions(payments[p1["id"]])[-2:] == [
        ("Refund", "Success", 1200),
        ("Refund", "Success", 1800),
    ]
    assert transactions(payments[invoice_id])[-1] == ("Refund", "Success", 2990)
    types, _ = await event_types(api, h, cursor)
    assert {"PaymentAuthorized", "OrderCompleted", "OrderCancelled"} <= set(types)

    # 6. Afterwards nothing moves: the browser cannot touch the cart, the ledger balances.
    assert_error(
        await api.client.post("/session/giftcards", json={"code": plain["code"]}, headers=browser),
        409,
        "CartLocked",
    )
    activities = (await api.client.get(f"/giftcards/{plain['id']}/activities", headers=h)).json()[
        "results"
    ]
    assert [a["type"] for a in activities] == ["issue", "hold", "capture", "refund", "refund"]
    from tender.db.ledger_store import SqlLedgerStore

    assert await api.runtime.db.read(lambda c: SqlLedgerStore(c).audit()) == []
