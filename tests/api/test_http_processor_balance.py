"""The processor's ``POST /balance`` as the connector's enabler calls it, on SQLite and
PostgreSQL: every ``BalanceType`` state with the template's status codes, one answer for an
unknown code and a wrong PIN (which still counts towards the lockout), the card budgets, and
``GET /operations/config``."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error, issue
from tests.api.journeys import card
from tests.api.processor import open_shop
from tests.helpers import pin_state

EURO_3000 = {"centAmount": 3000, "currency": "EUR", "currencyCode": "EUR", "fractionDigits": 2}


async def test_a_valid_card_answers_its_balance_in_both_currency_names(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    answer = await shop.balance(gift["code"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": {"state": "Valid"}, "amount": EURO_3000}
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    # Checking a balance takes nothing from the card and puts nothing on the cart.
    assert await shop.held(gift) == (3000, 0)
    assert (await shop.current())["payments"] == []


async def test_an_unknown_code_and_a_wrong_pin_look_alike_and_the_pin_is_counted(
    api: Api,
) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000, pin="4711")
    unknown = await shop.balance("9999 8888 7777 6666")
    wrong = await shop.balance(gift["code"], "0000")
    missing = await shop.balance(gift["code"])
    for answer in (unknown, wrong, missing):
        assert answer.status_code == 404, answer.text
        assert answer.json() == unknown.json()
    assert unknown.json()["status"]["state"] == "NotFound"
    assert unknown.json()["status"]["errors"][0]["code"] == "NotFound"
    assert "amount" not in unknown.json()
    attempts, _ = await pin_state(api.runtime.db, gift["id"])
    assert attempts == 1  # the wrong PIN; a missing one compares nothing
    right = await shop.balance(gift["code"], "4711")
    assert right.json()["status"]["state"] == "Valid"


async def test_cards_that_cannot_pay_answer_their_state_first(api: Api) -> None:
    shop = await open_shop(api)
    h = shop.h
    expiring = await issue(api, h, minor=2000, expiresAt="2026-01-01T12:30:00Z")
    dollars = await issue(api, h, amount={"centAmount": 2000, "currency": "USD"})
    empty = await issue(api, h, minor=0)
    blocked = await issue(api, h, minor=2000)
    disabled = await api.client.post(f"/giftcards/{blocked['id']}/disable", headers=h)
    assert disabled.status_code == 200, disabled.text
    api.clock.advance(minutes=31)
    expected = {
        expiring["code"]: "Expired",
        dollars["code"]: "CurrencyNotMatch",
        empty["code"]: "ZeroBalance",
        blocked["code"]: "GenericError",
    }
    for code, state in expected.items():
        answer = await shop.balance(code)
        assert answer.status_code == 400, answer.text
        status = answer.json()["status"]
        assert status["state"] == state
        assert status["errors"][0]["code"] == state
        assert all(e["message"] for e in status["errors"])
    generic = (await shop.balance(blocked["code"])).json()["status"]["errors"]
    assert [e["code"] for e in generic] == ["GenericError", "GiftCardDisabled"]
    zero = await shop.balance(empty["code"])
    assert zero.json()["amount"]["centAmount"] == 0
    # A card that cannot pay for this cart does not show what it holds.
    for code in (expiring["code"], dollars["code"], blocked["code"]):
        assert "amount" not in (await shop.balance(code)).json()


async def test_lookups_draw_on_the_session_and_code_budgets(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    for _ in range(10):  # TENDER_CARD_ATTEMPTS_PER_SESSION_MINUTE
        assert (await shop.balance(gift["code"])).status_code == 200
    limited = await shop.balance(gift["code"])
    assert_error(limited, 429, "TooManyRequests")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # A NotFound answer is a failed lookup of that code, whoever asks next.
    unknown = "1111 2222 3333 4444"
    for _ in range(10):  # TENDER_CARD_FAILURES_PER_CODE: 10 an hour
        api.clock.advance(minutes=1)
        assert (await shop.balance(unknown)).status_code == 404
    api.clock.advance(minutes=1)
    other = await open_shop(api)
    assert_error(await other.balance(unknown), 429, "TooManyRequests")


async def test_config_tells_the_enabler_the_carts_currency_locale_and_rest(api: Api) -> None:
    shop = await open_shop(api, locale="de-DE")
    answer = await shop.config()
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "currency": "EUR",
        "locale": "de-DE",
        "pinRequired": False,
        "amountToPay": {
            "centAmount": 4490,
            "currency": "EUR",
            "currencyCode": "EUR",
            "fractionDigits": 2,
        },
    }
    plain = await open_shop(api)
    assert (await plain.config()).json()["locale"] == "en"
