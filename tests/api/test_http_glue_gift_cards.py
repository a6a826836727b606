"""Gift cards in the ``payments`` of Glue's ``/checkout-data`` and ``/checkout``: applied as
tender's other card routes apply them, refused on the entry's field, and a refusal changes
nothing (the checkout data of the same document included)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tender.db.engine import Database
from tests.api.conftest import Api
from tests.api.journeys import browser, card, held, new_cart, shipping_method
from tests.api.payment_setup import api_with
from tests.helpers import GLUE_ADDRESS

PIN = "4321"


def gift_card(code: str, pin: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": code}
    if pin is not None:
        entry["pin"] = pin
    return {"paymentMethodName": "giftcard", "paymentProviderName": "tender", "giftCard": entry}


INVOICE = {"paymentMethodName": "invoice", "paymentProviderName": "tender"}


def document(kind: str, cart_id: str, shipment: int, *payments: dict[str, Any]) -> Any:
    return {
        "data": {
            "type": kind,
            "attributes": {
                "idCart": cart_id,
                "customer": {"email": "ada@example.com"},
                "billingAddress": GLUE_ADDRESS,
                "shippingAddress": GLUE_ADDRESS,
                "shipment": {"idShipmentMethod": shipment},
                "payments": list(payments),
            },
        }
    }


def refused(response: httpx.Response, status: int) -> dict[str, str | None]:
    """Each error's field and code, after checking the Glue error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    for item in body["errors"]:
        assert item["status"] == str(status)
        assert item["detail"] == item["message"]
    return {item.get("field"): item["code"] for item in body["errors"]}


async def cart_state(api: Api, h: dict[str, str], cart_id: str) -> tuple[int, Any, list[Any]]:
    """The cart's version, shipping address and gift card payments, as tender shows them."""
    cart = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
    cards = [p for p in cart["payments"] if "giftCard" in p and p["status"] == "active"]
    return cart["version"], cart["shippingAddress"], cards


async def shop(api: Api, unit: int = 10_000) -> tuple[dict[str, str], str, int]:
    h = await api.headers()
    method = await shipping_method(api, h)
    cart = await new_cart(api, h, unit=unit)
    return h, cart["id"], method


async def test_cards_are_applied_once_however_often_they_are_sent(api: Api) -> None:
    h, cart_id, method = await shop(api)
    with_pin = await card(api, h, 3000, pin=PIN)
    plain = await card(api, h, 2000)
    body = document(
        "checkout-data",
        cart_id,
        method,
        gift_card(with_pin["code"], PIN),
        gift_card(plain["code"]),
        INVOICE,
    )
    for _ in range(2):
        response = await api.client.post("/checkout-data", json=body, headers=h)
        assert response.status_code == 200, response.text
        totals = response.json()["data"]["attributes"]["totals"]
        assert (totals["giftCardTotal"], totals["priceToPay"]) == (5000, 10_490 - 5000)
        _, _, cards = await cart_state(api, h, cart_id)
        assert len(cards) == 2
    covered = response.json()["data"]["attributes"]["giftCards"]
    assert [(c["amount"], c["upperLimitAmount"]) for c in covered] == [(3000, 3000), (2000, 2000)]
    assert covered[0]["code"] == "****" + with_pin["code"][-4:]
    placed = await api.client.post(
        "/checkout?include=orders",
        json=document("checkout", cart_id, method, *body["data"]["attributes"]["payments"]),
        headers=h,
    )
    assert placed.status_code == 201, placed.text
    payments = placed.json()["included"][0]["attributes"]["payments"]
    assert sorted(p["amount"] for p in payments) == [2000, 3000, 10_490 - 5000]
    offered = {
        (provider["paymentProviderName"], method["paymentMethodName"])
        for provider in response.json()["data"]["attributes"]["paymentProviders"]
        for method in provider["paymentMethods"]
    }
    # Each payment under the names /checkout-data offered it by, as in the seed.
    assert {(p["paymentProvider"], p["paymentMethod"]) for p in payments} <= offered, payments
    assert await held(api, h, with_pin["id"]) == (3000, 3000)
    assert await held(api, h, plain["id"]) == (2000, 2000)


