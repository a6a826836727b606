"""The processor's ``POST /redeem`` on SQLite and PostgreSQL: a payment on the session's cart
whose money is reserved at once (or captured, with ``TENDER_REDEEM_CAPTURE=immediate``), never
more than asked, than the cart needs or than the card holds; a refused card leaves no hold and
a ``Failure``; every refused request changes nothing; two pages racing with one card make one
payment and one hold."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tender.domain.redemption import CaptureMode
from tests.api.conftest import Api, assert_error, issue
from tests.api.journeys import card
from tests.api.processor import Shop, gift_payments, open_shop, transactions


def euros(cents: int) -> dict[str, Any]:
    return {"centAmount": cents, "currency": "EUR", "currencyCode": "EUR", "fractionDigits": 2}


async def test_a_redemption_reserves_the_amount_on_the_sessions_cart(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    answer = await shop.redeem(gift["code"], 2000)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"result", "paymentReference", "redemptionId", "redeemedAmount"}
    assert body["result"] == "Success"
    assert body["redemptionId"]
    assert body["redeemedAmount"] == euros(2000)
    assert await shop.held(gift) == (3000, 2000)
    cart = await shop.current()
    (payment,) = gift_payments(cart)
    assert payment["id"] == body["paymentReference"]
    assert payment["paymentProvider"] == "tender-giftcards"  # the session's paymentInterface
    assert payment["amountPlanned"]["centAmount"] == 2000
    assert payment["giftCard"]["redeemed"] is True
    assert transactions(payment) == [("Authorization", "Success", 2000)]
    assert payment["transactions"][0]["interactionId"] == body["redemptionId"]
    assert cart["totals"]["remaining"]["centAmount"] == 2490
    assert (await shop.config()).json()["amountToPay"]["centAmount"] == 2490
    assert await shop.audit() == []


async def test_a_redemption_takes_no_more_than_the_card_holds_or_the_cart_needs(
    api: Api,
) -> None:
    shop = await open_shop(api)
    small = await card(api, shop.h, 1000)
    big = await card(api, shop.h, 10_000)
    partial = await shop.redeem(small["code"], 2000)
    assert partial.json()["result"] == "Success"
    assert partial.json()["redeemedAmount"] == euros(1000)
    assert await shop.held(small) == (1000, 1000)
    rest = await shop.redeem(big["code"], 6000)
    assert rest.json()["redeemedAmount"] == euros(3490)
    assert await shop.held(big) == (10_000, 3490)
    cart = await shop.current()
    assert [p["amountPlanned"]["centAmount"] for p in gift_payments(cart)] == [1000, 3490]
    assert cart["totals"]["remaining"]["centAmount"] == 0
    extra = await card(api, shop.h, 500)
    assert_error(await shop.redeem(extra["code"], 100), 422, "CartPaidInFull")
    assert await shop.held(extra) == (500, 0)
    assert await shop.audit() == []


async def test_a_card_the_provider_refuses_leaves_no_hold_and_a_failure(api: Api) -> None:
    shop = await open_shop(api)
    blocked = await issue(api, shop.h, minor=2000)
    await api.client.post(f"/giftcards/{blocked['id']}/disable", headers=shop.h)
    empty = await issue(api, shop.h, minor=0)
    # Why, as a balance check says it: the enabler shows the shopper that, not "failed".
    for gift, why in ((blocked, ["GenericError", "GiftCardDisabled"]), (empty, ["ZeroBalance"])):
        answer = await shop.redeem(gift["code"], 1500)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["result"] == "Failure"
        assert body["redemptionId"] == ""
        assert body["redeemedAmount"]["centAmount"] == 0
        assert [e["code"] for e in body["errors"]] == why, body
        assert all(e["message"] for e in body["errors"])
        assert (await shop.held(gift))[1] == 0
    cart = await shop.current()
    failed = gift_payments(cart)
    assert [p["status"] for p in failed] == ["removed", "removed"]
    assert [transactions(p) for p in failed] == [[("Authorization", "Failure", 1500)]] * 2
    assert cart["totals"]["remaining"]["centAmount"] == 4490
    # A refused card is no card on the cart: a good one can still pay everything.
    good = await card(api, shop.h, 5000)
    paid = (await shop.redeem(good["code"], 4490)).json()
    assert paid["result"] == "Success"
    assert "errors" not in paid
    assert await shop.audit() == []


async def nothing_changed(shop: Shop, gift: dict[str, Any], before: dict[str, Any]) -> None:
    after = await shop.current()
    assert after["payments"] == before["payments"]
    assert after["version"] == before["version"]
    assert await shop.held(gift) == (3000, 0)


async def test_a_refused_currency_is_named_as_the_page_sent_it(api: Api) -> None:
    """The template's pages send ``currencyCode``, the seed's ``currency``: a refusal points
    at the one the request has, so a page can map it back to what it sent."""
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    for name in ("currencyCode", "currency"):
        for currency, status, code in (("USD", 422, "CurrencyMismatch"), ("XXY", 400, None)):
            body = {"code": gift["code"], "redeemAmount": {"centAmount": 100, name: currency}}
            response = await api.client.post("/redeem", json=body, headers=shop.page)
            error = assert_error(response, status, code)
            assert error["errors"][0]["field"] == f"redeemAmount.{name}", (name, error)


async def test_refused_redemptions_change_nothing(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    dollars = await issue(api, shop.h, amount={"centAmount": 2000, "currency": "USD"})
    before = await shop.current()
    refusals = [
        (await shop.redeem(gift["code"], 1000, currency="USD"), 422, "CurrencyMismatch"),
        (await shop.redeem(gift["code"], 0), 400, "InvalidAmount"),
        (await shop.redeem(gift["code"], -5), 400, "InvalidAmount"),
        (await shop.redeem(gift["code"], 1000, currency="XXY"), 400, "InvalidCurrency"),
        (await shop.redeem("9999 8888 7777 6666", 1000), 400, "InvalidGiftCard"),
        (await shop.redeem(dollars["code"], 1000), 422, "CurrencyMismatch"),
    ]
    for response, status, code in refusals:
        assert_error(response, status, code)
    for minor in (0, -5, 10**14):  # each names the field the page sent
        error = assert_error(await shop.redeem(gift["code"], minor), 400, "InvalidAmount")
        assert error["errors"][0]["field"] == "redeemAmount.centAmount", error
    await nothing_changed(shop, gift, before)
    post = shop.api.client.post
    for body in (
        {"code": gift["code"]},
        {"code": gift["code"], "redeemAmount": {"centAmount": "10", "currencyCode": "EUR"}},
        {"code": gift["code"], "redeemAmount": {"centAmount": 10.5, "currencyCode": "EUR"}},
        {"code": gift["code"], "redeemAmount": {"centAmount": 10}},
        {"code": gift["code"], "redeemAmount": {"centAmount": 10, "currencyCode": "EUR"}, "x": 1},
        {"code": "x" * 200, "redeemAmount": {"centAmount": 10, "currencyCode": "EUR"}},
        {"code": "a\u0000b", "redeemAmount": {"centAmount": 10, "currencyCode": "EUR"}},
    ):
        assert_error(await post("/redeem", json=body, headers=shop.page), 400)
    assert_error(await post("/redeem", content=b"{nope", headers=shop.page), 400)
    await nothing_changed(shop, gift, before)


async def test_the_same_card_twice_and_a_placed_cart_are_refused(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    other = await card(api, shop.h, 3000)
    assert (await shop.redeem(gift["code"], 1000)).json()["result"] == "Success"
    assert_error(await shop.redeem(gift["code"], 1000), 400, "GiftCardAlreadyAdded")
    chosen = await api.client.post(
        f"/carts/{shop.cart['id']}",
        json={
            "version": (await shop.current())["version"],
            "actions": [{"action": "setPaymentMethod", "paymentMethod": "invoice"}],
        },
        headers=shop.h,
    )
    assert chosen.status_code == 200, chosen.text
    placed = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
    assert placed.status_code == 201, placed.text
    assert_error(await shop.redeem(other["code"], 1000), 409, "CartLocked")
    assert await shop.held(other) == (3000, 0)
    assert await shop.held(gift) == (3000, 1000)  # placing kept the redemption's hold


async def test_an_idempotency_key_replays_the_redemption(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    keyed = {**shop.page, "Idempotency-Key": "redeem-1"}
    first = await shop.redeem(gift["code"], 2000, headers=keyed)
    again = await shop.redeem(gift["code"], 2000, headers=keyed)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    changed = await shop.redeem(gift["code"], 1000, headers=keyed)
    assert_error(changed, 422)
    assert len(gift_payments(await shop.current())) == 1
    assert await shop.holds_taken(gift) == 1


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
async def test_racing_pages_redeem_one_card_once(api: Api, capture: str) -> None:
    """Many requests of the same page redeem the same card at once (a double click, a retry
    without a key): the cart's lock serialises them, one payment and one hold result."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    answers = await asyncio.gather(*(shop.redeem(gift["code"], 2500) for _ in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400, 400, 400], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code != 200):
        assert_error(refused, 400, "GiftCardAlreadyAdded")
    (payment,) = gift_payments(await shop.current())
    assert payment["amountPlanned"]["centAmount"] == 2500
    assert await shop.holds_taken(gift) == 1
    posted, held = await shop.held(gift)
    assert (posted, held) == ((3000, 2500) if capture == "authorize" else (500, 0))
    assert await shop.audit() == []


