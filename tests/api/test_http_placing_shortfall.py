"""Hole 4 of issue 8: a card's share lost between showing and placing never moves onto the
invoice. Two carts show the same card covering 100.00; once the first is placed, placing the
second is refused (409, naming the masked card and what it still covers), reserves nothing and
leaves the cart exactly as the shopper saw it; posting the checkout data again shows the new
amounts, and only then does placing go through, at those amounts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api, assert_error
from tests.api.journeys import (
    add_card,
    browser,
    card,
    checkout_document,
    held,
    ready_cart,
    shipping_method,
)


def covered(cart: dict[str, Any]) -> dict[str, int]:
    """What each active gift card covers, by masked code, and what is left for the invoice."""
    shares = {
        p["giftCard"]["code"]: p["amountPlanned"]["centAmount"]
        for p in cart["payments"]
        if p["paymentMethod"] == "giftcard" and p["status"] == "active"
    }
    return {**shares, "remaining": cart["totals"]["remaining"]["centAmount"]}


def shortfall(
    response: httpx.Response, masked: str, can: str, allocated: str, status: int = 409
) -> None:
    """The shortfall's answer: 409 on tender's routes, 422 on Glue's (its seed knows no 409)."""
    body = response.json()
    assert response.status_code == status, response.text
    error = body["errors"][0]
    assert error["code"] == "GiftCardShortfall", body
    assert error["field"] == "payments"
    assert masked in error["message"]
    assert f"now covers only {can} of the {allocated} allocated to it" in error["message"]


async def two_carts_sharing_a_card(api: Api) -> dict[str, Any]:
    """Card A (100.00) on cart 1 (100.00) and on cart 2 (254.90, with card B of 50.00 and the
    invoice for the rest): both carts show A covering 100.00."""
    h = await api.headers()
    shipping = await shipping_method(api, h)
    a, b = await card(api, h, 10_000), await card(api, h, 5_000)
    first = await ready_cart(api, h, unit=9_510, shipping=shipping)
    second = await ready_cart(api, h, unit=25_000, shipping=shipping)
    await add_card(api, h, first["id"], a["code"])
    await add_card(api, h, second["id"], a["code"])
    await add_card(api, h, second["id"], b["code"])
    chosen = await api.client.post(
        "/checkout-data",
        json=checkout_document("checkout-data", second["id"], shipping, "invoice"),
        headers=h,
    )
    assert chosen.status_code == 200, chosen.text
    masked_a, masked_b = "****" + a["code"][-4:], "****" + b["code"][-4:]
    for cart_id, expected in (
        (first["id"], {masked_a: 10_000, "remaining": 0}),
        (second["id"], {masked_a: 10_000, masked_b: 5_000, "remaining": 10_490}),
    ):
        shown = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
        assert covered(shown) == expected
    return {
        "h": h,
        "shipping": shipping,
        "a": a,
        "b": b,
        "first": first["id"],
        "second": second["id"],
        "masked_a": masked_a,
        "masked_b": masked_b,
    }


async def assert_untouched(api: Api, world: dict[str, Any], cart_before: dict[str, Any]) -> None:
    h = world["h"]
    after = (await api.client.get(f"/carts/{world['second']}", headers=h)).json()
    assert covered(after) == covered(cart_before)
    assert after["locked"] is False
    assert after["version"] == cart_before["version"]
    assert [p["lastModifiedAt"] for p in after["payments"]] == [
        p["lastModifiedAt"] for p in cart_before["payments"]
    ]
    assert await held(api, h, world["b"]["id"]) == (5_000, 0)  # the other card: nothing held
    assert await held(api, h, world["a"]["id"]) == (10_000, 10_000)  # only the first order's
    orders = (await api.client.get("/orders", headers=h)).json()["results"]
    assert [o["cartId"] for o in orders] == [world["first"]]


