"""The checkout over HTTP: carts, gift cards (tender's and Norce's routes), placing, the order
life cycle, payments, events; with the balances checked at each step."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api, assert_error
from tests.api.journeys import card, choose_payment_method, ready_cart, update_cart
from tests.api.journeys import held as balance


async def test_checkout_journey_over_http(api: Api) -> None:
    h = await api.headers()
    first = await card(api, h, 3000)
    second = await card(api, h, 2500, pin="4711")
    cart = await ready_cart(api, h, unit=4000, quantity=2)
    assert cart["totals"]["grandTotal"]["centAmount"] == 8490
    assert cart["totals"]["tax"]["centAmount"] == 1355  # 1277 on the lines + 78 on shipping

    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": first["code"]}, headers=h
    )
    assert added.status_code == 201, added.text
    p1 = added.json()["payment"]
    assert p1["amountPlanned"]["centAmount"] == 3000
    assert p1["giftCard"]["code"] == "****" + first["code"][-4:]
    norce = await api.client.post(
        f"/api/checkout/v1/orders/{cart['id']}/payments",
        json={"cardId": second["code"], "code": "4711"},
        headers=h,
    )
    assert norce.status_code == 201, norce.text
    assert '"amount": 25,' in norce.text
    assert norce.json()["upperLimitAmount"] == 25
    p2 = norce.json()["id"]

    # Nobody can place it without saying how the remaining 29.90 is paid.
    refused = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert_error(refused, 422, "PaymentIncomplete")
    current = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    assert current["totals"]["remaining"]["centAmount"] == 2990

    await update_cart(api, h, current, {"action": "setCustomerEmail", "email": "ada@example.com"})
    # Select invoice for the rest through the cart's payment method.
    chosen = await choose_payment_method(api, h, cart["id"], "invoice")
    assert chosen["paymentMethods"] == [{"paymentMethod": "invoice", "paymentProvider": "tender"}]

    placed = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "Processing"
    assert await balance(api, h, first["id"]) == (3000, 3000)
    assert await balance(api, h, second["id"]) == (2500, 2500)
    twice = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert_error(twice, 409, "OrderAlreadyPlaced")
    locked = await api.client.post(f"/carts/{cart['id']}/giftcards/{p2}/remove", headers=h)
    assert_error(locked, 409, "CartLocked")

    invoice = next(p for p in order["payments"] if p["paymentMethod"] == "invoice")
    incomplete = await api.client.post(f"/orders/{order['id']}/complete", headers=h)
    assert_error(incomplete, 409, "PaymentNotAuthorized")
    forged = await api.client.post(
        f"/payments/{invoice['id']}/confirm", json={"dataPayload": [{"type": "other"}]}, headers=h
    )
    assert_error(forged, 422, "PaymentConfirmationRefused")
    confirmed = await api.client.post(
        f"/payments/{invoice['id']}/confirm",
        json={"dataPayload": [{"type": "invoice-confirmation"}]},
        headers=h,
    )
    assert confirmed.status_code == 200, confirmed.text

    completed = await api.client.post(
        f"/orders/{order['orderReference']}/complete",
        headers=h,
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["state"] == "Completed"
    assert await balance(api, h, first["id"]) == (0, 0)
    assert await balance(api, h, second["id"]) == (0, 0)

    again = await api.client.post(f"/payments/{p1['id']}/capture", headers=h)
    assert_error(again, 409)
    partial = await api.client.post(
        f"/payments/{p1['id']}/refund",
        json={"amount": {"centAmount": 1000, "currency": "EUR"}},
        headers=h,
    )
    assert partial.status_code == 200, partial.text
    assert await balance(api, h, first["id"]) == (1000, 0)
    too_much = await api.client.post(
        f"/payments/{p1['id']}/refund",
        json={"amount": {"centAmount": 2001, "currency": "EUR"}},
        headers=h,
    )
    assert_error(too_much, 422, "RefundExceedsCapture")

    cancelled = await api.client.post(f"/orders/{order['id']}/cancel", headers=h)
    assert cancelled.json()["state"] == "Cancelled"
    assert await balance(api, h, first["id"]) == (3000, 0)
    assert await balance(api, h, second["id"]) == (2500, 0)
    assert_error(await api.client.post(f"/orders/{order['id']}/complete", headers=h), 409)

    listed = (await api.client.get("/orders?state=Cancelled", headers=h)).json()
    assert [o["id"] for o in listed["results"]] == [order["id"]]
    listed_payments = {p["id"] for p in listed["results"][0]["payments"]}
    assert {p1["id"], p2, invoice["id"]} <= listed_payments
    events = (await api.client.get("/events", headers={**h, "X-Correlation-ID": "x"})).json()
    types = [e["type"] for e in events["results"]]
    for expected in (
        "CartCreated",
        "GiftCardAdded",
        "OrderPlaced",
        "OrderCompleted",
        "OrderCancelled",
        "PaymentTransactionAdded",
    ):
        assert expected in types
    later = (await api.client.get(f"/events?after={events['next']}", headers=h)).json()
    assert later["results"] == []


async def test_other_clients_cannot_see_each_others_carts(api: Api) -> None:
    mine = await api.headers("manage_orders")
    theirs = await api.headers("manage_orders")
    created = await api.client.post(
        "/carts", json={"currency": "EUR", "country": "DE"}, headers=mine
    )
    cart_id = created.json()["id"]
    assert_error(await api.client.get(f"/carts/{cart_id}", headers=theirs), 404, "CartNotFound")
    assert_error(
        await api.client.get("/carts/00000000-0000-7000-8000-000000000000", headers=mine),
        404,
        "CartNotFound",
    )


async def test_cart_updates_are_versioned_and_atomic(api: Api) -> None:
    h = await api.headers("manage_orders")
    cart = (
        await api.client.post("/carts", json={"currency": "JPY", "country": "JP"}, headers=h)
    ).json()
    stale = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": cart["version"] + 5,
            "actions": [{"action": "setCountry", "country": "DE"}],
        },
        headers=h,
    )
    body = assert_error(stale, 409, "ConcurrentModification")
    assert body["currentVersion"] == cart["version"]

    def add_line(quantity: int, cents: int, currency: str = "JPY") -> dict[str, Any]:
        price = {"centAmount": cents, "currency": currency}
        line = {"sku": "A", "name": "A", "quantity": quantity, "price": price, "taxRate": "10"}
        return {"action": "addLineItem", **line}

    async def update(*actions: dict[str, Any]) -> httpx.Response:
        body = {"version": cart["version"], "actions": list(actions)}
        return await api.client.post(f"/carts/{cart['id']}", json=body, headers=h)

    half_bad = await update(add_line(1, 500), {"action": "removeLineItem", "lineItemId": "missing"})
    assert_error(half_bad, 404, "LineItemNotFound")
    unchanged = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    assert unchanged["version"] == cart["version"]
    assert unchanged["lineItems"] == []
    assert_error(await update(add_line(1, 500, "EUR")), 422, "CurrencyMismatch")
    good = await update(add_line(3, 333))
    assert good.status_code == 200, good.text
    totals = good.json()["totals"]
    assert totals["grandTotal"]["centAmount"] == 999
    assert totals["tax"]["centAmount"] == 91  # 999 * 10 / 110 = 90.8 -> 91
    assert totals["grandTotal"]["fractionDigits"] == 0


async def test_norce_routes_answer_bad_request_for_unusable_cards(api: Api) -> None:
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    path = f"/api/checkout/v1/orders/{cart['id']}/payments"
    unknown = await api.client.post(path, json={"cardId": "1234567812345670"}, headers=h)
    assert_error(unknown, 400)
    empty = await card(api, h, 0)
    assert_error(await api.client.post(path, json={"cardId": empty["code"]}, headers=h), 400)
    with_pin = await card(api, h, 100, pin="1234")
    assert_error(await api.client.post(path, json={"cardId": with_pin["code"]}, headers=h), 400)
    kwd = await api.client.post("/carts", json={"currency": "KWD", "country": "KW"}, headers=h)
    assert kwd.status_code == 201


async def test_events_carry_the_requests_correlation_id(api: Api) -> None:
    h = await api.headers("manage_orders")
    created = await api.client.post(
        "/carts",
        json={"currency": "EUR", "country": "DE"},
        headers={**h, "X-Correlation-ID": "shop-order-77"},
    )
    assert created.headers["x-correlation-id"] == "shop-order-77"
    events = (await api.client.get("/events", headers=h)).json()["results"]
    created_events = [e for e in events if e["objectId"] == created.json()["id"]]
    assert [e["correlationId"] for e in created_events] == ["shop-order-77"]


async def test_the_order_reference_is_decided_in_one_place(api: Api) -> None:
    """The merchant's own reference if free; else the number a session promised for the cart;
    else a fresh one, whichever route places the order."""
    h = await api.headers()
    promised = await ready_cart(api, h, unit=4000, quantity=2)
    session = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": promised["id"]}},
            "metadata": {"futureOrderNumber": "SHOP-42"},
        },
        headers=h,
    )
    assert session.status_code == 201, session.text
    other = await ready_cart(api, h, unit=4000, quantity=2)
    for cart in (promised, other):
        for _ in range(2):
            code = (await card(api, h, 5000))["code"]
            added = await api.client.post(
                f"/carts/{cart['id']}/giftcards", json={"code": code}, headers=h
            )
            assert added.status_code == 201, added.text
    taken = await api.client.post(
        "/orders", json={"cartId": other["id"], "orderReference": "SHOP-42"}, headers=h
    )
    assert_error(taken, 400, "InvalidInput")
    assert taken.json()["errors"][0]["field"] == "orderReference"
    placed = await api.client.post("/orders", json={"cartId": promised["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    assert placed.json()["orderReference"] == "SHOP-42"
    fresh = await api.client.post("/orders", json={"cartId": other["id"]}, headers=h)
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["orderReference"].startswith("TND-")


async def test_a_payment_method_is_chosen_and_cleared_through_the_cart(api: Api) -> None:
    h = await api.headers("manage_orders")
    cart = await ready_cart(api, h, unit=4000)
    chosen = await choose_payment_method(api, h, cart["id"], "Invoice")
    assert chosen["paymentMethods"] == [{"paymentMethod": "invoice", "paymentProvider": "tender"}]
    unknown = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": chosen["version"],
            "actions": [{"action": "setPaymentMethod", "paymentMethod": "cash"}],
        },
        headers=h,
    )
    body = assert_error(unknown, 422, "PaymentMethodNotAllowed")
    assert body["errors"][0]["field"] == "paymentMethod"
    assert (
        body["errors"][0]["message"] == "cash is not available here; use one of giftcard, invoice"
    )
    cleared = await update_cart(
        api, h, chosen, {"action": "setPaymentMethod", "paymentMethod": None}
    )
    assert cleared["paymentMethods"] == []
    assert cleared["version"] == chosen["version"] + 1
