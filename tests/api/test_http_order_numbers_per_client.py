"""Each API client numbers its own orders: a reference or ``futureOrderNumber`` another client
used is neither refused (which would tell the caller it was used) nor taken from it, and every
lookup by reference finds the caller's own order."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.journeys import (
    browser,
    choose_payment_method,
    glue_checkout,
    order_payment,
    ready_cart,
    shipping_method,
)


async def _placed(api: Api, h: dict[str, str], number: str) -> dict[str, Any]:
    """An order of ``number``, placed through Glue by a page whose session promised it, paid
    by invoice: the tender order as its client reads it."""
    method = await shipping_method(api, h)
    cart = await ready_cart(api, h, unit=4000, shipping=method)
    page = await browser(api, h, cart["id"], futureOrderNumber=number)
    placed = await glue_checkout(api, page, cart["id"], method, "invoice")
    assert placed["orderReference"] == number
    order = await api.client.get(f"/orders/{number}", headers=h)
    assert order.status_code == 200, order.text
    return order.json()  # type: ignore[no-any-return]


async def test_two_clients_use_one_order_number_each_for_its_own(api: Api) -> None:
    a, b = await api.headers(), await api.headers()
    theirs = await _placed(api, a, "SHOP-1001")
    ours = await _placed(api, b, "SHOP-1001")
    assert ours["id"] != theirs["id"]
    for h, order in ((a, theirs), (b, ours)):
        found = await api.client.get("/orders/SHOP-1001", headers=h)
        assert found.json()["id"] == order["id"]
        confirmed = await api.client.post(
            "/order-payments",
            json=order_payment("SHOP-1001", [{"type": "invoice-confirmation"}]),
            headers=h,
        )
        assert confirmed.status_code == 201, confirmed.text
        payment_id = confirmed.json()["data"]["id"]
        assert payment_id in {p["id"] for p in order["payments"]}

    # Within one client a number is still used once.
    method = await shipping_method(api, b)
    cart = await ready_cart(api, b, unit=4000, shipping=method)
    session = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart["id"]}},
            "metadata": {"futureOrderNumber": "SHOP-1001"},
        },
        headers=b,
    )
    assert_error(session, 409, "DuplicateOrderNumber")
    await choose_payment_method(api, b, cart["id"], "Invoice")
    placing = await api.client.post(
        "/orders", json={"cartId": cart["id"], "orderReference": "SHOP-1001"}, headers=b
    )
    assert_error(placing, 400, "InvalidInput")


async def test_an_admin_names_a_shared_number_by_the_order_id(api: Api) -> None:
    a, b = await api.headers(), await api.headers()
    first = await _placed(api, a, "SHOP-7")
    await _placed(api, b, "SHOP-7")
    admin = {"Authorization": f"Bearer {api.admin_jwt()}"}
    ambiguous = await api.client.get("/orders/SHOP-7", headers=admin)
    assert_error(ambiguous, 400, "OrderReferenceAmbiguous")
    completing = await api.client.post("/orders/SHOP-7/complete", headers=admin)
    assert_error(completing, 400, "OrderReferenceAmbiguous")
    by_id = await api.client.get(f"/orders/{first['id']}", headers=admin)
    assert by_id.json()["orderReference"] == "SHOP-7"
    alone = await _placed(api, a, "SHOP-8")
    assert (await api.client.get("/orders/SHOP-8", headers=admin)).json()["id"] == alone["id"]


async def test_another_clients_order_id_as_a_reference_finds_the_callers_order(api: Api) -> None:
    a, b = await api.headers(), await api.headers()
    theirs = await _placed(api, a, "SHOP-9")
    ours = await _placed(api, b, theirs["id"])
    found = await api.client.get(f"/orders/{theirs['id']}", headers=b)
    assert found.json()["id"] == ours["id"]
