"""Every error of the Glue routes is a JSON:API error document as well as tender's own shape:
``status`` (a string), ``detail``, ``source`` for a field, ``application/vnd.api+json``,
whoever answers it (the route, an exception handler, or middleware before the route runs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from tender.api.app import create_app
from tender.api.compat.spryker.errors import GlueErrors
from tender.api.compat.spryker.jsonapi import incorrect_data
from tender.api.compat.spryker.shoppers import GLUE_MAX_BODY
from tender.auth.sealing import Sealer
from tender.db.engine import Database
from tender.db.idempotency_store import advisory_key
from tender.domain.errors import RateLimited
from tests.api.conftest import Api
from tests.api.journeys import (
    ORIGIN,
    browser,
    checkout_document,
    new_cart,
    order_payment,
    shipping_method,
)
from tests.api.payment_setup import api_with
from tests.helpers import GLUE_ADDRESS

JSONAPI = "application/vnd.api+json"
ROUTES = ("/checkout-data", "/checkout", "/order-payments")
LIMIT = 4000


@pytest.fixture
async def small(db: Database) -> AsyncIterator[Api]:
    """An app whose body limit is small enough to exceed cheaply."""
    async with api_with(db, max_body_bytes=LIMIT) as api:
        yield api


def glue_error(response: httpx.Response, status: int, *codes: str) -> list[dict[str, Any]]:
    """The error document: tender's shape and JSON:API's members on every error; ``codes``
    are the errors' codes, in order."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSONAPI
    assert response.headers["content-language"] in ("en", "de")
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["message"], str)
    assert body["message"]
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    for error in errors:
        assert error["status"] == str(status)
        assert isinstance(error["detail"], str)
        assert error["detail"]
        assert error["detail"] == error["message"]
        assert error["code"]
        if "field" in error:
            assert len(error["source"]) == 1
            (kind,) = error["source"]
            assert kind in ("pointer", "parameter", "header")
            if kind == "pointer":
                assert error["source"]["pointer"].startswith("/data/")
            else:
                assert error["source"][kind] == error["field"]
        else:
            assert "source" not in error
    if codes:
        assert [e["code"] for e in errors] == list(codes), errors
    return errors


def document_for(route: str, cart_id: str, shipping: int) -> dict[str, Any]:
    if route == "/order-payments":
        return order_payment("NO-SUCH-ORDER", [{"type": "invoice-confirmation"}])
    kind = route.removeprefix("/")
    return checkout_document(kind, cart_id, shipping, "invoice")


async def shop(api: Api) -> tuple[dict[str, str], str, int]:
    h = await api.headers()
    shipping = await shipping_method(api, h)
    cart = await new_cart(api, h, unit=1010)
    return h, cart["id"], shipping


async def test_malformed_unauthenticated_and_unknown_method(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    narrow = await api.headers("view_giftcards")
    for route in ROUTES:
        body = document_for(route, cart_id, shipping)
        malformed = await api.client.post(
            route, content=b'{"data": ', headers={**h, "Content-Type": "application/json"}
        )
        glue_error(malformed, 400, "InvalidJsonInput")
        missing = await api.client.post(route, json={"data": {"attributes": {}}}, headers=h)
        errors = glue_error(missing, 400)
        assert {"source": {"pointer": "/data/type"}}.items() <= errors[0].items()
        glue_error(await api.client.post(route, json=body), 400, "MissingCredentials")
        bad = {"Authorization": "Bearer not-a-token"}
        refused = await api.client.post(route, json=body, headers=bad)
        glue_error(refused, 401, "invalid_token")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        glue_error(await api.client.post(route, json=body, headers=narrow), 403)
        glue_error(await api.client.get(route, headers=h), 405, "MethodNotAllowed")


async def test_middleware_answers_are_glue_documents(small: Api) -> None:
    """The body limit, a malformed Idempotency-Key and a refused preflight are answered before
    any route runs, and still in Glue's dialect."""
    api = small
    h, cart_id, shipping = await shop(api)
    for route in ROUTES:
        body = document_for(route, cart_id, shipping)
        huge = {**body, "padding": "x" * LIMIT}
        too_large = await api.client.post(route, json=huge, headers=h)
        glue_error(too_large, 413, "PayloadTooLarge")
        assert str(LIMIT) in too_large.json()["errors"][0]["detail"]
        streamed = await api.client.post(
            route, content=_chunks(huge), headers={**h, "Content-Type": "application/json"}
        )
        glue_error(streamed, 413, "PayloadTooLarge")  # no Content-Length: found while reading
        key = await api.client.post(route, json=body, headers={**h, "Idempotency-Key": "k" * 300})
        (error,) = glue_error(key, 400, "InvalidIdempotencyKey")
        assert error["source"] == {"header": "Idempotency-Key"}
        preflight = await api.client.options(
            route,
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Accept-Language": "de",
            },
        )
        (error,) = glue_error(preflight, 401, "OriginNotAllowed")
        assert preflight.headers["content-language"] == "de"
        assert error["detail"] == "Dieser Ursprung ist nicht erlaubt."
    # tender's own routes keep the plain shape
    own = await api.client.post("/orders", json={"padding": "x" * LIMIT}, headers=h)
    assert own.status_code == 413
    assert own.headers["content-type"] == "application/json"
    assert "status" not in own.json()["errors"][0]


