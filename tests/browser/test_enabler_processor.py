"""The enabler in real Chromium against tender's own processor routes (``/balance``,
``/redeem``, ``/operations/config``): what the shopper sees for every balance state in English
and German, a redemption reported to onComplete, and a double click that pays once."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import Shop, Tender, unknown_code
from tests.browser.playwright_expect import expect

pytestmark = pytest.mark.xdist_group("browser")

MESSAGES = {
    "NotFound": (
        "The gift card number you entered is invalid. Please try again.",
        "Die eingegebene Geschenkkartennummer ist ungültig. Bitte versuchen Sie es erneut.",
    ),
    "Expired": (
        "The gift card you entered has expired.",
        "Die eingegebene Geschenkkarte ist abgelaufen.",
    ),
    "CurrencyNotMatch": (
        "The currency of the gift card does not match the currency of the cart.",
        "Die Währung der Geschenkkarte stimmt nicht mit der Währung des Warenkorbs überein.",
    ),
    "ZeroBalance": (
        "The gift card you entered has no balance.",
        "Die eingegebene Geschenkkarte hat kein Guthaben.",
    ),
    "GenericError": (
        "We cannot process your gift card at the moment. Please try again.",
        "Ihre Geschenkkarte kann gerade nicht verarbeitet werden. Bitte versuchen Sie es erneut.",
    ),
}


def spaced(text: str) -> re.Pattern[str]:
    """``text`` with any kind of space where it has one (Intl puts a no-break space in
    "30,00 €")."""
    return re.compile("^" + r"\s".join(re.escape(part) for part in text.split(" ")) + "$")


async def gift_payments(tender: Tender, cart_id: str) -> list[dict[str, Any]]:
    cart = await tender.call("GET", f"/carts/{cart_id}", status=200)
    return [p for p in cart["payments"] if p["paymentMethod"] == "giftcard"]


async def holds_taken(tender: Tender, card_id: str) -> int:
    page = await tender.call("GET", f"/giftcards/{card_id}/activities", status=200)
    return sum(1 for a in page["results"] if a["type"] == "hold")


async def check(shop: Shop, code: str) -> dict[str, Any]:
    field = shop.page.locator(".tender-gc__input").first
    await field.fill(code)
    await field.press("Enter")
    return (await shop.wait_for("giftcard:balance"))[-1]["detail"]  # type: ignore[no-any-return]


async def paid_again(shop: Shop) -> list[str]:
    """Pay pressed once more, and succeeding: the keys every redemption request sent so far."""
    await shop.page.click("#pay")
    completed = (await shop.wait_for("onComplete"))[0]["detail"]
    assert completed["isSuccess"] is True
    return [
        (await r.all_headers())["idempotency-key"]
        for r in shop.processor_requests()
        if r.url.endswith("/redeem")
    ]


SHOWN = {"en": "Available balance: €30.00", "de": "Verfügbares Guthaben: 30,00 €"}


@pytest.mark.parametrize("locale", sorted(SHOWN))
async def test_a_valid_card_shows_its_balance_in_the_shoppers_format(
    shop: Shop, locale: str
) -> None:
    shown = SHOWN[locale]
    card = await shop.tender.card(3000)
    await shop.open(locale=locale)
    balance = await check(shop, card["code"])
    assert balance == {
        "status": {"state": "Valid"},
        "amount": {
            "centAmount": 3000,
            "currency": "EUR",
            "currencyCode": "EUR",
            "fractionDigits": 2,
        },
    }
    await expect(shop.page.get_by_role("status")).to_have_text(spaced(shown))
    assert await shop.page.locator(".tender-gc__input").first.get_attribute("aria-invalid") is None
    await shop.shot("valid")


async def _card_in_state(tender: Tender, state: str) -> str:
    if state == "NotFound":
        return unknown_code()
    if state == "ZeroBalance":
        return str((await tender.card(0))["code"])
    if state == "CurrencyNotMatch":
        return str((await tender.card(2000, "USD"))["code"])
    if state == "Expired":
        soon = datetime.now(UTC) + timedelta(seconds=1.5)
        card = await tender.card(2000, expiresAt=soon.isoformat())
        await asyncio.sleep(2)
        return str(card["code"])
    card = await tender.card(2000)  # GenericError: a disabled card
    await tender.call("POST", f"/giftcards/{card['id']}/disable", {"reason": "lost"}, 200)
    return str(card["code"])


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("state", sorted(MESSAGES))
async def test_every_refusal_is_told_to_the_shopper_in_their_language(
    shop: Shop, state: str, locale: str
) -> None:
    code = await _card_in_state(shop.tender, state)
    await shop.open(locale=locale)
    balance = await check(shop, code)
    assert balance["status"]["state"] == state
    assert balance["status"]["errors"][0]["code"] == state
    message = MESSAGES[state][0 if locale == "en" else 1]
    await expect(shop.page.get_by_role("status")).to_have_text(message)
    invalid = await shop.page.locator(".tender-gc__input").first.get_attribute("aria-invalid")
    assert invalid == (None if state == "GenericError" else "true")
    assert await shop.calls("onError") == []  # a refusal is an answer, not an error
    await shop.shot(state)


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_a_refused_redemption_tells_the_shopper_why(shop: Shop, locale: str) -> None:
    """A card submitted without a balance check first, that turns out to hold nothing: the
    shopper reads why (as a balance check would have said), not only that it failed."""
    empty = await shop.tender.card(0)
    await shop.open(amount="1000", locale=locale)
    await shop.page.locator(".tender-gc__input").first.fill(empty["code"])
    await shop.page.click("#pay")
    completed = (await shop.wait_for("onComplete"))[0]["detail"]
    assert completed["isSuccess"] is False
    message = MESSAGES["ZeroBalance"][0 if locale == "en" else 1]
    await expect(shop.page.get_by_role("status")).to_have_text(message)
    invalid = await shop.page.locator(".tender-gc__input").first.get_attribute("aria-invalid")
    assert invalid == "true"
    await shop.shot(f"refused-{locale}")


async def test_submit_redeems_and_reports_a_real_boolean(shop: Shop) -> None:
    card = await shop.tender.card(3000)
    await shop.open(amount="1000")
    await check(shop, card["code"])
    await shop.page.click("#pay")
    completed = (await shop.wait_for("onComplete"))[0]["detail"]
    assert completed["isSuccess"] is True
    payments = await gift_payments(shop.tender, shop.cart["id"])  # type: ignore[index]
    assert [p["id"] for p in payments] == [completed["paymentReference"]]
    await expect(shop.page.get_by_role("status")).to_have_text(
        spaced("€10.00 paid with your gift card.")
    )
    assert (await shop.calls("giftcard:complete"))[0]["detail"] == completed
    await shop.shot("paid")


async def test_without_an_amount_the_cart_s_amount_to_pay_is_redeemed(shop: Shop) -> None:
    card = await shop.tender.card(3000)
    await shop.open(locale="de")
    await shop.page.locator(".tender-gc__input").first.fill(card["code"])
    await shop.page.click("#pay")
    completed = (await shop.wait_for("onComplete"))[0]["detail"]
    assert completed["isSuccess"] is True
    redeem = [r for r in shop.processor_requests() if r.url.endswith("/redeem")]
    assert redeem[0].post_data_json["redeemAmount"] == {"centAmount": 4490, "currencyCode": "EUR"}
    # The card held 30.00 of the 44.90 asked: the shopper is told what was taken.
    await expect(shop.page.get_by_role("status")).to_have_text(
        spaced("30,00 € mit Ihrer Geschenkkarte bezahlt.")
    )


async def test_a_double_click_on_pay_makes_one_payment_and_one_hold(shop: Shop) -> None:
    card = await shop.tender.card(3000)
    await shop.open(amount="1000")
    await shop.page.locator(".tender-gc__input").first.fill(card["code"])
    await shop.page.dblclick("#pay")
    completed = (await shop.wait_for("onComplete"))[0]["detail"]
    assert completed["isSuccess"] is True
    await asyncio.sleep(0.3)  # a second redemption, if any, would have been sent by now
    redeem = [r for r in shop.processor_requests() if r.url.endswith("/redeem")]
    assert len(redeem) == 1
    assert len(await gift_payments(shop.tender, shop.cart["id"])) == 1  # type: ignore[index]
    assert await holds_taken(shop.tender, card["id"]) == 1
    # Paying again with the same card and amount replays the answer: still one payment.
    await shop.page.click("#pay")
    again = await shop.wait_for("onComplete", 2)
    assert again[1]["detail"] == completed
    keys = {
        (await r.all_headers())["idempotency-key"]
        for r in shop.processor_requests()
        if r.url.endswith("/redeem")
    }
    assert len(keys) == 1
    assert len(await gift_payments(shop.tender, shop.cart["id"])) == 1  # type: ignore[index]
    assert await holds_taken(shop.tender, card["id"]) == 1


async def test_a_processor_that_wants_pins_gets_a_pin_field(pin_shop: Shop) -> None:
    shop = pin_shop
    card = await shop.tender.card(3000, pin="4711")
    await shop.open()
    pin = shop.page.get_by_label("PIN")
    await expect(pin).to_have_attribute("inputmode", "numeric")
    await expect(pin).to_have_attribute("autocomplete", "off")
    await shop.page.focus("#before")
    await shop.page.keyboard.press("Tab")
    await shop.page.keyboard.type(card["code"])
    await shop.page.keyboard.press("Enter")
    await expect(shop.page.get_by_role("status")).to_have_text("Please enter your gift card PIN.")
    await expect(pin).to_have_attribute("aria-invalid", "true")
    await shop.page.keyboard.press("Tab")
    await shop.page.keyboard.type("0000")
    await shop.page.keyboard.press("Enter")
    await expect(shop.page.get_by_role("status")).to_have_text(
        "The gift card number or PIN you entered is invalid. Please try again."
    )
    for field in (shop.page.get_by_label("Gift card number"), pin):  # either may be wrong
        await expect(field).to_have_attribute("aria-invalid", "true")
    await shop.page.keyboard.press("Control+A")
    await shop.page.keyboard.type("4711")
    await shop.page.keyboard.press("Enter")
    await expect(shop.page.get_by_role("status")).to_have_text(spaced("Available balance: €30.00"))
    balance = [r for r in shop.processor_requests() if r.url.endswith("/balance")]
    assert balance[-1].post_data_json == {"code": card["code"].replace(" ", ""), "pin": "4711"}
    await shop.shot("pin")


async def _within_one_minute(seconds: float) -> None:
    """The session's budget counts per minute of the clock: start where the next ``seconds``
    fall in one minute, or the budget starts again halfway through."""
    left = 60 - datetime.now(UTC).timestamp() % 60
    if left < seconds:
        await asyncio.sleep(left + 0.1)


async def test_too_many_lookups_tell_the_shopper_how_long_to_wait(shop: Shop) -> None:
    card = await shop.tender.card(3000)
    await shop.open(locale="de")
    field = shop.page.locator(".tender-gc__input").first
    await field.fill(card["code"])
    await _within_one_minute(15)
    for attempt in range(1, 12):  # the session may look up 10 cards a minute
        await field.press("Enter")
        await shop.wait_for("giftcard:balance", attempt)
    states = [c["detail"]["status"]["state"] for c in await shop.calls("giftcard:balance")]
    assert states == ["Valid"] * 10 + ["GenericError"]
    await expect(shop.page.get_by_role("status")).to_have_text(
        re.compile(r"^Zu viele Versuche\. Bitte versuchen Sie es in \d+ Sekunden? erneut\.$")
    )
    error = (await shop.calls("onError"))[-1]["detail"]
    assert (error["code"], error["statusCode"]) == ("TooManyRequests", 429)
    checks = [r for r in shop.processor_requests() if r.url.endswith("/balance")]
    limited = await checks[-1].response()
    assert error["retryAfter"] == int(limited.headers["retry-after"])  # CORS exposes it
    await expect(shop.page.get_by_role("status")).to_contain_text(f" {error['retryAfter']} ")
    await shop.shot("rate-limited")


async def test_a_session_the_processor_refuses_fails_create_gift_card_builder(shop: Shop) -> None:
    cart = await shop.tender.cart()
    await shop.tender.session(shop.origin, cart["id"])  # the shop's origin is a known one
    await shop.open(session="tnd_ss_" + "x" * 40)
    failed = await shop.calls("startFailed")
    assert [(f["detail"]["code"], f["detail"]["statusCode"]) for f in failed] == [
        ("InvalidSession", 401)
    ]
    reported = await shop.calls("onError")
    assert [r["detail"]["code"] for r in reported] == ["InvalidSession"]
    await expect(shop.page.locator(".tender-gc")).to_have_count(0)


@pytest.mark.parametrize(
    "amount",
    [
        '{centAmount: "1000", currencyCode: "EUR"}',
        "{centAmount: 1000}",
        '{centAmount: 10.5, currency: "EUR"}',
        '{centAmount: 0, currencyCode: "EUR"}',
        "1000",
    ],
)
async def test_an_amount_that_cannot_be_read_is_refused_not_replaced(
    shop: Shop, amount: str
) -> None:
    """The merchant meant some amount: taking the whole amount to pay instead would change
    what was agreed without saying so."""
    card = await shop.tender.card(3000)
    await shop.open()
    await shop.page.locator(".tender-gc__input").first.fill(card["code"])
    await shop.page.evaluate(f"window.component.submit({{ amount: {amount} }})")
    await shop.wait_for_error("InvalidAmount")
    assert [r for r in shop.processor_requests() if r.url.endswith("/redeem")] == []
    assert await gift_payments(shop.tender, shop.cart["id"]) == []  # type: ignore[index]


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_a_refused_redemption_is_told_like_the_cards_balance_check(
    shop: Shop, locale: str
) -> None:
    """tender's own refusals of a redemption (an unknown code, a card already applied) are
    told in the shopper's words, mark the field and take the focus there from the pay
    button, and reach onError by the template's code."""
    await shop.open(locale=locale, amount="1000")
    field = shop.page.locator(".tender-gc__input").first
    await field.fill(unknown_code())
    await shop.page.click("#pay")
    await shop.wait_for_error("NotFound")
    await expect(shop.page.get_by_role("status")).to_have_text(MESSAGES["NotFound"][locale == "de"])
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_be_focused()
    error = (await shop.calls("onError"))[-1]["detail"]
    assert (error["code"], error["statusCode"]) == ("NotFound", 400)

    card = await shop.tender.card(3000)
    await field.fill(card["code"])
    await shop.page.click("#pay")
    await shop.wait_for("onComplete")
    await shop.page.evaluate(
        'window.component.submit({ amount: { centAmount: 500, currencyCode: "EUR" } })'
    )
    await shop.wait_for_error("GiftCardAlreadyAdded")
    already = {
        "en": "This gift card is already applied to your order.",
        "de": "Diese Geschenkkarte ist bereits für Ihre Bestellung verwendet.",
    }
    await expect(shop.page.get_by_role("status")).to_have_text(already[locale])
    await shop.shot("already-applied")


CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Retry-After",
    "content-type": "application/json",
}


async def test_a_spent_budget_keeps_the_redemptions_key_and_says_one_second(shop: Shop) -> None:
    """A 429 may come before a kept answer could be replayed: the retry uses the same key, so
    a redemption that went through is answered, never made twice."""
    card = await shop.tender.card(3000)
    await shop.open(amount="1000")
    limited: list[str] = []

    async def first_limited(route: Any) -> None:
        if not limited:
            limited.append(route.request.headers["idempotency-key"])
            body = '{"statusCode":429,"message":"Too many","errors":[{"code":"TooManyRequests"}]}'
            await route.fulfill(status=429, headers={**CORS, "Retry-After": "1"}, body=body)
        else:
            await route.continue_()

    await shop.page.route("**/redeem", first_limited)
    await shop.page.locator(".tender-gc__input").first.fill(card["code"])
    await shop.page.click("#pay")
    await shop.wait_for_error("TooManyRequests")
    await expect(shop.page.get_by_role("status")).to_have_text(
        "Too many attempts. Please try again in 1 second."
    )
    assert await paid_again(shop) == [limited[0], limited[0]]


async def test_only_the_latest_balance_check_is_shown(shop: Shop) -> None:
    """An answer that comes after the shopper typed another code is about the old one: it
    neither shows nor marks the field."""
    card = await shop.tender.card(3000)
    await shop.open()
    field = await balance_on_its_way(shop, unknown_code(), only_this_code=True)
    await field.fill(card["code"])
    await field.press("Enter")
    await expect(shop.page.get_by_role("status")).to_have_text(spaced("Available balance: €30.00"))
    await asyncio.sleep(2)  # the first answer has come by now
    await expect(shop.page.get_by_role("status")).to_have_text(spaced("Available balance: €30.00"))
    assert await field.get_attribute("aria-invalid") is None
    assert await shop.page.locator(".tender-gc").get_attribute("aria-busy") is None
    states = [c["detail"]["status"]["state"] for c in await shop.calls("giftcard:balance")]
    assert states == ["Valid"]


