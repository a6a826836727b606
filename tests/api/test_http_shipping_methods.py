"""A merchant retires a shipping method and offers it again; nothing is deleted."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error
from tests.api.journeys import choose_payment_method, ready_cart, shipping_method


async def test_a_deactivated_method_is_no_longer_offered_nor_placed(api: Api) -> None:
    h = await api.headers()
    kept = await shipping_method(api, h, name="Standard")
    retired = await shipping_method(api, h, name="Express", price=990)
    cart = await ready_cart(api, h, unit=4000, shipping=retired)
    await choose_payment_method(api, h, cart["id"], "Invoice")

    async def offered() -> list[int]:
        listed = await api.client.get(f"/carts/{cart['id']}/shipping-methods", headers=h)
        return [m["id"] for m in listed.json()["results"]]

    assert await offered() == [kept, retired]
    off = await api.client.post(f"/shipping-methods/{retired}/deactivate", headers=h)
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert await offered() == [kept]
    listed = (await api.client.get("/shipping-methods", headers=h)).json()["results"]
    assert {m["id"]: m["active"] for m in listed} == {kept: True, retired: False}
    refused = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert_error(refused, 404, "ShippingMethodNotFound")
    again = await api.client.post(f"/shipping-methods/{retired}/deactivate", headers=h)
    assert again.json()["active"] is False  # retiring a retired method changes nothing

    on = await api.client.post(f"/shipping-methods/{retired}/activate", headers=h)
    assert on.json()["active"] is True
    assert await offered() == [kept, retired]
    placed = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text


async def test_unknown_methods_and_narrow_tokens_are_refused(api: Api) -> None:
    h = await api.headers()
    method = await shipping_method(api, h)
    for unknown in ("0", str(method + 1000), "2147483648", "9999999999", "12345678901", "1e3"):
        response = await api.client.post(f"/shipping-methods/{unknown}/deactivate", headers=h)
        assert_error(response, 404, "ShippingMethodNotFound")
    narrow = await api.headers("view_giftcards")
    response = await api.client.post(f"/shipping-methods/{method}/deactivate", headers=narrow)
    assert_error(response, 403)
    listed = (await api.client.get("/shipping-methods", headers=h)).json()["results"]
    assert [m["active"] for m in listed] == [True]
