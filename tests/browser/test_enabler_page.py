"""The enabler in real Chromium on a shop page of another origin: it loads as an ES module and
as a UMD script, renders labelled fields a keyboard can use, speaks the shopper's language,
survives any callback (missing, throwing, rejecting), sends no server credential, and turns
a double click into one redemption request."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.browser.conftest import Shop, unknown_code
from tests.browser.playwright_expect import expect

pytestmark = pytest.mark.xdist_group("browser")

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


async def focused_id(shop: Shop) -> str:
    return str(await shop.page.evaluate("document.activeElement.id"))


@pytest.mark.parametrize(("kind", "file"), [("esm", "es"), ("umd", "umd")])
async def test_loads_from_tender_on_a_page_of_another_origin(
    shop: Shop, kind: str, file: str
) -> None:
    await shop.open(kind)
    assert await shop.calls("startFailed") == []
    assert shop.origin.split(":")[-1] != shop.tender.url.split(":")[-1]
    script = [r for r in shop.requests if "/enabler/connector-enabler" in r.url]
    assert [r.url.rsplit("/", 1)[1] for r in script] == [f"connector-enabler.{file}.js"]
    response = await script[0].response()
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == "*"
    await expect(shop.page.get_by_label("Gift card number")).to_be_visible()
    assert [c["name"] for c in await shop.calls()] == ["giftcard:ready", "onGiftCardReady"]
    if kind == "umd":
        assert await shop.page.evaluate("typeof window.TenderEnabler.Enabler") == "function"
    await shop.shot("mounted")


async def test_fields_are_labelled_themable_and_announce_messages(shop: Shop) -> None:
    await shop.open()
    page = shop.page
    await expect(page.get_by_role("group", name="Gift card")).to_be_visible()
    code = page.get_by_label("Gift card number")
    await expect(code).to_have_attribute("autocomplete", "off")
    await expect(code).to_have_attribute("inputmode", "text")
    await expect(code).to_have_attribute("type", "text")
    await expect(page.get_by_label("PIN")).to_have_count(0)  # no PIN asked by this processor
    message = page.locator(".tender-gc__message")
    await expect(message).to_have_attribute("aria-live", "polite")
    await expect(message).to_have_attribute("role", "status")
    described_by = await code.get_attribute("aria-describedby")
    assert described_by == await message.get_attribute("id")

    assert await code.evaluate("(el) => getComputedStyle(el).minHeight") == "44px"
    await page.evaluate(
        "document.getElementById('giftcard').style"
        ".setProperty('--tender-gc-border-color', 'rgb(0, 128, 0)')"
    )
    assert await code.evaluate("(el) => getComputedStyle(el).borderTopColor") == "rgb(0, 128, 0)"

    await code.press("Enter")
    await expect(message).to_have_text("Please enter your gift card number.")
    await expect(code).to_have_attribute("aria-invalid", "true")
    assert shop.processor_requests()[-1].url.endswith("/operations/config")  # nothing sent
    await shop.shot("code-required")
    await code.press_sequentially("1")
    await expect(message).to_have_text("")
    await expect(code).not_to_have_attribute("aria-invalid", "true")


async def test_keyboard_alone_reaches_every_field_and_enter_checks_the_balance(shop: Shop) -> None:
    await shop.open()
    page = shop.page
    await page.focus("#before")
    await page.keyboard.press("Tab")
    assert (await focused_id(shop)).endswith("-code")
    code = unknown_code()
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await shop.wait_for("giftcard:balance")
    balance = [r for r in shop.processor_requests() if r.url.endswith("/balance")]
    assert len(balance) == 1
    assert balance[0].method == "POST"
    assert balance[0].post_data_json == {"code": code.replace(" ", "")}
    assert page.url.startswith(shop.origin + "/esm.html?")  # Enter submitted no form
    assert await shop.calls("onEnter")
    await page.keyboard.press("Tab")
    assert await focused_id(shop) == "balance"
    await page.keyboard.press("Tab")
    assert await focused_id(shop) == "pay"
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    assert (await focused_id(shop)).endswith("-code")
    await shop.shot("keyboard")


ENGLISH = ("en", "Gift card", "Gift card number", "Please enter your gift card number.")
GERMAN = (
    "de",
    "Geschenkkarte",
    "Geschenkkartennummer",
    "Bitte geben Sie Ihre Geschenkkartennummer ein.",
)


@pytest.mark.parametrize(
    ("locale", "texts"),
    [
        ("en", ENGLISH),
        ("de", GERMAN),
        ("de-AT", GERMAN),
        ("fr", ENGLISH),
        ("not a locale", ENGLISH),
    ],
)
async def test_the_shoppers_language(shop: Shop, locale: str, texts: tuple[str, ...]) -> None:
    lang, group, label, required = texts
    await shop.open(locale=locale)
    page = shop.page
    await expect(page.get_by_role("group", name=group)).to_be_visible()
    await page.get_by_label(label).press("Enter")
    await expect(page.get_by_role("status")).to_have_text(required)
    await expect(page.locator(".tender-gc")).to_have_attribute("lang", lang)
    await shop.shot("required")


async def test_the_same_refusal_twice_is_announced_twice(shop: Shop) -> None:
    """A live region whose words do not change is not read again: the second Enter on an
    empty field empties the message and then says it anew."""
    await shop.open()
    page = shop.page
    await page.evaluate(
        """() => {
            window.said = [];
            const message = document.querySelector(".tender-gc__message");
            new MutationObserver(() => window.said.push(message.textContent))
                .observe(message, { childList: true, characterData: true, subtree: true });
        }"""
    )
    code = page.get_by_label("Gift card number")
    required = "Please enter your gift card number."
    await code.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(required)
    await code.press("Enter")
    await page.wait_for_function("window.said.length >= 3")
    await expect(page.get_by_role("status")).to_have_text(required)
    said = await page.evaluate("window.said")
    assert [text for text in said if text] == [required, required], said
    # Typing before the repeat is said: the words were about the empty field, and stay unsaid.
    await code.press("Enter")
    await code.type("1")
    await asyncio.sleep(0.5)
    await expect(page.get_by_role("status")).to_have_text("")


@pytest.mark.parametrize("mode", ["none", "throwing", "rejecting", "rejecting-text"])
async def test_missing_or_failing_callbacks_never_break_the_page(shop: Shop, mode: str) -> None:
    await shop.open(callbacks=mode, amount="1000")
    page = shop.page
    code = page.get_by_label("Gift card number")
    await code.press("Enter")
    await code.fill(unknown_code())
    await code.press("Enter")
    await page.click("#balance")
    await shop.wait_for("balance()")
    await page.click("#pay")  # a card that is not there: an error to report
    await shop.wait_for("giftcard:submit")
    await shop.page.wait_for_function("!document.querySelector('.tender-gc[aria-busy]')")
    await asyncio.sleep(0.2)  # let any late rejection surface as a page error
    assert shop.page_errors == []
    errors = [c["detail"] for c in await shop.calls("onError")]
    reported = [e["message"] for e in errors]
    if mode == "none":
        assert reported == []
    else:
        for name in ("onGiftCardReady", "onChange", "onValueChange", "onEnter", "onGiftCardSubmit"):
            assert any(name in message for message in reported), (name, reported)
        # Whatever a callback threw, onError gets the EnablerError the .d.ts promises.
        failed = [e for e in errors if e["code"] == "CallbackFailed"]
        assert len(failed) >= 5, errors
        assert {e["name"] for e in errors} == {"EnablerError"}, errors


async def test_dom_events_tell_the_page_what_happened(shop: Shop) -> None:
    await shop.open()
    page = shop.page
    await page.get_by_label("Gift card number").press("Enter")
    balance = (await shop.wait_for("giftcard:balance"))[0]["detail"]
    assert balance["status"]["state"] == "NotFound"
    assert balance["status"]["errors"][0]["code"] == "CodeRequired"
    await page.click("#pay")
    submitted = await shop.wait_for("giftcard:submit")
    assert submitted[0]["detail"] == {}  # no amount given
    errors = await shop.wait_for("giftcard:error")
    assert errors[0]["detail"]["code"] == "CodeRequired"
    assert (await shop.calls("onError"))[0]["detail"]["code"] == "CodeRequired"


async def test_mounting_where_nothing_matches_is_an_enabler_error(shop: Shop) -> None:
    """A selector that matches nothing, that the browser cannot parse, or no selector at all:
    the page gets the ``EnablerError`` the ``.d.ts`` promises, and the form stays mounted."""
    await shop.open()
    thrown = await shop.page.evaluate(
        """() => ["#nowhere", "##giftcard[", 42, null].map((target) => {
            try { window.component.mount(target); return "mounted"; }
            catch (error) { return [error.name, error.code]; }
        })"""
    )
    assert thrown == [["EnablerError", "MountTargetNotFound"]] * 4
    await expect(shop.page.get_by_label("Gift card number")).to_be_visible()


async def test_processor_url_with_or_without_a_trailing_slash(shop: Shop) -> None:
    await shop.open(processorUrl=shop.tender.url + "/")
    await shop.page.get_by_label("Gift card number").fill(unknown_code())
    await shop.page.get_by_label("Gift card number").press("Enter")
    await shop.wait_for("giftcard:balance")
    urls = [r.url for r in shop.processor_requests() if "/enabler/" not in r.url]
    assert urls == [shop.tender.url + "/operations/config", shop.tender.url + "/balance"]


async def test_no_request_from_the_page_carries_server_credentials(shop: Shop) -> None:
    session = await shop.open(amount="1000")
    page = shop.page
    await page.get_by_label("Gift card number").fill(unknown_code())
    await page.get_by_label("Gift card number").press("Enter")
    await shop.wait_for("giftcard:balance")
    await page.click("#pay")
    await shop.wait_for("giftcard:error")
    assert len(shop.requests) >= 5  # page, module, config, balance, redeem
    for request in shop.requests:
        headers = await request.all_headers()
        assert "authorization" not in headers, request.url
        assert "cookie" not in headers, request.url
    calls = [r for r in shop.processor_requests() if "/enabler/" not in r.url]
    assert {(await r.all_headers())["x-session-id"] for r in calls} == {session}


async def test_a_double_click_on_pay_sends_one_redemption(shop: Shop) -> None:
    await shop.open(amount="1000")
    page = shop.page

    async def slow(route: Any) -> None:
        await asyncio.sleep(0.5)  # the first redemption is still in flight at the second click
        await route.continue_()

    await page.route("**/redeem", slow)
    code = unknown_code()
    await page.get_by_label("Gift card number").fill(code)
    await page.dblclick("#pay")
    await shop.wait_for("giftcard:error")
    redeem = [r for r in shop.processor_requests() if r.url.endswith("/redeem")]
    assert len(redeem) == 1
    first_key = (await redeem[0].all_headers())["idempotency-key"]
    assert UUID4.fullmatch(first_key)
    assert redeem[0].post_data_json == {
        "code": code.replace(" ", ""),
        "redeemAmount": {"centAmount": 1000, "currencyCode": "EUR"},
    }
    assert len(await shop.calls("giftcard:submit")) == 1
    # The processor refused it, so the shopper's next try is a new redemption with a new key.
    await page.click("#pay")
    await shop.wait_for("giftcard:error", 2)
    redeem = [r for r in shop.processor_requests() if r.url.endswith("/redeem")]
    assert len(redeem) == 2
    assert (await redeem[1].all_headers())["idempotency-key"] != first_key