async def balance_on_its_way(shop: Shop, code: str, *, only_this_code: bool = False) -> Any:
    """``code`` typed in and its balance asked for with Enter, the answer held back 1.5 s (and
    so every later one, unless ``only_this_code``); the code field."""

    async def delayed(route: Any) -> None:
        if not only_this_code or code.replace(" ", "") in (route.request.post_data or ""):
            await asyncio.sleep(1.5)
        await route.continue_()

    await shop.page.route("**/balance", delayed)
    field = shop.page.locator(".tender-gc__input").first
    await field.fill(code)
    await field.press("Enter")
    return field


async def test_a_balance_answer_never_speaks_over_the_redemption_after_it(shop: Shop) -> None:
    """The shopper checks the balance and pays before its answer came: the redemption's
    result stays on screen, not the late balance of the card it has just emptied."""
    card = await shop.tender.card(500)
    await shop.open(amount="500")
    field = await balance_on_its_way(shop, card["code"])
    await shop.page.click("#pay")
    assert (await shop.wait_for("onComplete"))[0]["detail"]["isSuccess"] is True
    paid = spaced("€5.00 paid with your gift card.")
    await expect(shop.page.get_by_role("status")).to_have_text(paid)
    await asyncio.sleep(2)  # the balance's answer (the card is empty now) has come by now
    await expect(shop.page.get_by_role("status")).to_have_text(paid)
    assert await field.get_attribute("aria-invalid") is None
    assert await shop.calls("giftcard:balance") == []