async def test_placing_with_a_lost_card_share_is_refused_and_changes_nothing(api: Api) -> None:
    world = await two_carts_sharing_a_card(api)
    h = world["h"]
    first = await api.client.post("/orders", json={"cartId": world["first"]}, headers=h)
    assert first.status_code == 201, first.text
    before = (await api.client.get(f"/carts/{world['second']}", headers=h)).json()

    # tender's own route
    refused = await api.client.post("/orders", json={"cartId": world["second"]}, headers=h)
    assert_error(refused, 409, "GiftCardShortfall")
    shortfall(refused, world["masked_a"], "0.00 EUR", "100.00 EUR")
    await assert_untouched(api, world, before)

    # Spryker's, from the merchant's backend and from the shopper's page
    document = checkout_document("checkout", world["second"], world["shipping"], "invoice")
    server = await api.client.post("/checkout", json=document, headers=h)
    shortfall(server, world["masked_a"], "0.00 EUR", "100.00 EUR", 422)
    assert server.json()["errors"][0]["status"] == "422"
    page = await browser(api, h, world["second"])
    from_page = await api.client.post("/checkout", json=document, headers=page)
    shortfall(from_page, world["masked_a"], "0.00 EUR", "100.00 EUR", 422)
    german = await api.client.post(
        "/checkout", json=document, headers={**page, "Accept-Language": "de"}
    )
    assert german.status_code == 422
    assert german.headers["content-language"] == "de"
    assert german.json()["errors"][0]["detail"].startswith(
        f"die Geschenkkarte {world['masked_a']} deckt nur noch 0,00\xa0€ der ihr zugeteilten "
        "100,00\xa0€; es wurde nichts reserviert"
    )
    await assert_untouched(api, world, before)

    # The page applies the cards again: the shopper sees the new amounts, then places.
    again = await api.client.post(
        "/checkout-data",
        json=checkout_document("checkout-data", world["second"], world["shipping"], "invoice"),
        headers=page,
    )
    assert again.status_code == 200, again.text
    totals = again.json()["data"]["attributes"]["totals"]
    assert (totals["giftCardTotal"], totals["priceToPay"]) == (5_000, 20_490)
    placed = await api.client.post("/checkout", json=document, headers=page)
    assert placed.status_code == 201, placed.text
    order = (
        await api.client.get(
            f"/orders/{placed.json()['data']['attributes']['orderReference']}", headers=h
        )
    ).json()
    active = {
        p["giftCard"]["code"] if "giftCard" in p else p["paymentMethod"]: p["amountPlanned"][
            "centAmount"
        ]
        for p in order["payments"]
        if p["status"] == "active"
    }
    assert active == {world["masked_a"]: 0, world["masked_b"]: 5_000, "invoice": 20_490}
    assert await held(api, h, world["b"]["id"]) == (5_000, 5_000)
    assert await held(api, h, world["a"]["id"]) == (10_000, 10_000)


async def test_a_card_spent_in_part_elsewhere_names_what_it_still_covers(api: Api) -> None:
    h = await api.headers()
    shipping = await shipping_method(api, h)
    a = await card(api, h, 10_000)
    elsewhere = await ready_cart(api, h, unit=6_510, shipping=shipping)  # 70.00
    mine = await ready_cart(api, h, unit=9_510, shipping=shipping)  # 100.00
    await add_card(api, h, elsewhere["id"], a["code"])
    await add_card(api, h, mine["id"], a["code"])
    assert (
        await api.client.post("/orders", json={"cartId": elsewhere["id"]}, headers=h)
    ).is_success
    before = (await api.client.get(f"/carts/{mine['id']}", headers=h)).json()
    refused = await api.client.post("/orders", json={"cartId": mine["id"]}, headers=h)
    shortfall(refused, "****" + a["code"][-4:], "30.00 EUR", "100.00 EUR")
    after = (await api.client.get(f"/carts/{mine['id']}", headers=h)).json()
    assert covered(after) == covered(before) == {"****" + a["code"][-4:]: 10_000, "remaining": 0}
    assert await held(api, h, a["id"]) == (10_000, 7_000)
