"""The OpenAPI document tells the truth: every answer a journey through the main routes gets,
refusals included, has its status declared for its route, and its body validates against the
schema declared for that status. A client generated from the document parses what tender
sends. Also: who may call is declared (a route open to anyone declares no security, and
answers without credentials), and the headers every call takes are there."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest

from tender.db.engine import Database
from tests.api.conftest import Api
from tests.api.journeys import ORIGIN, card
from tests.api.operations_setup import INTENTS, action, placed_order
from tests.api.payment_setup import WITH_PROVIDER, api_with, callback_body
from tests.api.processor import open_shop


@dataclass
class Recorded:
    answers: list[httpx.Response] = field(default_factory=list)


@pytest.fixture
async def recorded(api: Api) -> AsyncIterator[Recorded]:
    seen = Recorded()

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.answers.append(response)

    api.client.event_hooks["response"].append(keep)
    yield seen
    api.client.event_hooks["response"].remove(keep)


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The operation for a real path: a literal path before one with parameters."""
    candidates = []
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method in operations:
            candidates.append((template.count("{"), operations[method]))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


async def test_every_answer_is_declared_and_validates(api: Api, recorded: Recorded) -> None:
    h = await api.headers()
    view = await api.headers("view_giftcards")
    gift = await card(api, h, 5_000)
    await api.client.get("/giftcards", headers=h)
    await api.client.get(f"/giftcards/{gift['id']}", headers=h)
    await api.client.get(f"/giftcards/{gift['id']}/activities", headers=h)
    await api.client.post("/giftcards/balance", json={"code": gift["code"]}, headers=h)
    await api.client.post(
        f"/giftcards/{gift['id']}/load",
        json={"amount": {"centAmount": 100, "currency": "EUR"}},
        headers=h,
    )
    # refusals: no credentials, a narrower token, an unknown id, a malformed body, a key reused
    await api.client.get("/giftcards")
    await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 1, "currency": "EUR"}}, headers=view
    )
    await api.client.get("/giftcards/01890a5d-ac96-774b-bcce-b302099a8057", headers=h)
    await api.client.post("/giftcards", json={"amount": "lots"}, headers=h)
    keyed = {**h, "Idempotency-Key": "k-1"}
    await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 1, "currency": "EUR"}}, headers=keyed
    )
    await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 2, "currency": "EUR"}}, headers=keyed
    )
    # checkout: an order on a gift card, captured through a payment intent
    world = await placed_order(api, h)
    await api.client.get("/orders", headers=h)
    await api.client.get(f"/orders/{world['order']['id']}", headers=h)
    await api.client.get(f"/payments/{world['payment']}", headers=h)
    await api.client.post(
        f"{INTENTS}/{world['payment']}", json=action("capturePayment", 100), headers=h
    )
    await api.client.post(
        f"{INTENTS}/{world['payment']}", json=action("capturePayment", 100), headers=h
    )
    await api.client.get(f"/carts/{world['order']['cartId']}", headers=h)
    await api.client.get("/events", headers=h)
    # the shopper's page
    shop = await open_shop(api)
    await shop.balance(gift["code"])
    await shop.balance("6012 0000 0000 0000")
    await shop.balance("")
    await api.client.post("/balance", json={"code": 5}, headers=shop.page)  # the error shape
    await shop.redeem(gift["code"], 1_000)
    await shop.config()
    await api.client.get("/session/cart", headers=shop.page)
    await api.client.get(f"/sessions/{shop.page['X-Session-Id']}", headers=shop.h)
    await api.client.post(
        "/balance", json={"code": "x"}, headers={"X-Session-Id": "nope", "Origin": ORIGIN}
    )
    await api.client.post("/oauth/token", data={"grant_type": "password"})
    await api.client.get("/health")
    await api.client.get("/.well-known/jwks.json")

    document = (await api.client.get("/openapi.json")).json()
    components = {"components": document["components"]}
    problems = []
    for answer in recorded.answers:
        request = answer.request
        if request.url.path == "/openapi.json":
            continue
        where = f"{request.method} {request.url.path} -> {answer.status_code}"
        operation = _operation(document, request.method.lower(), request.url.path)
        if operation is None:
            problems.append(f"{where}: no such operation")
            continue
        declared = operation["responses"].get(str(answer.status_code))
        if declared is None:
            problems.append(f"{where}: status not declared ({sorted(operation['responses'])})")
            continue
        schema = declared.get("content", {}).get("application/json", {}).get("schema")
        if schema and answer.headers.get("content-type", "").startswith("application/json"):
            try:
                jsonschema.validate(answer.json(), {**schema, **components})
            except jsonschema.ValidationError as error:
                problems.append(f"{where}: {error.message} at {list(error.absolute_path)}")
    assert len(recorded.answers) > 40
    assert problems == []


