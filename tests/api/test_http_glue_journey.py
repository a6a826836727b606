"""A Glue client's whole checkout over HTTP, for each kind of caller (``glue_callers``):
``/checkout-data`` with gift card codes (one with a PIN) in ``payments`` → ``/checkout?include=
orders`` → ``/order-payments``; the seed's documents checked field by field against its
samples, and every ``links.self`` answered by a route."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.glue_callers import GLUE_CALLERS, GlueCaller
from tests.api.glue_samples import differences, from_seed, sample
from tests.api.journeys import card, held, new_cart, order_payment, shipping_method
from tests.helpers import GLUE_GERMANY, SEED_GLUE_ADDRESS

PIN = "4711"
ADDRESS = SEED_GLUE_ADDRESS
UNIT, QUANTITY, SHIPPING = 33265, 2, 490
GRAND_TOTAL = UNIT * QUANTITY + SHIPPING


@pytest.fixture(params=sorted(GLUE_CALLERS))
def glue_caller(request: pytest.FixtureRequest) -> GlueCaller:
    return GLUE_CALLERS[request.param]


def test_the_fixtures_are_the_seeds_samples() -> None:
    order, address = (
        sample("glue_order_sample.json"),
        sample("glue_checkout_data_address_sample.json"),
    )
    assert len(order["attributes"]["items"]) == 2
    assert address["country"]["iso2_code"] == "DE"
    seed = from_seed()
    if seed is not None:  # the seed lies beside the repository in development and CI
        assert seed == {
            "glue_order_sample.json": order,
            "glue_checkout_data_address_sample.json": address,
        }


def document(kind: str, cart_id: str, shipment: int, codes: list[dict[str, str]]) -> Any:
    payments: list[dict[str, Any]] = [
        {"paymentMethodName": "giftcard", "paymentProviderName": "tender", "giftCard": code}
        for code in codes
    ]
    payments.append({"paymentMethodName": "invoice", "paymentProviderName": "DummyPayment"})
    return {
        "data": {
            "type": kind,
            "attributes": {
                "idCart": cart_id,
                "customer": {"salutation": "Mr", "email": "spencor@example.com"},
                "billingAddress": ADDRESS,
                "shippingAddress": {**ADDRESS, "isDefaultShipping": False},
                "shipment": {"idShipmentMethod": shipment},
                "payments": payments,
            },
        }
    }


async def linked(api: Api, h: dict[str, str], resource: dict[str, Any]) -> dict[str, Any]:
    """What the resource's ``links.self`` answers the merchant's backend."""
    url = httpx.URL(resource["links"]["self"])
    response = await api.client.get(url.path, headers=h)
    assert response.status_code == 200, (url, response.text)
    return response.json()  # type: ignore[no-any-return]


def check_checkout_data(attributes: dict[str, Any], included: list[dict[str, Any]]) -> None:
    assert len(attributes["addresses"]) == 2  # the shipping and the billing address
    for address in attributes["addresses"]:
        address.pop("email")  # tender also answers the address's email
        assert differences(address, sample("glue_checkout_data_address_sample.json")) == []
        assert address["country"] == GLUE_GERMANY
    covered = [(c["amount"], c["upperLimitAmount"]) for c in attributes["giftCards"]]
    assert covered == [(20_000, 20_000), (5000, 5000)]
    assert attributes["totals"]["priceToPay"] == GRAND_TOTAL - 25_000
    names = {m["paymentMethodName"] for m in attributes["selectedPaymentMethods"]}
    assert names == {"giftcard", "invoice"}
    assert {r["type"] for r in included} == {"payment-methods", "shipment-methods"}
    assert all("links" not in r for r in included)  # no route answers one method


def check_order(order: dict[str, Any], tender_order: dict[str, Any]) -> None:
    """The whole of the seed's order: names and types, and values from tender's order."""
    assert differences(order, sample("glue_order_sample.json")) == []
    a = order["attributes"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", a["createdAt"])
    totals = tender_order["snapshot"]["totals"]
    assert a["totals"] == {
        "expenseTotal": SHIPPING,
        "discountTotal": 0,
        "taxTotal": totals["tax"],
        "subtotal": UNIT * QUANTITY,
        "grandTotal": GRAND_TOTAL,
        "canceledTotal": 0,
    }
    assert [i["quantity"] for i in a["items"]] == [1] * QUANTITY
    for item in a["items"]:
        assert item["sumPrice"] == item["unitGrossPrice"] == UNIT
        assert item["unitNetPrice"] + item["unitTaxAmountFullAggregation"] == UNIT
        assert item["taxRate"] == item["taxRateAverageAggregation"] == "19.00"
    (expense,) = a["expenses"]
    assert (expense["name"], expense["sumGrossPrice"]) == ("Standard", SHIPPING)
    assert expense["sumNetPrice"] + expense["sumTaxAmount"] == SHIPPING
    item_tax = sum(i["sumTaxAmountFullAggregation"] for i in a["items"])
    assert item_tax + expense["sumTaxAmount"] == totals["tax"]
    assert sum(i["sumNetPrice"] for i in a["items"]) + expense["sumNetPrice"] == totals["net"]
    for kind in ("billingAddress", "shippingAddress"):
        assert (a[kind]["country"], a[kind]["iso2Code"], a[kind]["zipCode"]) == (
            "Germany",
            "DE",
            "61000",
        )
    paid = sorted((p["paymentMethod"], p["amount"]) for p in a["payments"])
    assert paid == [("giftcard", 5000), ("giftcard", 20_000), ("invoice", GRAND_TOTAL - 25_000)]


async def test_a_glue_client_pays_with_gift_cards(api: Api, glue_caller: GlueCaller) -> None:
    h = await api.headers()
    method = await shipping_method(api, h, name="Standard", carrier="Spryker Dummy Shipment")
    cart = await new_cart(
        api,
        h,
        unit=UNIT,
        quantity=QUANTITY,
        sku="136_24425591",
        name="Acer Chromebook C730",
        shopper=glue_caller.shopper,
    )
    with_pin = await card(api, h, 20_000, pin=PIN)
    plain = await card(api, h, 5000)
    codes = [{"code": with_pin["code"], "pin": PIN}, {"code": plain["code"]}]
    caller = await glue_caller.headers_for(api, h, cart["id"])

    body = document("checkout-data", cart["id"], method, codes)
    for _ in range(2):  # sent twice: the same two cards, not four
        response = await api.client.post(
            "/checkout-data?include=payment-methods,shipment-methods", json=body, headers=caller
        )
        assert response.status_code == 200, response.text
        check_checkout_data(response.json()["data"]["attributes"], response.json()["included"])

    placed = await api.client.post(
        "/checkout?include=orders",
        json=document("checkout", cart["id"], method, codes),
        headers=caller,
    )
    assert placed.status_code == 201, placed.text
    data = placed.json()["data"]
    reference = data["attributes"]["orderReference"]
    assert data["relationships"] == {"orders": {"data": [{"type": "orders", "id": reference}]}}
    (order,) = placed.json()["included"]
    tender_order = await linked(api, h, order)
    assert tender_order["orderReference"] == reference
    check_order(order, tender_order)
    assert await held(api, h, with_pin["id"]) == (20_000, 20_000)
    assert await held(api, h, plain["id"]) == (5000, 5000)

    confirming = caller if glue_caller.confirms_invoices else h
    confirmed = await api.client.post(
        "/order-payments",
        json=order_payment(reference, [{"type": "invoice-confirmation"}]),
        headers=confirming,
    )
    assert confirmed.status_code == 201, confirmed.text
    resource = confirmed.json()["data"]
    assert resource["type"] == "order-payments"
    assert resource["attributes"] == {"paymentIdentifier": reference, "dataPayload": None}
    payment = await linked(api, h, resource)
    assert payment["paymentMethod"] == "invoice"
    assert payment["amountPlanned"]["centAmount"] == GRAND_TOTAL - 25_000
    assert confirmed.json()["links"] == resource["links"]