async def test_a_form_mounted_again_shows_nothing_of_the_one_before(shop: Shop) -> None:
    """Mounted again (the page re-rendered its payment step) while a balance check was on its
    way: the new, empty form shows no answer about the old one's input, and the page hears
    that the code field is empty again."""
    card = await shop.tender.card(1500)
    await shop.open()
    await balance_on_its_way(shop, card["code"])
    await shop.page.evaluate("window.component.mount('#giftcard')")
    await asyncio.sleep(2)  # the old form's answer has come by now
    await expect(shop.page.get_by_role("status")).to_have_text("")
    assert await shop.page.locator(".tender-gc").count() == 1
    assert await shop.calls("giftcard:balance") == []
    await shop.page.locator(".tender-gc__input").first.fill("1")
    changes = [c["detail"] for c in await shop.calls("onValueChange")]
    assert changes == [True, False, True]


async def test_a_redemption_left_unanswered_is_given_up_and_retried_with_its_key(
    shop: Shop,
) -> None:
    """The processor redeemed, but its answer never reached the page (a stalled connection):
    the form stops being busy, tells the shopper, and the next try replays the redemption
    under the same key instead of paying twice or joining the stalled request for ever."""
    card = await shop.tender.card(3000)
    await shop.page.clock.install()  # time flows as usual until the test jumps ahead
    await shop.open(amount="1000")
    stalled: list[str] = []
    redeemed = asyncio.Event()

    async def answer_lost(route: Any) -> None:
        if stalled:
            await route.continue_()
            return
        stalled.append(route.request.headers["idempotency-key"])
        await route.fetch()  # tender redeems; the page never hears of it
        redeemed.set()

    await shop.page.route("**/redeem", answer_lost)
    await shop.page.locator(".tender-gc__input").first.fill(card["code"])
    await shop.page.click("#pay")
    await asyncio.wait_for(redeemed.wait(), 10)
    await expect(shop.page.locator(".tender-gc")).to_have_attribute("aria-busy", "true")
    assert len(await gift_payments(shop.tender, shop.cart["id"])) == 1  # type: ignore[index]
    await shop.page.clock.fast_forward("01:00")
    await shop.wait_for_error("NetworkError")
    await expect(shop.page.get_by_role("status")).to_have_text(MESSAGES["GenericError"][0])
    await expect(shop.page.locator(".tender-gc")).not_to_have_attribute("aria-busy", "true")

    assert await paid_again(shop) == [stalled[0], stalled[0]]
    assert len(await gift_payments(shop.tender, shop.cart["id"])) == 1  # type: ignore[index]
    assert await holds_taken(shop.tender, card["id"]) == 1
