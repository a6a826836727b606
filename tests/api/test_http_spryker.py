"""The Spryker Glue checkout API, as a Glue client calls it: JSON:API documents, the seed's
attribute names, include/relationships, sort, and the seed's status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tender.db.engine import Database
from tests.api.conftest import Api
from tests.api.journeys import new_cart, order_payment, shipping_method
from tests.api.payment_setup import api_with
from tests.helpers import SEED_GLUE_ADDRESS

ADDRESS = SEED_GLUE_ADDRESS
CUSTOMER = {
    "salutation": "Mr",
    "email": "spencor@example.com",
    "firstName": "spencor",
    "lastName": "hopkin",
}


@pytest.fixture
async def simulator(db: Database) -> AsyncIterator[Api]:
    """Redirect payments through the development simulator, switched on explicitly."""
    async with api_with(db, redirect_simulator=True) as api:
        yield api


def jsonapi_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    for item in body["errors"]:
        assert item["status"] == str(status)
        assert item["detail"] == item["message"]
        assert item["code"]
    if code:
        assert body["errors"][0]["code"] == code, body
    return body


async def shop(api: Api) -> tuple[dict[str, str], str, list[int]]:
    h = await api.headers()
    ids = [
        await shipping_method(api, h, name=name, carrier=carrier, price=price)
        for name, carrier, price in (
            ("Standard", "Spryker Dummy Shipment", 490),
            ("Express", "Spryker Dummy Shipment", 590),
            ("Air Light", "Spryker Drone Shipment", 1500),
        )
    ]
    cart = await new_cart(
        api, h, unit=33265, sku="136_24425591", name="Acer Chromebook", email=None
    )
    return h, cart["id"], ids


def document(kind: str, cart_id: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": {"idCart": cart_id, **attributes}}}


def placing(cart_id: str, shipment: int, payment: dict[str, str]) -> dict[str, Any]:
    """A complete checkout document: the seed's customer and address, and ``payment``."""
    return document(
        "checkout",
        cart_id,
        customer=CUSTOMER,
        billingAddress=ADDRESS,
        shippingAddress=ADDRESS,
        shipment={"idShipmentMethod": shipment},
        payments=[payment],
    )