async def test_a_glue_document_is_refused_past_its_own_smaller_limit(api: Api) -> None:
    """Glue's callers are known only once the body is parsed: a body of more than a document
    could be is refused unread, well below the service's limit for its other routes."""
    h, cart_id, shipping = await shop(api)
    for route in ROUTES:
        huge = {**document_for(route, cart_id, shipping), "padding": "x" * GLUE_MAX_BODY}
        too_large = await api.client.post(route, json=huge)  # no caller at all
        glue_error(too_large, 413, "PayloadTooLarge")
        assert str(GLUE_MAX_BODY) in too_large.json()["errors"][0]["detail"]
    own = await api.client.post("/orders", json={"padding": "x" * GLUE_MAX_BODY}, headers=h)
    assert own.status_code != 413, own.text
    # Mounted under a prefix by a proxy, the same routes keep their limit and their dialect.
    transport = httpx.ASGITransport(app=create_app(runtime=api.runtime), root_path="/shop")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as mounted:
        huge = {**document_for("/checkout-data", cart_id, shipping), "padding": "x" * LIMIT * 20}
        prefixed = await mounted.post("/shop/checkout-data", json=huge)
        glue_error(prefixed, 413, "PayloadTooLarge")


async def _chunks(body: dict[str, Any]) -> AsyncIterator[bytes]:
    raw = json.dumps(body).encode()
    for start in range(0, len(raw), 1000):
        yield raw[start : start + 1000]


