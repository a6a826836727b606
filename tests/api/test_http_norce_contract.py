"""The Norce/Awardit routes as the seed documents them, and as tender's OpenAPI document
describes them: a client generated from that document must see the seed's fields, with the
seed's JSON types, and parse what tender sends."""

from __future__ import annotations

from typing import Any

import jsonschema

from tests.api.conftest import Api
from tests.api.journeys import card, ready_cart


def _answer_schema(document: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    content = document["paths"][path]["post"]["responses"][status]["content"]
    schema: dict[str, Any] = content["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


async def test_the_openapi_document_describes_the_seeds_payment_answer(api: Api) -> None:
    """The seed: "The adapter will return the amount that would be covered by the gift card as
    well as an upperLimitAmount informing you of the card balance.
    { "cardId": "3141592653589793", "code": "23846", "amount": 149.5, "upperLimitAmount": 1000 }"

    Both routes answered with an empty schema, so a client generated from tender's OpenAPI
    document knew none of these fields, nor that the amounts are numbers, not strings."""
    h = await api.headers()
    document = (await api.client.get("/openapi.json")).json()
    cart = await ready_cart(api, h, unit=14950, quantity=1)
    gift = await card(api, h, 100_000, pin="23846")
    path = f"/api/checkout/v1/orders/{cart['id']}/payments"
    added = await api.client.post(path, json={"cardId": gift["code"], "code": "23846"}, headers=h)
    assert added.status_code == 201, added.text
    removed = await api.client.post(f"{path}/{added.json()['id']}/remove", headers=h)
    assert removed.status_code == 200, removed.text

    for template, status, answer in (
        ("/api/checkout/v1/orders/{order_id}/payments", "201", added),
        ("/api/checkout/v1/orders/{order_id}/payments/{payment_id}/remove", "200", removed),
    ):
        schema = _answer_schema(document, template, status)
        properties = schema.get("properties", {})
        assert {"cardId", "code", "amount", "upperLimitAmount"} <= set(properties), template
        assert properties["amount"]["type"] == "number"
        assert properties["upperLimitAmount"]["type"] == "number"
        assert properties["cardId"]["type"] == "string"
        jsonschema.validate(answer.json(), {**schema, "components": document["components"]})