async def test_who_may_call_and_the_headers_are_declared(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert {"oauth2", "adminJwt", "session", "basic"} <= set(schemes)
    scopes = schemes["oauth2"]["flows"]["clientCredentials"]["scopes"]
    paths = document["paths"]
    assert paths["/giftcards"]["post"]["security"][0] == {"oauth2": ["manage_giftcards"]}
    assert paths["/balance"]["post"]["security"] == [{"session": []}]
    assert paths["/operations/status"]["get"]["security"] == [{"adminJwt": []}]
    assert paths["/health"]["get"]["security"] == []
    # Glue's callers: a guest, a customer, a session, the merchant's token or an admin's JWT.
    assert {"oauth2": ["manage_orders"]} in paths["/checkout"]["post"]["security"]
    assert {"adminJwt": []} in paths["/checkout"]["post"]["security"]
    token_form = paths["/oauth/token"]["post"]["requestBody"]["content"]
    assert "grant_type" in token_form["application/x-www-form-urlencoded"]["schema"]["required"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            for requirement in operation["security"]:
                for scheme, needed in requirement.items():
                    assert scheme in schemes, (path, method)
                    assert set(needed) <= set(scopes), (path, method)
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "X-Correlation-ID" in names
            if method == "post":
                assert "Idempotency-Key" in names, path
            if not operation["security"] and path.startswith(("/health", "/.well-known")):
                answer = await api.client.request(method.upper(), path)
                assert answer.status_code < 400, (path, answer.text)
    assert "HTTPValidationError" not in str(document)


async def test_placing_declares_the_redirect_page_and_the_order_does_not(api: Api) -> None:
    """A client generated from the document finds the page in the answer to placing only."""
    document = (await api.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def answer(path: str, method: str, status: str) -> dict[str, Any]:
        content = document["paths"][path][method]["responses"][status]["content"]
        ref: str = content["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]

    placed = answer("/orders", "post", "201")
    assert "redirectUrl" in placed["required"]
    page = placed["properties"]["redirectUrl"]
    assert {kind.get("type") for kind in page["anyOf"]} == {"string", "null"}
    assert "provider" in page["description"]
    assert "redirectUrl" not in answer("/orders/{order_id}", "get", "200")["properties"]


async def test_the_provider_callback_declares_its_signed_body(db: Database) -> None:
    """The callback reads its body itself, after the signature: the document still says what
    the provider sends, and the headers that sign it."""
    async with api_with(db, **WITH_PROVIDER) as api:
        document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"]["/redirect-payments/{payment_id}/callback"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p.get("required")}
    assert {"X-Tender-Timestamp", "X-Tender-Signature"} <= headers
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    in_document = {**schema, "components": document["components"]}
    jsonschema.validate(callback_body("0198a0a0-0000-7000-8000-000000000000", 100), in_document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"paymentId": "x", "status": "paid"}, in_document)


async def test_schemas_are_named_without_tenders_modules(api: Api) -> None:
    """Two models of one name were published under their module paths
    (``tender__api__…__BalanceStatus``): internals a client generator turned into class names."""
    document = (await api.client.get("/openapi.json")).json()
    assert [name for name in document["components"]["schemas"] if "__" in name] == []
