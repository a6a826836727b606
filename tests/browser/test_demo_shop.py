"""The demo storefront in real Chromium, as a shopper uses it: a basket, the address and the
shipping method through Glue's ``/checkout-data``, two gift cards through the enabler (one with
a PIN), the rest by invoice, and the confirmation; in English and in German. Every request the
page makes is recorded: none carries a bearer token or the demo client's secret."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.playwright_expect import expect

pytestmark = pytest.mark.xdist_group("browser")

TEXTS = {
    "en": {
        "add_pot": "Add: Cast iron teapot",
        "add_tea": "Add: Sencha green tea, 100 g",
        "checkout": "Checkout",
        "fields": ("Email", "First name", "Last name", "Street", "No.", "Postcode", "City"),
        "continue": "Continue",
        "code": "Gift card number",
        "pin": "PIN (if your card has one)",
        "check": "Check balance",
        "apply": "Apply gift card",
        "another": "Use another gift card",
        "place": "Place order",
        "balance": "Available balance: €50.00",
        "applied": ("Gift card covers €50.00", "Gift card covers €25.00"),
        "remaining": "€4.70",
        "paid": ["Gift card: €50.00", "Gift card: €25.00", "Invoice: €4.70"],
        "thanks": "Thank you for your order",
        "country": "Country",
        "languages": "Language",
        "title": "Teahouse — tender demo shop",
    },
    "de": {
        "add_pot": "Hinzufügen: Teekanne aus Gusseisen",
        "add_tea": "Hinzufügen: Sencha Grüntee, 100 g",
        "checkout": "Zur Kasse",
        "fields": ("E-Mail", "Vorname", "Nachname", "Straße", "Nr.", "PLZ", "Ort"),
        "continue": "Weiter",
        "code": "Geschenkkartennummer",
        "pin": "PIN (falls vorhanden)",
        "check": "Guthaben prüfen",
        "apply": "Geschenkkarte einlösen",
        "another": "Weitere Geschenkkarte verwenden",
        "place": "Bestellung aufgeben",
        "balance": "Verfügbares Guthaben: 50,00 €",
        "applied": ("Geschenkkarte deckt 50,00 €", "Geschenkkarte deckt 25,00 €"),
        "remaining": "4,70 €",
        "paid": ["Geschenkkarte: 50,00 €", "Geschenkkarte: 25,00 €", "Rechnung: 4,70 €"],
        "thanks": "Vielen Dank für Ihre Bestellung",
        "country": "Land",
        "languages": "Sprache",
        "title": "Teahouse — tender Demo-Shop",
    },
}
ADDRESS = ("ada@example.com", "Ada", "Lovelace", "Teestraße", "7", "10115", "Berlin")


def spaced(text: str) -> re.Pattern[str]:
    """``text`` with any kind of space where it has one (Intl writes "4,70 €" with a
    no-break space)."""
    return re.compile(r"\s".join(re.escape(part) for part in text.split(" ")))


@pytest.fixture
async def tab(chromium: Any) -> AsyncIterator[tuple[Any, list[Any]]]:
    context = await chromium.new_context(viewport={"width": 375, "height": 812})
    page = await context.new_page()
    requests: list[Any] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, requests
    finally:
        await context.close()
    assert errors == []


async def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"demo-{name}.png", full_page=True)


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_two_gift_cards_and_an_invoice_pay_for_an_order(
    demo: Demo, tab: tuple[Any, list[Any]], locale: str
) -> None:
    page, requests = tab
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    demo_service = demo.tender
    t = TEXTS[locale]
    plain = await demo_service.card(5000)
    with_pin = await demo_service.card(2500, pin="4711")

    await page.goto(f"{demo_service.url}/demo?lang={locale}")
    await page.get_by_role("button", name=t["add_pot"]).click()
    await page.get_by_role("button", name=t["add_tea"]).click()
    await page.get_by_role("button", name=t["add_tea"]).click()
    await shot(page, f"{locale}-1-basket")
    await page.get_by_role("button", name=t["checkout"], exact=True).click()
    for label, value in zip(t["fields"], ADDRESS, strict=True):
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name=t["continue"]).click()
    await expect(page.get_by_label(t["code"])).to_be_visible()  # shipping chosen, card form up
    await shot(page, f"{locale}-2-address-and-shipping")
    country = "Germany" if locale == "en" else "Deutschland"
    await expect(page.get_by_label(t["country"], exact=True)).to_have_value(country)
    await expect(page.get_by_role("navigation", name=t["languages"])).to_be_visible()
    await expect(page).to_have_title(t["title"])

    await page.get_by_label(t["code"]).fill(plain["code"])
    await page.get_by_role("button", name=t["check"]).click()
    await expect(page.locator(".tender-gc__message")).to_have_text(spaced(t["balance"]))
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(page.locator("#applied li")).to_have_text([spaced(t["applied"][0])])
    await expect(page.locator("#card-status")).to_have_text("")  # told once, by the card form
    # What the card paid is for this total: the shipping (and its price) is fixed from now on.
    await expect(page.locator("#methods input").first).to_be_disabled()
    await expect(page.locator("#shipping-fixed")).to_be_visible()
    await shot(page, f"{locale}-3-first-card")

    await page.get_by_role("button", name=t["another"]).click()
    await page.get_by_label(t["code"]).fill(with_pin["code"])
    await page.get_by_label(t["pin"]).fill("4711")
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(page.locator("#applied li")).to_have_text([spaced(a) for a in t["applied"]])
    await expect(page.locator("#remaining")).to_have_text(spaced(t["remaining"]))
    await shot(page, f"{locale}-4-second-card")

    await page.get_by_role("button", name=t["place"]).click()
    await expect(page.get_by_role("heading", name=t["thanks"])).to_be_visible()
    reference = await page.locator("#reference").inner_text()
    assert reference
    await expect(page.locator("#paid li")).to_have_text([spaced(p) for p in t["paid"]])
    await shot(page, f"{locale}-5-confirmation")
    for link in (page.locator("a.brand"), page.locator("#done a")):  # in the shopper's language
        assert await link.get_attribute("href") == f"/demo?lang={locale}"
    assert failed == []  # nothing the page asked for was missing (a favicon included)

    order = await demo_service.call("GET", f"/orders/{reference}", status=200)
    paid = sorted((p["paymentMethod"], p["amountPlanned"]["centAmount"]) for p in order["payments"])
    assert [p for p in paid if p[1]] == [("giftcard", 2500), ("giftcard", 5000), ("invoice", 470)]
    for request in requests:
        assert "authorization" not in request.headers
        assert demo.client_secret not in (request.post_data or "")
        assert demo.client_secret not in request.url


async def test_a_refused_card_can_be_corrected_and_applied(
    demo: Demo, tab: tuple[Any, list[Any]]
) -> None:
    """A mistyped code is told once, by the card form, and "Apply" works again for the
    corrected one; the shop's own line never contradicts the form."""
    page, _ = tab
    t = TEXTS["en"]
    card = await demo.tender.card(9000)
    await to_payment(page, demo.tender.url, "en", product="add_tea")
    code = page.get_by_label(t["code"])
    await code.fill(card["code"])
    await page.get_by_role("button", name=t["check"]).click()
    await expect(page.locator(".tender-gc__message")).to_have_text(
        spaced("Available balance: €90.00")
    )
    await code.fill("0000 0000 0000 0000")
    await page.get_by_role("button", name=t["check"]).click()
    await expect(page.locator(".tender-gc__message")).to_have_text(
        "The gift card number or PIN you entered is invalid. Please try again."
    )
    await expect(page.locator("#card-status")).to_have_text("")  # not the old card's balance
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("button", name=t["apply"])).to_be_enabled()
    await expect(page.locator("#card-status")).to_have_text("")  # said once, by the form
    await code.fill(card["code"])
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(page.locator("#applied li")).to_have_text([re.compile(r"^Gift card covers ")])
    await expect(page.locator("#card-status")).to_have_text("")
    await shot(page, "corrected-card")