async def test_checkout_data_as_in_the_seed(api: Api) -> None:
    h, cart_id, ids = await shop(api)
    body = document(
        "checkout-data",
        cart_id,
        customer=CUSTOMER,
        billingAddress=ADDRESS,
        shippingAddress={**ADDRESS, "isDefaultShipping": False},
        payments=[{"paymentMethodName": "invoice", "paymentProviderName": "DummyPayment"}],
        shipment={"idShipmentMethod": ids[0]},
    )
    response = await api.client.post(
        "/checkout-data?include=payment-methods,shipment-methods"
        "&sort=shipment-methods.carrierName,-shipment-methods.defaultGrossPrice",
        json=body,
        headers={**h, "Accept-Language": "de, en;q=0.9"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    data = response.json()["data"]
    assert data["type"] == "checkout-data"
    assert data["id"] is None
    attributes = data["attributes"]
    assert {a["address1"] for a in attributes["addresses"]} == {"West road"}
    assert attributes["selectedShipmentMethods"][0]["id"] == ids[0]
    assert attributes["selectedShipmentMethods"][0]["price"] == 490
    assert attributes["selectedShipmentMethods"][0]["currencyIsoCode"] == "EUR"
    assert attributes["selectedPaymentMethods"][0]["paymentMethodName"] == "invoice"
    assert "requiredRequestData" in attributes["selectedPaymentMethods"][0]
    relationships = data["relationships"]
    assert {r["type"] for r in relationships["payment-methods"]["data"]} == {"payment-methods"}
    included = response.json()["included"]
    shipments = [r for r in included if r["type"] == "shipment-methods"]
    # carrierName ascending, then defaultGrossPrice descending within a carrier.
    assert [s["attributes"]["name"] for s in shipments] == ["Air Light", "Express", "Standard"]
    assert {
        "name",
        "carrierName",
        "deliveryTime",
        "defaultGrossPrice",
        "defaultNetPrice",
        "currencyIsoCode",
    } <= set(shipments[0]["attributes"])

    by_id = document(
        "checkout-data",
        cart_id,
        billingAddress={
            "id": attributes["addresses"][0]["id"],
            **dict.fromkeys(
                (
                    "salutation",
                    "firstName",
                    "lastName",
                    "address1",
                    "address2",
                    "zipCode",
                    "city",
                    "iso2Code",
                ),
                "dummyValue",
            ),
        },
    )
    again = await api.client.post("/checkout-data", json=by_id, headers=h)
    assert again.status_code == 200, again.text


async def test_incorrect_checkout_data_is_422_per_field_and_changes_nothing(api: Api) -> None:
    h, cart_id, _ids = await shop(api)
    bad = document(
        "checkout-data",
        cart_id,
        customer={"email": "not-an-email"},
        shippingAddress={**ADDRESS, "iso2Code": "Germany", "zipCode": ""},
        payments=[{"paymentMethodName": "bitcoin"}],
        shipment={"idShipmentMethod": 99_999},
    )
    response = await api.client.post("/checkout-data", json=bad, headers=h)
    body = jsonapi_error(response, 422)
    fields = {e.get("field") for e in body["errors"]}
    assert {"customer.email", "payments", "shipment.idShipmentMethod"} <= fields
    assert any(f and f.startswith("shippingAddress") for f in fields)
    cart = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
    assert cart["shippingAddress"] is None
    assert cart["shippingMethod"] is None
    assert cart["version"] == 1


@pytest.mark.parametrize("method", [2**31, "4294967296", 2**63, 2**64, 0, -1])
async def test_a_shipment_method_no_database_could_hold_is_unknown(api: Api, method: Any) -> None:
    h, cart_id, _ids = await shop(api)
    bad = document("checkout-data", cart_id, shipment={"idShipmentMethod": method})
    response = await api.client.post("/checkout-data", json=bad, headers=h)
    body = jsonapi_error(response, 422)
    assert [e.get("field") for e in body["errors"]] == ["shipment.idShipmentMethod"]


async def test_malformed_and_unauthenticated_requests_are_400(api: Api) -> None:
    h, cart_id, _ = await shop(api)
    for content in (
        b"{",
        b'{"data": {"type": "checkout-data"}}',
        b'{"data": {"type": "orders", "attributes": {"idCart": "x"}}}',
    ):
        response = await api.client.post(
            "/checkout-data", content=content, headers={**h, "content-type": "application/json"}
        )
        jsonapi_error(response, 400)
    anonymous = await api.client.post("/checkout-data", json=document("checkout-data", cart_id))
    jsonapi_error(anonymous, 400, "MissingCredentials")  # as the seed: no credentials → 400
    unknown_cart = await api.client.post(
        "/checkout-data",
        json=document("checkout-data", "00000000-0000-7000-8000-000000000000"),
        headers=h,
    )
    jsonapi_error(unknown_cart, 422, "CartNotFound")


async def test_browser_checkout_through_the_redirect_simulator(simulator: Api) -> None:
    api = simulator
    h, cart_id, ids = await shop(api)
    session = (
        await api.client.post(
            "/sessions",
            json={
                "cart": {"cartRef": {"id": cart_id}},
                "metadata": {
                    "futureOrderNumber": "DE--3",
                    "allowedOrigins": ["https://shop.example"],
                    "merchantReturnUrl": "https://shop.example/return?step=pay",
                },
            },
            headers=h,
        )
    ).json()
    browser = {"X-Session-Id": session["id"], "Origin": "https://shop.example"}
    full = placing(
        cart_id, ids[0], {"paymentMethodName": "redirect", "paymentProviderName": "tender"}
    )
    other_cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    foreign = placing(other_cart["id"], ids[0], {"paymentMethodName": "invoice"})
    jsonapi_error(
        await api.client.post("/checkout", json=foreign, headers=browser), 422, "CartNotFound"
    )
    missing = await api.client.post(
        "/checkout", json=document("checkout", cart_id), headers=browser
    )
    assert len(jsonapi_error(missing, 422)["errors"]) == 5

    placed = await api.client.post("/checkout?include=orders", json=full, headers=browser)
    assert placed.status_code == 201, placed.text
    data = placed.json()["data"]
    assert data["type"] == "checkout"
    assert data["attributes"]["orderReference"] == "DE--3"
    assert data["attributes"]["isExternalRedirect"] is True
    assert "/redirect-payments/" in data["attributes"]["redirectUrl"]
    order = placed.json()["included"][0]
    assert order["type"] == "orders"
    assert order["id"] == "DE--3"
    assert order["attributes"]["totals"]["grandTotal"] == 33265 + 490
    assert order["attributes"]["priceMode"] == "GROSS_MODE"
    again = await api.client.post("/checkout", json=full, headers=browser)
    jsonapi_error(again, 422, "CartNotFound")  # as the seed says, the cart is gone

    payment_id = data["attributes"]["redirectUrl"].rsplit("/", 1)[1]
    forged = order_payment("DE--3", [{"type": "payment-confirmation", "hash": "eyJ0eXAiOiJKV1Qi"}])
    # Whatever the browser posts, only the provider (here the simulator) confirms.
    jsonapi_error(  # the seed's "order payment is not updated"
        await api.client.post("/order-payments", json=forged, headers=browser),
        422,
        "PaymentAwaitingProvider",
    )
    page = await api.client.get(data["attributes"]["redirectUrl"])
    assert page.status_code == 200
    assert "337.55 EUR" in page.text
    assert "simulator" in page.text
    paid = await api.client.post(f"/redirect-payments/{payment_id}/pay")
    assert paid.status_code == 303
    location = httpx.URL(paid.headers["location"])
    assert str(location).startswith("https://shop.example/return?step=pay&")
    assert location.params["paymentIdentifier"] == "DE--3"
    assert "hash" not in location.params  # the return URL carries no confirmation
    confirm = order_payment("DE--3", [{"type": "payment-confirmation"}])
    confirmed = await api.client.post("/order-payments", json=confirm, headers=browser)
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["data"]["type"] == "order-payments"
    assert confirmed.json()["data"]["attributes"]["dataPayload"] is None
    # Acknowledging changes nothing, so saying it again answers the same.
    replayed = await api.client.post("/order-payments", json=confirm, headers=browser)
    assert replayed.status_code == 201, replayed.text
    paid_twice = await api.client.post(f"/redirect-payments/{payment_id}/pay")
    assert paid_twice.status_code == 404  # nothing left to pay
    unknown = order_payment("NOPE", [{"type": "x"}])
    jsonapi_error(await api.client.post("/order-payments", json=unknown, headers=h), 404)
    completed = await api.client.post("/orders/DE--3/complete", headers=h)
    assert completed.status_code == 200, completed.text


async def placed_by_invoice(api: Api) -> tuple[dict[str, str], dict[str, Any]]:
    """The merchant's headers, and the attributes of a Glue order paid by invoice."""
    h, cart_id, ids = await shop(api)
    full = placing(
        cart_id, ids[1], {"paymentMethodName": "invoice", "paymentProviderName": "tender"}
    )
    placed = await api.client.post("/checkout", json=full, headers=h)
    assert placed.status_code == 201, placed.text
    return h, placed.json()["data"]["attributes"]


async def test_server_confirms_invoice_by_order_reference(api: Api) -> None:
    h, placed = await placed_by_invoice(api)
    reference = placed["orderReference"]
    assert reference.startswith("TND-")
    assert placed["redirectUrl"] is None
    confirm = order_payment(reference, [{"type": "invoice-confirmation"}])
    confirmed = await api.client.post("/order-payments", json=confirm, headers=h)
    assert confirmed.status_code == 201, confirmed.text
    # Confirmed already: the seed's "order payment is not updated", not a conflict.
    again = await api.client.post("/order-payments", json=confirm, headers=h)
    jsonapi_error(again, 422)


async def test_a_session_cannot_probe_other_orders(simulator: Api) -> None:
    api = simulator
    h, cart_id, ids = await shop(api)
    full = placing(cart_id, ids[0], {"paymentMethodName": "redirect"})
    placed = await api.client.post("/checkout", json=full, headers=h)
    assert placed.status_code == 201, placed.text
    reference = placed.json()["data"]["attributes"]["orderReference"]
    payment_id = placed.json()["data"]["attributes"]["redirectUrl"].rsplit("/", 1)[1]
    other = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    session = (
        await api.client.post(
            "/sessions", json={"cart": {"cartRef": {"id": other["id"]}}}, headers=h
        )
    ).json()
    browser = {"X-Session-Id": session["id"]}
    answers = []
    for identifier in (reference, payment_id, "NO-SUCH-ORDER"):
        probe = order_payment(identifier, [{"type": "payment-confirmation"}])
        response = await api.client.post("/order-payments", json=probe, headers=browser)
        body = jsonapi_error(response, 404, "OrderNotFound")
        answers.append((response.status_code, body["errors"][0]["code"]))
    assert len(set(answers)) == 1


async def test_another_client_cannot_probe_an_order_by_its_reference(api: Api) -> None:
    """Two merchants' backends on one tender: one naming the other's order (by reference or
    by payment id) is answered exactly as for an order that does not exist."""
    h, placed = await placed_by_invoice(api)
    reference = placed["orderReference"]
    order = (await api.client.get(f"/orders/{reference}", headers=h)).json()
    invoice = next(p["id"] for p in order["payments"] if p["paymentMethod"] == "invoice")
    other = await api.headers()  # another API client with the same scopes
    answers = set()
    for identifier in (reference, invoice, "TND-AAAAAAAAAA"):
        probe = order_payment(identifier, [{"type": "invoice-confirmation"}])
        response = await api.client.post("/order-payments", json=probe, headers=other)
        body = jsonapi_error(response, 404, "OrderNotFound")
        answers.add((response.status_code, body["errors"][0]["code"], body["errors"][0]["detail"]))
    assert len(answers) == 1
    confirmed = await api.client.post(
        "/order-payments",
        json=order_payment(reference, [{"type": "invoice-confirmation"}]),
        headers=h,
    )
    assert confirmed.status_code == 201, confirmed.text


async def test_shipment_and_payment_methods_carry_the_seeds_attributes_and_types(
    api: Api,
) -> None:
    """``deliveryTime`` is an Integer in the seed (tender's is the merchant's text: a whole
    number goes out as one, anything else as null); the deprecated ``shipmentMethods`` list
    has each method's ``price`` for this cart and ``taxRate``; a selected payment method has
    the ``id`` of its included resource."""
    h = await api.headers()
    made = []
    for name, price, days in (("Standard", 490, "2"), ("Express", 990, "1-2 days")):
        body = {
            "name": name,
            "carrierName": "DHL",
            "price": {"centAmount": price, "currency": "EUR"},
            "taxRate": "19.00",
            "countries": ["DE"],
            "deliveryTime": days,
            **({"freeAbove": {"centAmount": 10_000, "currency": "EUR"}} if price == 990 else {}),
        }
        created = await api.client.post("/shipping-methods", json=body, headers=h)
        assert created.status_code == 201, created.text
        made.append(int(created.json()["id"]))
    cart = await new_cart(api, h, unit=33265, email=None)
    body = document(
        "checkout-data",
        cart["id"],
        shipment={"idShipmentMethod": made[0]},
        payments=[{"paymentMethodName": "invoice", "paymentProviderName": "tender"}],
    )
    response = await api.client.post(
        "/checkout-data?include=payment-methods,shipment-methods", json=body, headers=h
    )
    assert response.status_code == 200, response.text
    attributes = response.json()["data"]["attributes"]
    included = response.json()["included"]
    times = {
        r["attributes"]["name"]: r["attributes"]["deliveryTime"]
        for r in included
        if r["type"] == "shipment-methods"
    }
    assert times == {"Standard": 2, "Express": None}
    assert attributes["selectedShipmentMethods"][0]["deliveryTime"] == 2
    listed = {m["name"]: m for m in attributes["shipmentMethods"]}
    assert listed["Standard"]["id"] == made[0]
    assert (listed["Standard"]["price"], listed["Standard"]["taxRate"]) == (490, "19.00")
    assert listed["Express"]["price"] == 0  # free above 100.00, and the cart is 332.65
    assert listed["Express"]["deliveryTime"] is None
    (selected,) = attributes["selectedPaymentMethods"]
    invoice = next(
        r
        for r in included
        if r["type"] == "payment-methods" and r["attributes"]["paymentMethodName"] == "invoice"
    )
    assert selected["id"] == int(invoice["id"])


async def test_a_shipment_method_may_be_chosen_by_its_resource_id(api: Api) -> None:
    """The seed's request sends ``idShipmentMethod`` as a number; the included resource's
    ``id`` is a string, and sent back as it is it chooses the same method. Anything else
    that is not a number is still refused."""
    h, cart_id, ids = await shop(api)
    listed = await api.client.post(
        "/checkout-data?include=shipment-methods",
        json=document("checkout-data", cart_id),
        headers=h,
    )
    assert listed.status_code == 200, listed.text
    express = next(r for r in listed.json()["included"] if r["attributes"]["name"] == "Express")
    assert express["id"] == str(ids[1])
    chosen = await api.client.post(
        "/checkout-data",
        json=document("checkout-data", cart_id, shipment={"idShipmentMethod": express["id"]}),
        headers=h,
    )
    assert chosen.status_code == 200, chosen.text
    (selected,) = chosen.json()["data"]["attributes"]["selectedShipmentMethods"]
    assert selected["id"] == ids[1]
    for bad in ("1.5", "one", "", " 2", "9" * 40, 2.0, None):
        body = document("checkout-data", cart_id, shipment={"idShipmentMethod": bad})
        refused = await api.client.post("/checkout-data", json=body, headers=h)
        jsonapi_error(refused, 400)


async def test_a_free_shipping_method_keeps_its_default_net_price(api: Api) -> None:
    """``defaultGrossPrice`` and ``defaultNetPrice`` are the method's price before any
    free-shipping threshold, the net one without the tax the gross includes: 4.90 at 19 % is
    4.12 net, also for a method free above 0.00."""
    h = await api.headers()
    body = {
        "name": "Always free",
        "carrierName": "DHL",
        "price": {"centAmount": 490, "currency": "EUR"},
        "taxRate": "19.00",
        "countries": ["DE"],
        "freeAbove": {"centAmount": 0, "currency": "EUR"},
    }
    created = await api.client.post("/shipping-methods", json=body, headers=h)
    assert created.status_code == 201, created.text
    cart = await new_cart(api, h, unit=33265, email=None)
    chosen = document(
        "checkout-data", cart["id"], shipment={"idShipmentMethod": int(created.json()["id"])}
    )
    response = await api.client.post(
        "/checkout-data?include=shipment-methods", json=chosen, headers=h
    )
    assert response.status_code == 200, response.text
    (included,) = response.json()["included"]
    (selected,) = response.json()["data"]["attributes"]["selectedShipmentMethods"]
    for method in (included["attributes"], selected):
        assert (method["defaultGrossPrice"], method["defaultNetPrice"]) == (490, 412), method
    assert selected["price"] == 0
