"""A cart's payments, removed and refused ones included, are capped: a page that adds and
removes a card in a loop cannot make every later request on the cart slower for good."""

from __future__ import annotations

import pytest

from tender.services import card_payments
from tests.api.conftest import Api, assert_error
from tests.api.journeys import add_card, browser, card, ready_cart


async def test_a_cart_takes_a_bounded_number_of_payments(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(card_payments, "MAX_CART_PAYMENTS", 4)
    h = await api.headers()
    gift = await card(api, h, 10_000)
    cart = await ready_cart(api, h, unit=4000)
    for _ in range(2):  # two payments, both removed
        added = await add_card(api, h, cart["id"], gift["code"])
        removed = await api.client.post(
            f"/carts/{cart['id']}/giftcards/{added['payment']['id']}/remove", headers=h
        )
        assert removed.status_code == 200, removed.text
    page = await browser(api, h, cart["id"])
    redeem = {"code": gift["code"], "redeemAmount": {"centAmount": 100, "currencyCode": "EUR"}}
    redeemed = await api.client.post("/redeem", json=redeem, headers=page)
    assert redeemed.json()["result"] == "Success", redeemed.text  # the third
    await add_card(api, h, cart["id"], (await card(api, h, 100))["code"])  # the fourth

    spare = await card(api, h, 5000)
    full = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": spare["code"]}, headers=h
    )
    assert_error(full, 400, "TooManyPayments")
    again = await api.client.post("/redeem", json={**redeem, "code": spare["code"]}, headers=page)
    assert_error(again, 400, "TooManyPayments")
    payments = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()["payments"]
    assert len(payments) == 4
    assert redeemed.json()["paymentReference"] in {p["id"] for p in payments}
