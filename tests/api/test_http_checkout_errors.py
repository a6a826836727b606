"""Bad input on every checkout endpoint: the one error shape, the right 4xx, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error

UNKNOWN = "00000000-0000-7000-8000-000000000000"
LINE = {
    "sku": "A",
    "name": "A",
    "quantity": 1,
    "price": {"centAmount": 100, "currency": "EUR"},
    "taxRate": "19.00",
}


@pytest.fixture
async def world(api: Api) -> dict[str, Any]:
    h = await api.headers()
    cart = (
        await api.client.post(
            "/carts", json={"currency": "EUR", "country": "DE", "lineItems": [LINE]}, headers=h
        )
    ).json()
    card = (
        await api.client.post(
            "/giftcards", json={"amount": {"centAmount": 1000, "currency": "EUR"}}, headers=h
        )
    ).json()
    return {"api": api, "h": h, "cart": cart, "card": card}


async def snapshot(world: dict[str, Any]) -> tuple[Any, ...]:
    api, h = world["api"], world["h"]
    cart = (await api.client.get(f"/carts/{world['cart']['id']}", headers=h)).json()
    card = (await api.client.get(f"/giftcards/{world['card']['id']}", headers=h)).json()
    orders = (await api.client.get("/orders", headers=h)).json()["results"]
    return cart["version"], cart["lineItems"], cart["payments"], card["balance"], len(orders)


BAD_CARTS = [
    ({"currency": "EUR"}, 400, "MissingField"),
    ({"currency": "XXX", "country": "DE"}, 400, "InvalidCurrency"),
    ({"currency": "EUR", "country": "Germany"}, 400, "InvalidInput"),
    ({"currency": "EUR", "country": "DE", "customerEmail": "nope"}, 400, "InvalidInput"),
    (
        {"currency": "EUR", "country": "DE", "lineItems": [{**LINE, "quantity": 0}]},
        400,
        "InvalidField",
    ),
    (
        {"currency": "EUR", "country": "DE", "lineItems": [{**LINE, "taxRate": "19.001"}]},
        400,
        "InvalidInput",
    ),
    (
        {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [{**LINE, "price": {"centAmount": 100, "currency": "USD"}}],
        },
        422,
        "CurrencyMismatch",
    ),
    (
        {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [{**LINE, "price": {"centAmount": -1, "currency": "EUR"}}],
        },
        400,
        "InvalidAmount",
    ),
    ({"currency": "EUR", "country": "DE", "extra": 1}, 400, "InvalidField"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_CARTS)
async def test_bad_carts_are_refused(
    world: dict[str, Any], body: Any, status: int, code: str
) -> None:
    before = await snapshot(world)
    response = await world["api"].client.post("/carts", json=body, headers=world["h"])
    assert_error(response, status, code)
    assert await snapshot(world) == before


BAD_UPDATES = [
    ({"actions": [{"action": "setCountry", "country": "AT"}]}, 400, "MissingField"),
    ({"version": 1, "actions": []}, 400, "InvalidField"),
    ({"version": 1, "actions": [{"action": "explode"}]}, 400, "InvalidField"),
    (
        {
            "version": 1,
            "actions": [{"action": "changeLineItemQuantity", "lineItemId": "x", "quantity": 2}],
        },
        404,
        "LineItemNotFound",
    ),
    (
        {"version": 1, "actions": [{"action": "setShippingMethod", "shippingMethodId": 999}]},
        404,
        "ShippingMethodNotFound",
    ),
    *(
        (
            {"version": 1, "actions": [{"action": "setShippingMethod", "shippingMethodId": n}]},
            404,
            "ShippingMethodNotFound",
        )
        for n in (2**31, 2**40, 2**63 - 1, 2**63, 2**64, -(2**31) - 1, 0, -1)
    ),
    (
        {
            "version": 1,
            "actions": [{"action": "setShippingAddress", "address": {"firstName": "A"}}],
        },
        400,
        "InvalidInput",
    ),
    ({"version": "1", "actions": [{"action": "setCountry", "country": "AT"}]}, 400, "InvalidField"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_UPDATES)
async def test_bad_cart_updates_change_nothing(
    world: dict[str, Any], body: Any, status: int, code: str
) -> None:
    before = await snapshot(world)
    response = await world["api"].client.post(
        f"/carts/{world['cart']['id']}", json=body, headers=world["h"]
    )
    assert_error(response, status, code)
    assert await snapshot(world) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", f"/carts/{UNKNOWN}", None, 404, "CartNotFound"),
        ("POST", f"/carts/{UNKNOWN}/giftcards", {"code": "1234"}, 404, "CartNotFound"),
        (
            "POST",
            "/carts/{cart}/giftcards",
            {"code": "0000 0000 0000 0000"},
            400,
            "InvalidGiftCard",
        ),
        ("POST", "/carts/{cart}/giftcards", {"pin": "1"}, 400, "MissingField"),
        ("POST", "/carts/{cart}/giftcards/nope/remove", None, 404, "PaymentNotFound"),
        ("POST", "/orders", {"cartId": UNKNOWN}, 404, "CartNotFound"),
        ("POST", "/orders", {"cartId": "{cart}"}, 422, "CheckoutDataInvalid"),
        ("POST", "/orders", {}, 400, "MissingField"),
        ("GET", f"/orders/{UNKNOWN}", None, 404, "OrderNotFound"),
        ("POST", f"/orders/{UNKNOWN}/complete", None, 404, "OrderNotFound"),
        ("GET", "/orders?state=Lost", None, 400, "InvalidField"),
        ("GET", f"/payments/{UNKNOWN}", None, 404, "PaymentNotFound"),
        ("POST", f"/payments/{UNKNOWN}/capture", None, 404, "PaymentNotFound"),
        (
            "POST",
            f"/payments/{UNKNOWN}/refund",
            {"amount": {"centAmount": 1, "currency": "EUR"}},
            404,
            "PaymentNotFound",
        ),
        ("POST", f"/payments/{UNKNOWN}/confirm", {"dataPayload": []}, 404, "PaymentNotFound"),
        (
            "POST",
            "/shipping-methods",
            {"name": "X", "price": {"centAmount": -5, "currency": "EUR"}, "taxRate": "19.00"},
            400,
            "InvalidAmount",
        ),
        (
            "POST",
            "/shipping-methods",
            {"name": "X", "price": {"centAmount": 5, "currency": "EUR"}, "taxRate": "abc"},
            400,
            "InvalidInput",
        ),
        ("POST", "/sessions", {"cart": {"cartRef": {"id": UNKNOWN}}}, 404, "CartNotFound"),
        ("POST", "/sessions", {"cart": {}}, 400, "MissingField"),
        ("GET", "/events?after=-1", None, 400, "InvalidField"),
        ("POST", "/api/checkout/v1/orders/{cart}/payments", {"code": "1"}, 400, "MissingField"),
        (
            "POST",
            f"/api/checkout/v1/orders/{UNKNOWN}/payments/{UNKNOWN}/remove",
            None,
            404,
            "CartNotFound",
        ),
        # An id that cannot be a payment's is not found before anything is looked up.
        (
            "POST",
            f"/api/checkout/v1/orders/{UNKNOWN}/payments/x/remove",
            None,
            404,
            "PaymentNotFound",
        ),
    ],
)
async def test_unknown_ids_and_bad_bodies(
    world: dict[str, Any], method: str, path: str, body: Any, status: int, code: str
) -> None:
    cart_id = world["cart"]["id"]
    path = path.replace("{cart}", cart_id)
    if isinstance(body, dict) and body.get("cartId") == "{cart}":
        body = {"cartId": cart_id}
    before = await snapshot(world)
    response = await world["api"].client.request(method, path, json=body, headers=world["h"])
    assert_error(response, status, code)
    assert await snapshot(world) == before


async def test_amounts_over_what_is_open_are_refused(world: dict[str, Any]) -> None:
    api, h, cart = world["api"], world["h"], world["cart"]
    method = (
        await api.client.post(
            "/shipping-methods",
            json={"name": "S", "price": {"centAmount": 0, "currency": "EUR"}, "taxRate": "0"},
            headers=h,
        )
    ).json()
    address = {
        "salutation": "Ms",
        "firstName": "A",
        "lastName": "B",
        "streetName": "C",
        "streetNumber": "1",
        "postalCode": "1",
        "city": "D",
        "country": "DE",
    }
    updated = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": cart["version"],
            "actions": [
                {"action": "setShippingAddress", "address": address},
                {"action": "setBillingAddress", "address": address},
                {"action": "setCustomerEmail", "email": "a@b.de"},
                {"action": "setShippingMethod", "shippingMethodId": method["id"]},
            ],
        },
        headers=h,
    )
    assert updated.status_code == 200, updated.text
    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": world["card"]["code"]}, headers=h
    )
    payment = added.json()["payment"]
    assert payment["amountPlanned"]["centAmount"] == 100
    order = (await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)).json()
    over = await api.client.post(
        f"/payments/{payment['id']}/capture",
        json={"amount": {"centAmount": 101, "currency": "EUR"}},
        headers=h,
    )
    assert_error(over, 422, "CaptureExceedsAuthorization")
    wrong = await api.client.post(
        f"/payments/{payment['id']}/capture",
        json={"amount": {"centAmount": 50, "currency": "USD"}},
        headers=h,
    )
    assert_error(wrong, 422, "CurrencyMismatch")
    nothing = await api.client.post(f"/payments/{payment['id']}/refund", headers=h)
    assert_error(nothing, 409, "PaymentTransactionRefused")
    assert (await api.client.get(f"/giftcards/{world['card']['id']}", headers=h)).json()["balance"][
        "held"
    ]["centAmount"] == 100
    partial = await api.client.post(
        f"/payments/{payment['id']}/capture",
        json={"amount": {"centAmount": 60, "currency": "EUR"}},
        headers=h,
    )
    assert partial.status_code == 200, partial.text
    again = await api.client.post(f"/payments/{payment['id']}/capture", headers=h)
    assert_error(again, 409, "PaymentTransactionRefused")
    balance = (await api.client.get(f"/giftcards/{world['card']['id']}", headers=h)).json()[
        "balance"
    ]
    assert (balance["posted"]["centAmount"], balance["held"]["centAmount"]) == (940, 0)
    assert order["state"] == "Processing"


async def test_a_card_that_cannot_pay_now_is_refused_and_covers_nothing(api: Api) -> None:
    """A blocked or an expired card is refused when it is added (as the balance check says it
    cannot pay), and one blocked after it was added covers nothing from the cart's next change
    on: the cart never shows money that placing would then refuse."""
    from datetime import timedelta

    from tests.api.journeys import card, ready_cart, update_cart

    h = await api.headers()
    cart = await ready_cart(api, h, unit=4000)
    soon = (api.clock.now() + timedelta(minutes=5)).isoformat()
    expiring = await card(api, h, 3000, expiresAt=soon)
    blocked = await card(api, h, 1000)
    await api.client.post(f"/giftcards/{blocked['id']}/disable", json={"reason": "lost"}, headers=h)
    api.clock.advance(minutes=6)
    for gift, why in ((expiring, "expired"), (blocked, "blocked")):
        added = await api.client.post(
            f"/carts/{cart['id']}/giftcards", json={"code": gift["code"]}, headers=h
        )
        error = assert_error(added, 400, "GiftCardNotUsable")
        assert why in error["errors"][0]["message"], error

    later = await card(api, h, 2000)
    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": later["code"]}, headers=h
    )
    assert added.status_code == 201, added.text
    current = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    assert current["totals"]["giftCards"]["centAmount"] == 2000
    await api.client.post(f"/giftcards/{later['id']}/disable", json={"reason": "lost"}, headers=h)
    current = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    changed = await update_cart(api, h, current, {"action": "setCustomerEmail", "email": "b@x.de"})
    assert changed["totals"]["giftCards"]["centAmount"] == 0
    assert (
        changed["totals"]["remaining"]["centAmount"]
        == changed["totals"]["grandTotal"]["centAmount"]
    )


async def test_a_cart_total_past_what_one_amount_may_be_is_refused(api: Api) -> None:
    """Lines, and shipping on top of them, never take a cart's total past the largest amount
    (100,000,000,000.00 EUR): its payment could be neither confirmed nor captured, since no
    amount on the wire may be larger. Refused with 400, and the cart stays as it was."""
    from tests.api.journeys import new_cart, shipping_method, update_cart

    h = await api.headers()
    line = {"sku": "BIG", "name": "Big", "quantity": 10_000, "taxRate": "19.00"}
    price = {"centAmount": 10**9, "currency": "EUR"}
    created = await api.client.post(
        "/carts",
        json={
            "currency": "EUR",
            "country": "DE",
            "lineItems": [{**line, "price": price}] * 2,
        },
        headers=h,
    )
    assert_error(created, 400, "InvalidAmount")

    cart = await new_cart(api, h, unit=10**9, quantity=10_000)  # exactly the largest amount
    grown = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": cart["version"],
            "actions": [
                {"action": "addLineItem", **line, "price": {"centAmount": 1, "currency": "EUR"}}
            ],
        },
        headers=h,
    )
    assert_error(grown, 400, "InvalidAmount")
    method = await shipping_method(api, h)
    shipped = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": cart["version"],
            "actions": [{"action": "setShippingMethod", "shippingMethodId": method}],
        },
        headers=h,
    )
    assert_error(shipped, 400, "InvalidAmount")
    after = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    assert (after["version"], after["totals"]["grandTotal"]["centAmount"]) == (
        cart["version"],
        10**13,
    )
    smaller = await update_cart(
        api,
        h,
        after,
        {
            "action": "changeLineItemQuantity",
            "lineItemId": after["lineItems"][0]["id"],
            "quantity": 9_000,
        },
    )
    assert smaller["totals"]["grandTotal"]["centAmount"] == 9 * 10**12
