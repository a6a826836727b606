"""What every answer carries whatever the route: a page of an allowed origin can read every
refusal (a 413 and a 500 included, which middleware outside CORS used to send without its
headers, so the browser made them opaque network errors); nothing is cached unless its route
says so; ``HEAD`` works wherever ``GET`` does; a 405 names every method of the path; a 503
says when to come back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tender.api.app import create_app
from tests.api.conftest import Api, assert_error, issue
from tests.api.processor import open_shop
from tests.api.test_http_edges import MIB, chunks

JSON = {"content-type": "application/json"}


def readable_by(response: httpx.Response, origin: str) -> None:
    assert response.headers.get("access-control-allow-origin") == origin, response.headers
    assert "Origin" in response.headers.get("vary", ""), response.headers
    exposed = response.headers["access-control-expose-headers"]
    assert "Retry-After" in exposed
    assert "X-Correlation-ID" in exposed
    assert response.headers["x-correlation-id"]


async def test_a_page_reads_the_body_limits_refusal(api: Api) -> None:
    shop = await open_shop(api)
    origin = shop.page["Origin"]
    big = b'{"code": "' + b"A" * MIB + b'"}'
    for content in (big, chunks(MIB + 1)):
        response = await api.client.post("/balance", content=content, headers={**shop.page, **JSON})
        assert_error(response, 413, "PayloadTooLarge")
        readable_by(response, origin)


async def test_a_page_reads_an_unexpected_error(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await open_shop(api)
    gift = await issue(api, shop.h)

    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.runtime.ledger, "authenticate", broken)
    transport = httpx.ASGITransport(app=create_app(runtime=api.runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/balance", json={"code": gift["code"]}, headers=shop.page)
    assert_error(response, 500, "GeneralError")
    readable_by(response, shop.page["Origin"])
    assert "a bug" not in response.text


async def test_no_answer_is_kept_by_a_cache_unless_its_route_says_so(api: Api) -> None:
    shop = await open_shop(api)
    created = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 500, "currency": "EUR"}}, headers=shop.h
    )
    assert created.status_code == 201, created.text
    answers = [
        created,  # the code, in full
        await shop.balance(created.json()["code"]),
        await api.client.get(f"/sessions/{shop.page['X-Session-Id']}", headers=shop.h),
        await api.client.get("/session/cart", headers=shop.page),
        await api.client.get("/nowhere", headers=shop.h),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", (answer.request.url, answer.text)
    for public in ("/enabler/connector-enabler.es.js", "/.well-known/jwks.json"):
        kept = await api.client.get(public)
        assert kept.status_code == 200
        assert kept.headers["cache-control"].startswith("public"), kept.headers


async def test_head_is_answered_wherever_get_is(api: Api) -> None:
    h = await api.headers()
    gift = await issue(api, h)
    for path, headers in (("/health", {}), (f"/giftcards/{gift['id']}", h)):
        got = await api.client.get(path, headers=headers)
        head = await api.client.head(path, headers=headers)
        assert head.status_code == got.status_code == 200, head.text
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
    refused = await api.client.head(f"/giftcards/{gift['id']}")
    assert refused.status_code == 401
    assert refused.content == b""
    not_a_read = await api.client.head("/oauth/token")
    assert not_a_read.status_code == 405
    assert not_a_read.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/orders", "GET, HEAD, POST"),
        ("/giftcards", "GET, HEAD, POST"),
        ("/shipping-methods", "GET, HEAD, POST"),
        ("/carts/01890a5d-ac96-774b-bcce-b302099a8057", "GET, HEAD, POST"),
        ("/health", "GET, HEAD"),
    ],
)
async def test_a_405_names_every_method_of_the_path(api: Api, path: str, allowed: str) -> None:
    h = await api.headers()
    response = await api.client.request("PATCH", path, headers=h)
    assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"] == allowed


async def test_readiness_refused_says_when_to_ask_again(api: Api, tmp_path: Any) -> None:
    from tests.api.test_http_edges import _ready

    settings = api.runtime.settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    )
    from tender.runtime import Runtime

    empty = Runtime(settings)
    try:
        response = await _ready(empty)
    finally:
        await empty.close()
    assert_error(response, 503, "MigrationsPending")
    assert response.headers["retry-after"] == "2"