async def test_a_card_sent_only_to_checkout_pays_for_the_order(api: Api) -> None:
    h, cart_id, method = await shop(api)
    whole = await card(api, h, 20_000, pin=PIN)
    placed = await api.client.post(
        "/checkout",
        json=document("checkout", cart_id, method, gift_card(whole["code"], PIN)),
        headers=h,
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["data"]["attributes"]["redirectUrl"] is None
    assert await held(api, h, whole["id"]) == (20_000, 10_490)


async def test_refused_cards_are_named_by_entry_and_change_nothing(api: Api) -> None:
    h, cart_id, method = await shop(api)
    good = await card(api, h, 3000)
    with_pin = await card(api, h, 3000, pin=PIN)
    dollars = (
        await api.client.post(
            "/giftcards", json={"amount": {"centAmount": 3000, "currency": "USD"}}, headers=h
        )
    ).json()
    before = await cart_state(api, h, cart_id)
    body = document(
        "checkout-data",
        cart_id,
        method,
        gift_card("9" * 16),
        gift_card(good["code"]),
        gift_card(with_pin["code"], "0000"),
        gift_card(dollars["code"]),
        INVOICE,
    )
    for route, kind in (("/checkout-data", "checkout-data"), ("/checkout", "checkout")):
        body["data"]["type"] = kind
        fields = refused(await api.client.post(route, json=body, headers=h), 422)
        assert fields == {
            "payments.0.giftCard.code": "InvalidGiftCard",
            "payments.2.giftCard.code": "InvalidGiftCard",
            "payments.3.giftCard.code": "CurrencyMismatch",
        }
        assert await cart_state(api, h, cart_id) == before  # not even the addresses
        assert await held(api, h, good["id"]) == (3000, 0)


async def test_a_card_on_another_methods_entry_is_refused(api: Api) -> None:
    h, cart_id, method = await shop(api)
    good = await card(api, h, 3000)
    misplaced = {**INVOICE, "giftCard": {"code": good["code"]}}
    body = document("checkout-data", cart_id, method, misplaced)
    fields = refused(await api.client.post("/checkout-data", json=body, headers=h), 422)
    assert fields == {"payments.0.giftCard": "InvalidInput"}
    assert (await cart_state(api, h, cart_id))[2] == []


async def test_a_session_without_gift_cards_looks_nothing_up(api: Api) -> None:
    h, cart_id, method = await shop(api)
    good = await card(api, h, 3000)
    page = await browser(api, h, cart_id, allowedPaymentMethods=["invoice"])
    body = document("checkout-data", cart_id, method, gift_card(good["code"]), INVOICE)
    fields = refused(await api.client.post("/checkout-data", json=body, headers=page), 422)
    assert fields == {"payments.0.giftCard.code": "PaymentMethodNotAllowed"}


@pytest.mark.parametrize("route", ["/checkout-data", "/checkout"])
async def test_wrong_pins_count_towards_the_lockout(db: Database, route: str) -> None:
    async with api_with(db, max_pin_attempts=2) as api:
        h, cart_id, method = await shop(api)
        locked = await card(api, h, 3000, pin=PIN)
        kind = route.lstrip("/")
        for _ in range(2):
            wrong = document(kind, cart_id, method, gift_card(locked["code"], "0000"))
            fields = refused(await api.client.post(route, json=wrong, headers=h), 422)
            assert fields == {"payments.0.giftCard.code": "InvalidGiftCard"}
        right = document(kind, cart_id, method, gift_card(locked["code"], PIN))
        fields = refused(await api.client.post(route, json=right, headers=h), 422)
        assert fields == {"payments.0.giftCard.code": "InvalidGiftCard"}  # locked for now


async def test_only_the_refused_code_spends_its_budget(db: Database) -> None:
    async with api_with(
        db, card_failures_per_code="1/hour", card_failures_per_client="1000/hour"
    ) as api:
        h, cart_id, method = await shop(api)
        good = await card(api, h, 3000)
        unknown = "7" * 16
        both = document(
            "checkout-data", cart_id, method, gift_card(good["code"]), gift_card(unknown)
        )
        fields = refused(await api.client.post("/checkout-data", json=both, headers=h), 422)
        assert fields == {"payments.1.giftCard.code": "InvalidGiftCard"}
        limited = await api.client.post("/checkout-data", json=both, headers=h)
        refused(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 3600
        assert (await cart_state(api, h, cart_id))[2] == []
        alone = document("checkout-data", cart_id, method, gift_card(good["code"]), INVOICE)
        response = await api.client.post("/checkout-data", json=alone, headers=h)
        assert response.status_code == 200, response.text


async def test_a_browser_spends_its_sessions_attempts(db: Database) -> None:
    async with api_with(db, card_attempts_per_session_minute=2) as api:
        h, cart_id, method = await shop(api)
        good = await card(api, h, 3000)
        page = await browser(api, h, cart_id)
        body = document("checkout-data", cart_id, method, gift_card(good["code"]), INVOICE)
        for _ in range(2):
            response = await api.client.post("/checkout-data", json=body, headers=page)
            assert response.status_code == 200, response.text
        limited = await api.client.post("/checkout-data", json=body, headers=page)
        assert refused(limited, 429) == {None: "TooManyRequests"}
        assert len((await cart_state(api, h, cart_id))[2]) == 1


async def test_keyed_documents_keep_the_pin_attempts_and_failures(db: Database) -> None:
    """With an ``Idempotency-Key`` the document's work joins the request's one transaction;
    the wrong PINs and the failures they cost are kept all the same, and a replay looks
    nothing up again."""
    async with api_with(db, max_pin_attempts=2, card_failures_per_code="3/hour") as api:
        h, cart_id, method = await shop(api)
        locked = await card(api, h, 3000, pin=PIN)
        wrong = document("checkout-data", cart_id, method, gift_card(locked["code"], "0000"))
        for index in range(2):
            keyed = {**h, "Idempotency-Key": f"wrong-{index}"}
            fields = refused(
                await api.client.post("/checkout-data", json=wrong, headers=keyed), 422
            )
            assert fields == {"payments.0.giftCard.code": "InvalidGiftCard"}
        replayed = await api.client.post(
            "/checkout-data", json=wrong, headers={**h, "Idempotency-Key": "wrong-0"}
        )
        assert replayed.headers.get("idempotent-replayed") == "true"
        right = document("checkout-data", cart_id, method, gift_card(locked["code"], PIN))
        keyed = {**h, "Idempotency-Key": "right"}
        fields = refused(await api.client.post("/checkout-data", json=right, headers=keyed), 422)
        assert fields == {"payments.0.giftCard.code": "InvalidGiftCard"}  # locked for now
        limited = await api.client.post(
            "/checkout-data", json=right, headers={**h, "Idempotency-Key": "again"}
        )
        refused(limited, 429)  # three failures of this code: its budget is spent


async def test_one_card_twice_in_a_document_is_one_payment(api: Api) -> None:
    h, cart_id, method = await shop(api)
    plain = await card(api, h, 2000)
    spaced = " ".join(plain["code"][i : i + 4] for i in range(0, len(plain["code"]), 4))
    body = document(
        "checkout-data", cart_id, method, gift_card(plain["code"]), gift_card(spaced), INVOICE
    )
    response = await api.client.post("/checkout-data", json=body, headers=h)
    assert response.status_code == 200, response.text
    assert [c["amount"] for c in response.json()["data"]["attributes"]["giftCards"]] == [2000]
    assert len((await cart_state(api, h, cart_id))[2]) == 1


async def test_a_card_spent_elsewhere_since_it_was_applied_is_incorrect_data(api: Api) -> None:
    """Glue knows no 409: a card applied through ``/checkout-data`` and spent on another order
    before this one is placed is checkout data the order cannot use: 422 on the payments, as
    the seed says, and nothing reserved."""
    h, first, method = await shop(api)
    second = (await new_cart(api, h, unit=10_000))["id"]
    whole = await card(api, h, 10_490)  # either order's whole total
    applied = document("checkout-data", first, method, gift_card(whole["code"]))
    response = await api.client.post("/checkout-data", json=applied, headers=h)
    assert response.status_code == 200, response.text
    elsewhere = document("checkout", second, method, gift_card(whole["code"]))
    elsewhere["data"]["attributes"]["payments"].append(INVOICE)
    placed = await api.client.post("/checkout", json=elsewhere, headers=h)
    assert placed.status_code == 201, placed.text
    spent = await held(api, h, whole["id"])

    late = document("checkout", first, method, gift_card(whole["code"]))
    response = await api.client.post("/checkout", json=late, headers=h)
    assert set(refused(response, 422).values()) == {"GiftCardShortfall"}, response.text
    assert await held(api, h, whole["id"]) == spent


async def test_a_keyed_checkout_refused_for_a_spent_card_runs_again_once_it_is_whole(
    api: Api,
) -> None:
    """Glue answers the shortfall 422 (its seed knows no 409), but it stays what it is, a
    conflict a retry may find resolved: its answer is not kept under the key, and the same
    key places the order once the card is whole again."""
    h, first, method = await shop(api)
    second = (await new_cart(api, h, unit=10_000))["id"]
    whole = await card(api, h, 10_490)
    applied = document("checkout-data", first, method, gift_card(whole["code"]))
    assert (await api.client.post("/checkout-data", json=applied, headers=h)).status_code == 200
    elsewhere = document("checkout", second, method, gift_card(whole["code"]))
    placed = await api.client.post("/checkout", json=elsewhere, headers=h)
    assert placed.status_code == 201, placed.text
    keyed = {**h, "Idempotency-Key": "place-first"}
    late = document("checkout", first, method, gift_card(whole["code"]))
    refused_once = await api.client.post("/checkout", json=late, headers=keyed)
    assert set(refused(refused_once, 422).values()) == {"GiftCardShortfall"}
    reference = placed.json()["data"]["attributes"]["orderReference"]
    cancelled = await api.client.post(f"/orders/{reference}/cancel", headers=h)
    assert cancelled.status_code == 200, cancelled.text
    retried = await api.client.post("/checkout", json=late, headers=keyed)
    assert retried.status_code == 201, retried.text
    assert retried.headers["idempotent-replayed"] == "false"


async def test_as_many_cards_as_a_cart_takes_and_a_method_for_the_rest(api: Api) -> None:
    """A cart takes ten gift cards; a document with ten and the invoice that pays the rest is
    one the seed's shopper may send."""
    h, cart_id, method = await shop(api)
    cards = [await card(api, h, 100) for _ in range(10)]
    body = document(
        "checkout-data", cart_id, method, *(gift_card(c["code"]) for c in cards), INVOICE
    )
    response = await api.client.post("/checkout-data", json=body, headers=h)
    assert response.status_code == 200, response.text
    totals = response.json()["data"]["attributes"]["totals"]
    assert (totals["giftCardTotal"], totals["priceToPay"]) == (1000, 10_490 - 1000)