async def to_payment(page: Any, url: str, locale: str, product: str = "add_pot") -> None:
    """A teapot (or the ``product`` of ``TEXTS``) in the basket, the address given, the first
    shipping method chosen."""
    t = TEXTS[locale]
    await page.goto(f"{url}/demo?lang={locale}")
    await page.get_by_role("button", name=t[product]).click()
    await page.get_by_role("button", name=t["checkout"], exact=True).click()
    for label, value in zip(t["fields"], ADDRESS, strict=True):
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name=t["continue"]).click()


STARTS_AGAIN = "We cannot process your gift card at the moment. Please try again."


def first_dropped(dropped: list[str]) -> Callable[[Any], Awaitable[None]]:
    """A route handler that drops the first request it sees (its URL goes to ``dropped``), as
    a network would, and lets the others through."""

    async def handle(route: Any) -> None:
        if dropped:
            await route.continue_()
        else:
            dropped.append(route.request.url)
            await route.abort("connectionreset")

    return handle


async def test_a_card_form_that_could_not_start_starts_when_the_shopper_continues_again(
    demo: Demo, tab: tuple[Any, list[Any]]
) -> None:
    """The network dropped the enabler's first request: the shopper is told, once, and
    pressing Continue again (nothing else is on offer) brings the form, with the old words
    gone."""
    page, _ = tab
    t = TEXTS["en"]
    dropped: list[str] = []
    drop_first = first_dropped(dropped)

    await page.route("**/operations/config", drop_first)
    await to_payment(page, demo.tender.url, "en")
    await expect(page.locator("#card-status")).to_have_text(STARTS_AGAIN)
    await expect(page.locator("#problem")).to_have_text("")  # said once, beside the form
    await expect(page.get_by_role("button", name=t["apply"])).to_be_disabled()
    await page.get_by_role("button", name=t["continue"]).click()
    await expect(page.get_by_label(t["code"])).to_be_visible()
    await expect(page.get_by_role("button", name=t["apply"])).to_be_enabled()
    await expect(page.locator("#card-status")).to_have_text("")
    assert len(dropped) == 1