async def test_pages_of_two_carts_racing_for_one_card_never_take_more_than_it_holds(
    api: Api,
) -> None:
    shops = [await open_shop(api) for _ in range(4)]
    gift = await card(api, shops[0].h, 3000)
    answers = await asyncio.gather(*(s.redeem(gift["code"], 2500) for s in shops))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    taken = [a.json()["redeemedAmount"]["centAmount"] for a in answers]
    assert sorted(taken)[-1] == 2500
    assert sum(taken) <= 3000
    # Whatever the interleaving, each answer is what the card's holds say.
    assert await shops[0].held(gift) == (3000, sum(taken))
    assert await shops[0].holds_taken(gift) == sum(1 for t in taken if t)
    assert await shops[0].audit() == []


async def test_retries_of_an_answered_redemption_are_replayed_not_counted(api: Api) -> None:
    """A page that retries one keyed redemption (a flaky network) gets its kept answer every
    time: the key is looked at before the session's lookup budget counts anything, so the
    retries neither hit 429 nor spend the budget the next card needs."""
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    limit = api.runtime.settings.card_attempts_per_session_minute
    keyed = {**shop.page, "Idempotency-Key": "redeem-once"}
    first = await shop.redeem(gift["code"], 1000, headers=keyed)
    assert first.status_code == 200, first.text
    for _ in range(limit + 2):
        again = await shop.redeem(gift["code"], 1000, headers=keyed)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
    assert await shop.held(gift) == (3000, 1000)
    assert (await shop.balance(gift["code"])).status_code == 200  # the budget is whole
