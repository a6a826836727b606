"""The Glue routes answer in the shopper's language (``Accept-Language``, quality values
included; English when tender does not speak any of them), say which in ``Content-Language``,
and write money as that language does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.journeys import add_card, browser, card, checkout_document, new_cart

GERMAN = "de-CH;q=0.9, en;q=0.8"


async def shop(api: Api) -> tuple[dict[str, str], str, int]:
    """A 15.10 EUR cart to Germany and a 4.90 EUR shipping method named in German too."""
    h = await api.headers()
    method = {
        "name": "Standard",
        "names": {"de": "Standardversand"},
        "carrierName": "DHL",
        "price": {"centAmount": 490, "currency": "EUR"},
        "taxRate": "19.00",
        "countries": ["DE"],
    }
    created = await api.client.post("/shipping-methods", json=method, headers=h)
    assert created.status_code == 201, created.text
    assert created.json()["names"] == {"de": "Standardversand"}
    cart = await new_cart(api, h, unit=1510)
    return h, cart["id"], int(created.json()["id"])


async def post(
    api: Api, path: str, body: dict[str, Any], headers: dict[str, str], lang: str | None
) -> httpx.Response:
    if lang is not None:
        headers = {**headers, "Accept-Language": lang}
    return await api.client.post(path, json=body, headers=headers)


async def test_money_in_messages_in_english_and_german(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    gift = await card(api, h, 500)
    await add_card(api, h, cart_id, gift["code"])
    body = checkout_document("checkout", cart_id, shipping, "giftcard")
    english = await post(api, "/checkout", body, h, None)
    assert english.status_code == 422, english.text
    assert english.headers["content-language"] == "en"
    (error,) = english.json()["errors"]
    assert error["code"] == "PaymentIncomplete"
    assert error["detail"] == (
        "gift cards cover 5.00 EUR; select a payment method for the remaining 15.00 EUR"
    )
    assert error["source"] == {"pointer": "/data/attributes/payments"}
    german = await post(api, "/checkout", body, h, GERMAN)
    assert german.headers["content-language"] == "de"
    (error,) = german.json()["errors"]
    assert error["detail"] == (
        "Geschenkkarten decken 5,00\xa0€; wählen Sie eine Zahlungsart für die restlichen 15,00\xa0€"
    )
    assert german.json()["message"] == error["detail"]
    for answer in (english, german):
        assert "minor" not in answer.text
        assert "1500" not in answer.text
    # tender's own API says the same in its own shape, in English
    stored = checkout_document("checkout-data", cart_id, shipping, "giftcard")
    assert (await post(api, "/checkout-data", stored, h, "de")).status_code == 200
    own = await api.client.post(
        "/orders", json={"cartId": cart_id}, headers={**h, "Accept-Language": "de"}
    )
    assert own.status_code == 422
    assert "the remaining 15.00 EUR" in own.json()["errors"][0]["message"]
    assert own.headers["content-type"] == "application/json"


async def test_accept_language_is_negotiated(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    body = checkout_document("checkout-data", cart_id, shipping, "invoice")
    for header, expected in (
        (GERMAN, "de"),
        ("de, en;q=0.9", "de"),  # the seed's sample
        ("en;q=0.5, de;q=0.9", "de"),
        ("de-AT", "de"),
        ("fr", "en"),
        ("fr-CA, es;q=0.7", "en"),
        ("de;q=0, en;q=0.1", "en"),
        ("*", "en"),
        ("de;q=abc", "en"),
        ("", "en"),
        (None, "en"),
    ):
        answer = await post(api, "/checkout-data", body, h, header)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-language"] == expected, header
        assert answer.headers["content-type"] == "application/vnd.api+json"
    unknown = checkout_document("checkout-data", "00000000-0000-7000-8000-000000000000", shipping)
    for header, detail in (
        ("fr", "The cart was not found."),
        ("de-CH;q=0.9, en;q=0.8", "Der Warenkorb wurde nicht gefunden."),
        ("en-GB, de;q=0.5", "The cart was not found."),
    ):
        refused = await post(api, "/checkout-data", unknown, h, header)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["detail"] == detail
        assert refused.headers["content-language"] == header[:2].replace("fr", "en")


async def test_german_validation_and_field_messages(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    malformed = await api.client.post(
        "/checkout-data",
        json={"data": {"type": "checkout-data", "attributes": {}}},
        headers={**h, "Accept-Language": "de"},
    )
    assert malformed.status_code == 400
    (error,) = malformed.json()["errors"]
    assert error["detail"] == "Dieses Feld ist erforderlich."
    assert error["source"] == {"pointer": "/data/attributes/idCart"}
    document = checkout_document("checkout-data", cart_id, shipping, "bitcoin")
    attributes = document["data"]["attributes"]
    attributes["shippingAddress"] = {**attributes["shippingAddress"], "zipCode": ""}
    wrong = await post(api, "/checkout-data", document, h, "de")
    details = [e["detail"] for e in wrong.json()["errors"]]
    assert details == [
        "zipCode ist erforderlich",
        "bitcoin ist hier nicht verfügbar; verwenden Sie eine dieser Zahlungsarten: "
        "giftcard, invoice",
    ]
    attributes["shippingAddress"]["zipCode"] = "ABC"
    attributes["payments"] = [{"paymentMethodName": "invoice", "paymentProviderName": "tender"}]
    for language, country in (("de", "Deutschland"), ("en", "Germany")):
        wrong = await post(api, "/checkout-data", document, h, language)
        (detail,) = [e["detail"] for e in wrong.json()["errors"]]
        assert f" {country}, " in detail, detail  # the country as the shopper's language names it


async def test_names_of_methods_in_the_shoppers_language(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    page = await browser(api, h, cart_id)
    body = checkout_document("checkout-data", cart_id, shipping, "invoice")
    query = "/checkout-data?include=payment-methods,shipment-methods"
    german = await post(api, query, body, page, "de")
    assert german.status_code == 200, german.text
    attributes = german.json()["data"]["attributes"]
    assert attributes["selectedShipmentMethods"][0]["name"] == "Standardversand"
    (selected,) = attributes["selectedPaymentMethods"]
    assert (selected["name"], selected["paymentMethodName"]) == ("Rechnung", "invoice")
    included = german.json()["included"]
    methods = {
        r["attributes"]["paymentMethodName"]: r["attributes"]["name"]
        for r in included
        if r["type"] == "payment-methods"
    }
    assert methods == {"giftcard": "Geschenkkarte", "invoice": "Rechnung"}
    shipments = [r for r in included if r["type"] == "shipment-methods"]
    assert [s["attributes"]["name"] for s in shipments] == ["Standardversand"]
    # the key a client sends back works whatever the shopper reads
    again = await post(api, "/checkout-data", body, page, "de")
    assert again.status_code == 200
    for header in ("fr", "en", None):
        other = await post(api, query, body, page, header)
        attributes = other.json()["data"]["attributes"]
        assert attributes["selectedShipmentMethods"][0]["name"] == "Standard"
        assert attributes["selectedPaymentMethods"][0]["name"] == "Invoice"


async def test_names_are_checked_when_a_method_is_made(api: Api) -> None:
    h = await api.headers()
    base = {
        "name": "Standard",
        "price": {"centAmount": 490, "currency": "EUR"},
        "taxRate": "19.00",
    }
    for names, field in (
        ({"German": "Standardversand"}, "names"),
        ({"de": " "}, "names.de"),
        ({"de": "x" * 201}, "names.de"),
        ({f"l{i:02d}"[:3]: "x" for i in range(31)}, "names"),
    ):
        refused = await api.client.post(
            "/shipping-methods", json={**base, "names": names}, headers=h
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["field"] == field
    listed = (await api.client.get("/shipping-methods", headers=h)).json()["results"]
    assert listed == []