async def test_totals_that_could_not_be_read_after_a_card_paid_come_with_continue(
    demo: Demo, tab: tuple[Any, list[Any]]
) -> None:
    """The card paid but reading the totals again failed: the shop said nothing (the enabler
    keeps a callback's failure to itself) and went on showing the old amount to pay. Now it
    says so, and Continue reads them again and shows what the card covers."""
    page, _ = tab
    t = TEXTS["en"]
    card = await demo.tender.card(1000)
    await to_payment(page, demo.tender.url, "en")
    dropped: list[str] = []
    drop_once = first_dropped(dropped)

    await page.get_by_label(t["code"]).fill(card["code"])
    await page.route("**/checkout-data", drop_once)
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(page.locator("#problem")).not_to_have_text("")
    await expect(page.locator("#applied li")).to_have_count(0)
    await page.get_by_role("button", name=t["continue"]).click()
    await expect(page.locator("#applied li")).to_have_text([spaced("Gift card covers €10.00")])
    await expect(page.locator("#problem")).to_have_text("")
    assert len(dropped) == 1


async def test_another_gift_card_by_keyboard_lands_in_the_new_form(
    demo: Demo, tab: tuple[Any, list[Any]]
) -> None:
    """The button "Use another gift card" goes away once pressed: the focus goes to the new
    card's field, not to the page (from where Tab would skip the form and land on "Place
    order"); and when the new form cannot start, the button comes back, focused, to try
    again."""
    page, _ = tab
    t = TEXTS["de"]
    card = await demo.tender.card(1000)
    await to_payment(page, demo.tender.url, "de")
    await page.get_by_label(t["code"]).fill(card["code"])
    await page.get_by_role("button", name=t["apply"]).click()
    another = page.get_by_role("button", name=t["another"])
    await expect(another).to_be_visible()

    await page.route("**/operations/config", lambda route: route.abort("connectionreset"))
    await another.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#card-status")).not_to_have_text("")
    await expect(another).to_be_focused()
    await page.unroute("**/operations/config")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label(t["code"])).to_be_focused()
    await expect(page.locator("#card-status")).to_have_text("")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label(t["pin"])).to_be_focused()
    await shot(page, "another-card-by-keyboard")


@pytest.mark.parametrize("refusal", ["network", "card"])
async def test_apply_keeps_the_keyboard_where_it_was_when_a_card_is_not_applied(
    demo: Demo, tab: tuple[Any, list[Any]], refusal: str
) -> None:
    """The button "Apply" is disabled while the card is redeemed, which takes the focus from
    it: when the network dropped the redemption, the button comes back focused, so Enter tries
    again instead of Tab starting from the top of the page; when the card was refused, the
    focus is where the card form put it, on the number to correct."""
    page, _ = tab
    t = TEXTS["en"]
    card = await demo.tender.card(1000)
    await to_payment(page, demo.tender.url, "en")
    code = page.get_by_label(t["code"])
    dropped: list[str] = []
    if refusal == "network":
        await code.fill(card["code"])
        await page.route("**/redeem", first_dropped(dropped))
    else:
        await code.fill("0000 0000 0000 0000")
    apply = page.get_by_role("button", name=t["apply"])
    await apply.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(".tender-gc__message")).not_to_have_text("")
    await expect(apply).to_be_enabled()
    if refusal == "card":
        await expect(code).to_be_focused()
        await code.fill(card["code"])
        await apply.focus()
    else:
        await expect(apply).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#applied li")).to_have_text([spaced("Gift card covers €10.00")])
    # "Apply" is disabled for good now: the keyboard goes on from the next step, not the top.
    await expect(page.get_by_role("button", name=t["another"])).to_be_focused()
    assert len(dropped) == (1 if refusal == "network" else 0)
