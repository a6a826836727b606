"""Glue's addresses: the ``country`` object of ``/checkout-data`` (names, ISO codes and postal
code rules from maintained data), and postal codes held to their country's rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.journeys import new_cart, shipping_method
from tests.helpers import GLUE_ADDRESS, GLUE_GERMANY


def document(kind: str, cart_id: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": {"idCart": cart_id, **attributes}}}


async def test_each_address_carries_its_country(api: Api) -> None:
    h = await api.headers()
    cart = await new_cart(api, h)
    us = {**GLUE_ADDRESS, "iso2Code": "US", "zipCode": "94043", "city": "Mountain View"}
    body = document("checkout-data", cart["id"], billingAddress=GLUE_ADDRESS, shippingAddress=us)
    response = await api.client.post("/checkout-data", json=body, headers=h)
    assert response.status_code == 200, response.text
    countries = {
        a["iso2Code"]: a["country"] for a in response.json()["data"]["attributes"]["addresses"]
    }
    germany, states = countries["DE"], countries["US"]
    assert germany == GLUE_GERMANY
    assert (states["id_country"], states["iso3_code"], states["name"]) == (
        840,
        "USA",
        "United States",
    )
    assert states["postal_code_mandatory"] is True
    assert {"iso2_code": "US-CA", "name": "California"} in states["regions"]
    assert len(states["regions"]) > 50


@pytest.mark.parametrize("route", ["/checkout-data", "/checkout"])
@pytest.mark.parametrize(
    ("country", "postal_code"), [("DE", "1011"), ("DE", "ABCDE"), ("NL", "12345"), ("US", "9404")]
)
async def test_a_postal_code_off_its_countrys_rule_is_422_on_its_field(
    api: Api, route: str, country: str, postal_code: str
) -> None:
    h = await api.headers()
    cart = await new_cart(api, h)
    method = await shipping_method(api, h)
    wrong = {**GLUE_ADDRESS, "iso2Code": country, "zipCode": postal_code}
    body = document(
        route.lstrip("/"),
        cart["id"],
        customer={"email": "ada@example.com"},
        billingAddress=GLUE_ADDRESS,
        shippingAddress=wrong,
        shipment={"idShipmentMethod": method},
        payments=[{"paymentMethodName": "invoice"}],
    )
    response = await api.client.post(route, json=body, headers=h)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    zip_errors = [e for e in errors if e.get("field") == "shippingAddress.zipCode"]
    assert len(zip_errors) == 1, errors
    assert zip_errors[0]["message"].startswith("zipCode is not a postal code of ")
    after = (await api.client.get(f"/carts/{cart['id']}", headers=h)).json()
    assert (after["version"], after["billingAddress"], after["shippingAddress"]) == (
        cart["version"],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [("NL", "1012 AB"), ("GB", "sw1a 1aa"), ("US", "94043-1351"), ("DE", " 10115 ")],
)
async def test_postal_codes_as_the_post_writes_them_are_taken(
    api: Api, country: str, postal_code: str
) -> None:
    h = await api.headers()
    cart = await new_cart(api, h)
    given = {**GLUE_ADDRESS, "iso2Code": country, "zipCode": postal_code}
    body = document("checkout-data", cart["id"], shippingAddress=given)
    response = await api.client.post("/checkout-data", json=body, headers=h)
    assert response.status_code == 200, response.text


async def test_a_destination_the_chosen_method_does_not_ship_to_unselects_it(api: Api) -> None:
    """The shopper chose a method that ships to Germany, then gives an address in the US: the
    answer no longer shows that method nor its price (it showed both, and placing refused
    them); placing asks for a method. Back in Germany, a method is chosen again."""
    h = await api.headers()
    cart = await new_cart(api, h)
    method = await shipping_method(api, h)
    chosen = document(
        "checkout-data",
        cart["id"],
        shippingAddress=GLUE_ADDRESS,
        shipment={"idShipmentMethod": method},
    )
    response = await api.client.post("/checkout-data", json=chosen, headers=h)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["attributes"]["totals"]["expenseTotal"] == 490
    us = {**GLUE_ADDRESS, "iso2Code": "US", "zipCode": "94043", "city": "Mountain View"}
    moved = document("checkout-data", cart["id"], shippingAddress=us)
    response = await api.client.post("/checkout-data", json=moved, headers=h)
    assert response.status_code == 200, response.text
    attributes = response.json()["data"]["attributes"]
    assert attributes["shipmentMethods"] == []
    assert attributes["selectedShipmentMethods"] == []
    assert attributes["totals"]["expenseTotal"] == 0
    placing = document(
        "checkout",
        cart["id"],
        customer={"email": "ada@example.com"},
        billingAddress=GLUE_ADDRESS,
        payments=[{"paymentMethodName": "invoice"}],
    )
    refused = await api.client.post("/checkout", json=placing, headers=h)
    assert refused.status_code == 422, refused.text
    back = await api.client.post("/checkout-data", json=chosen, headers=h)
    assert back.json()["data"]["attributes"]["selectedShipmentMethods"][0]["id"] == method
    # A change that keeps the destination keeps the method.
    again = document("checkout-data", cart["id"], shippingAddress={**GLUE_ADDRESS, "city": "Köln"})
    kept = await api.client.post("/checkout-data", json=again, headers=h)
    assert kept.json()["data"]["attributes"]["selectedShipmentMethods"][0]["id"] == method
