"""Contract tests written from the text of the Spryker Glue checkout seed: each quotes the line
it holds tender to, so a Glue client written against that document works unchanged."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.journeys import browser
from tests.api.test_http_spryker import document, shop


async def test_the_deprecated_payment_providers_list_names_every_usable_method(api: Api) -> None:
    """The seed: "paymentProviders An array of payment providers that can be used for the
    checkout [...] The following information is available for each payment provider:
    paymentProviderName - specifies the provider name; paymentMethods - specifies an array of
    payment methods. Each method exposes the following fields: paymentMethodName [...]
    requiredRequestData". Deprecated, like ``shipmentMethods``, which tender fills: a client
    still reading it must find the methods the included ``payment-methods`` name (and only
    those a session allows), not an empty list."""
    h, cart_id, _ids = await shop(api)
    for headers in (h, await browser(api, h, cart_id, allowedPaymentMethods=["invoice"])):
        response = await api.client.post(
            "/checkout-data?include=payment-methods",
            json=document("checkout-data", cart_id),
            headers=headers,
        )
        assert response.status_code == 200, response.text
        included = [
            r["attributes"] for r in response.json()["included"] if r["type"] == "payment-methods"
        ]
        providers = response.json()["data"]["attributes"]["paymentProviders"]
        assert providers, "a usable method is missing from paymentProviders"
        for provider in providers:
            assert set(provider) == {"paymentProviderName", "paymentMethods"}
            for method in provider["paymentMethods"]:
                assert set(method) == {"paymentMethodName", "requiredRequestData"}
        listed = [
            (p["paymentProviderName"], m["paymentMethodName"], m["requiredRequestData"])
            for p in providers
            for m in p["paymentMethods"]
        ]
        assert listed == [
            (m["paymentProviderName"], m["paymentMethodName"], m["requiredRequestData"])
            for m in included
        ]
        assert len({p["paymentProviderName"] for p in providers}) == len(providers)


async def test_a_payment_method_has_one_id_whoever_asks(api: Api) -> None:
    """JSON:API: "The values of the id and type members MUST be strings" that identify a
    resource; the seed's methods keep theirs ("id": "1" Invoice, "id": "2" Credit Card). A
    session that allows fewer methods sees fewer, under the same ids."""
    h, cart_id, _ids = await shop(api)
    body = document("checkout-data", cart_id)
    body["data"]["attributes"]["payments"] = [{"paymentMethodName": "invoice"}]
    seen = []
    for headers in (h, await browser(api, h, cart_id, allowedPaymentMethods=["invoice"])):
        response = await api.client.post(
            "/checkout-data?include=payment-methods", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        included = {
            r["attributes"]["paymentMethodName"]: r["id"]
            for r in response.json()["included"]
            if r["type"] == "payment-methods"
        }
        selected = response.json()["data"]["attributes"]["selectedPaymentMethods"]
        assert [str(m["id"]) for m in selected] == [included["invoice"]]
        seen.append(included)
    backend, page = seen
    assert set(page) == {"invoice"}
    assert page["invoice"] == backend["invoice"]