async def test_refused_origin_and_foreign_cart(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    page = await browser(api, h, cart_id)
    elsewhere = {**page, "Origin": "https://evil.example"}
    for route in ROUTES:
        body = document_for(route, cart_id, shipping)
        glue_error(await api.client.post(route, json=body, headers=elsewhere), 401)
    other = await new_cart(api, h)
    foreign = checkout_document("checkout-data", other["id"], shipping)
    (error,) = glue_error(
        await api.client.post("/checkout-data", json=foreign, headers=page), 422, "CartNotFound"
    )
    assert error["source"] == {"pointer": "/data/attributes/idCart"}
    assert page["Origin"] == ORIGIN


async def test_idempotency_refusals(api: Api, db: Database) -> None:
    h, cart_id, shipping = await shop(api)
    keyed = {**h, "Idempotency-Key": "glue-1"}
    body = checkout_document("checkout-data", cart_id, shipping)
    first = await api.client.post("/checkout-data", json=body, headers=keyed)
    assert first.status_code == 200, first.text
    changed = checkout_document("checkout-data", cart_id, shipping, "invoice")
    reused = await api.client.post("/checkout-data", json=changed, headers=keyed)
    (error,) = glue_error(reused, 422, "IdempotencyKeyReused")
    assert error["source"] == {"header": "Idempotency-Key"}
    if db.url.startswith("postgresql"):
        # Another worker holds the key (SQLite has none: its one writer queues the request).
        await _while_key_held(api, db)


async def _while_key_held(api: Api, db: Database) -> None:
    h, cart_id, shipping = await shop(api)
    page = await browser(api, h, cart_id)
    runtime = api.runtime
    caller = "session:" + runtime.hasher.secret(page["X-Session-Id"]).hex()
    sealer = Sealer(runtime.settings.secret_bytes())
    scope = sealer.lookup_hash(caller.encode(), b"POST", b"/checkout?", b"busy")
    body = checkout_document("checkout", cart_id, shipping, "invoice")

    async def hold(conn: Any) -> httpx.Response:
        taken = await conn.scalar(select(func.pg_try_advisory_xact_lock(advisory_key(scope))))
        assert taken
        headers = {**page, "Idempotency-Key": "busy", "Accept-Language": "de"}
        return await api.client.post("/checkout", json=body, headers=headers)

    busy = await runtime.db.transaction(hold)
    (error,) = glue_error(busy, 409, "IdempotencyKeyInUse")
    assert error["detail"] == "Eine Anfrage mit diesem Idempotency-Key läuft noch."


@pytest.mark.parametrize("country", ["Narnia", "XX"])  # no code at all; a code of none
async def test_a_422_names_every_field_in_order(api: Api, country: str) -> None:
    """An unknown country and the shipping method it breaks, the country first; every other
    problem too, and nothing is stored."""
    h, cart_id, shipping = await shop(api)
    attributes = {
        "idCart": cart_id,
        "customer": {"email": "not-an-email"},
        "shippingAddress": {**GLUE_ADDRESS, "iso2Code": country},
        "payments": [{"paymentMethodName": "bitcoin"}],
        "shipment": {"idShipmentMethod": shipping},
    }
    document = {"data": {"type": "checkout-data", "attributes": attributes}}
    response = await api.client.post("/checkout-data", json=document, headers=h)
    errors = glue_error(
        response,
        422,
        "InvalidInput",
        "InvalidInput",
        "PaymentMethodNotAllowed",
        "ShippingMethodNotApplicable",
    )
    assert [e["source"]["pointer"] for e in errors] == [
        "/data/attributes/customer/email",
        "/data/attributes/shippingAddress/iso2Code",
        "/data/attributes/payments",
        "/data/attributes/shipment/idShipmentMethod",
    ]
    assert [e["field"] for e in errors] == [
        "customer.email",
        "shippingAddress.iso2Code",
        "payments",
        "shipment.idShipmentMethod",
    ]
    assert country in errors[3]["detail"]
    cart = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
    assert cart["version"] == 1
    assert cart["shippingAddress"] is None


async def test_a_missing_address_part_is_named_as_glue_names_it(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    document = checkout_document("checkout", cart_id, shipping, "invoice")
    del document["data"]["attributes"]["customer"]
    document["data"]["attributes"]["billingAddress"] = {
        **document["data"]["attributes"]["billingAddress"],
        "zipCode": " ",
    }
    del document["data"]["attributes"]["shipment"]
    errors = glue_error(await api.client.post("/checkout", json=document, headers=h), 422)
    assert [(e["detail"], e["source"]["pointer"]) for e in errors] == [
        ("customer is required", "/data/attributes/customer"),
        ("zipCode is required", "/data/attributes/billingAddress/zipCode"),
        ("shipment is required", "/data/attributes/shipment"),
    ]


async def test_unknown_include_and_sort_are_400_and_change_nothing(api: Api) -> None:
    h, cart_id, shipping = await shop(api)
    body = checkout_document("checkout-data", cart_id, shipping, "invoice")
    both = await api.client.post(
        "/checkout-data?include=payment-methods,carts&sort=-shipment-methods.colour",
        json=body,
        headers=h,
    )
    errors = glue_error(both, 400, "UnsupportedParameter", "UnsupportedParameter")
    assert [e["source"] for e in errors] == [{"parameter": "include"}, {"parameter": "sort"}]
    assert "carts" in errors[0]["detail"]
    assert "payment-methods" not in errors[0]["detail"].split(";")[0]
    assert "shipment-methods.colour" in errors[1]["detail"]
    cart = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
    assert cart["version"] == 1  # nothing was stored
    unprefixed = await api.client.post("/checkout-data?sort=carrierName", json=body, headers=h)
    glue_error(unprefixed, 400, "UnsupportedParameter")
    fine = await api.client.post(
        "/checkout-data?include=shipment-methods&sort=-shipment-methods.defaultGrossPrice",
        json=body,
        headers=h,
    )
    assert fine.status_code == 200, fine.text
    placing = checkout_document("checkout", cart_id, shipping, "invoice")
    for query in ("include=payment-methods", "sort=orders.createdAt"):
        refused = await api.client.post(f"/checkout?{query}", json=placing, headers=h)
        glue_error(refused, 400, "UnsupportedParameter")
    assert (await api.client.get(f"/carts/{cart_id}", headers=h)).json()["version"] == 2
    payment = order_payment("NO-SUCH-ORDER", [{"type": "invoice-confirmation"}])
    refused = await api.client.post("/order-payments?include=orders", json=payment, headers=h)
    glue_error(refused, 400, "UnsupportedParameter")


def test_a_spent_budget_stays_429_on_the_glue_routes() -> None:
    """A refusal raised inside a Glue route keeps its status and ``Retry-After`` (no Glue
    route looks up a card today; this is the answer when one does)."""
    app = SimpleNamespace(state=SimpleNamespace(error_flavours=(GlueErrors(),)))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/checkout",
        "headers": [(b"accept-language", b"de")],
        "app": app,
    }
    response = incorrect_data(Request(scope), RateLimited(retry_after=30))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"] == JSONAPI
    (error,) = json.loads(response.body)["errors"]
    assert error["status"] == "429"
    assert error["detail"] == "versuchen Sie es in 30 Sekunden erneut"
