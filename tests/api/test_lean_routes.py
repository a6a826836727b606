"""The processor's balance and redeem take the lean path past FastAPI's request handler, and
answer every request, well-formed or not, exactly as FastAPI's handler does."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from tender.api import app as app_module
from tender.api import routing
from tender.api.app import create_app
from tender.api.compat.commercetools import processor
from tests.api.conftest import Api
from tests.api.journeys import card
from tests.api.processor import open_shop


async def test_the_processors_busy_routes_have_the_lean_form(api: Api) -> None:
    """On the application itself (``include_flat``), with its dependencies: if ``create_app``
    gains one, the lean path steps aside rather than skip it."""
    app = create_app(runtime=api.runtime)
    assert tuple(d.dependency for d in app.router.dependencies) == routing.APP_DEPENDENCIES
    routes = {r.path: r for r in app.router.routes if isinstance(r, routing.LeanJsonRoute)}
    for path, endpoint in (("/balance", processor.balance), ("/redeem", processor.redeem)):
        form = routing._lean_form(routes[path].dependant, routes[path].dependencies)
        assert form is not None, path
        assert form[0] is endpoint
    # GET /operations/config has no body: FastAPI's handler serves it.
    config = routes["/operations/config"]
    assert routing._lean_form(config.dependant, config.dependencies) is None
    # The router's own routes, included the usual way, would not see the app's dependency.
    for route in processor.router.routes:
        assert isinstance(route, APIRoute)
        assert routing._lean_form(route.dependant, route.dependencies) is None


async def test_routes_included_flat_are_documented_as_included_ones(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = create_app(runtime=api.runtime).openapi()
    monkeypatch.setattr(app_module, "include_flat", lambda app, router: app.include_router(router))
    theirs = create_app(runtime=api.runtime).openapi()
    assert ours["components"] == theirs["components"]
    assert ours["paths"] == theirs["paths"]
    assert {"/balance", "/redeem", "/operations/config"} <= set(ours["paths"])


def test_only_plain_routers_are_included_flat() -> None:
    app = FastAPI()
    with pytest.raises(ValueError, match="prefix"):
        routing.include_flat(app, APIRouter(prefix="/shop"))


BODIES: list[tuple[str, Any, str]] = [
    ("/balance", b"", "application/json"),
    ("/balance", b"{", "application/json"),
    ("/balance", b"[]", "application/json"),
    ("/balance", b'"code"', "application/json"),
    ("/balance", b"{}", "application/json"),
    ("/balance", b'{"code": 12}', "application/json"),
    ("/balance", b'{"code": "x\\u0000y"}', "application/json"),
    ("/balance", b'{"code": "\\ud800"}', "application/json"),
    ("/balance", b'{"code": "ABCD-EFGH", "note": "x\\u0000"}', "application/json"),
    ("/balance", b'{"code": "ABCD-EFGH", "n": [NaN]}', "application/json"),
    ("/balance", b'{"code": "ABCD-EFGH", "code": 5}', "application/json"),
    ("/balance", b'{"code": "\xff\xfe"}', "application/json"),
    ("/balance", '{"code": "NO-SUCH-CARD"}'.encode("utf-16"), "application/json"),
    ("/balance", b'\xef\xbb\xbf{"code": "NO-SUCH-CARD"}', "application/json"),
    (
        "/balance",
        b'{"code": "ABCD-EFGH", "n": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "application/json",
    ),
    ("/balance", b'{"code": "ABCD-EFGH"}', "text/plain"),
    ("/balance", b'{"code": "ABCD-EFGH"}', ""),
    ("/balance", b'{"code": "ABCD-EFGH"}', "application/merge-patch+json"),
    ("/balance", b'{"code": "ABCD-EFGH", "pin": 7}', "application/json"),
    ("/balance", b'{"code": "NO-SUCH-CARD"}', "application/json; charset=utf-8"),
    ("/redeem", b'{"code": "NO-SUCH-CARD"}', "application/json"),
    *(
        ("/redeem", b'{"code": "X", "redeemAmount": %s}' % amount, "application/json")
        for amount in (
            b'{"centAmount": 1.5, "currencyCode": "EUR"}',
            b'{"centAmount": "100", "currencyCode": 1}',
            b'{"centAmount": 100}',
            b'{"centAmount": 100, "currencyCode": "USD"}',
            b'{"centAmount": -5, "currencyCode": "EUR"}',
            b'{"centAmount": 1e400, "currencyCode": "EUR"}',
            b'{"centAmount": NaN, "currencyCode": "EUR"}',
            b'{"centAmount": 100, "currencyCode": "EUR"}',
        )
    ),
]


def answer(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


async def test_every_answer_is_fastapis(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same requests, to the app and to one whose lean path steps aside, answer alike:
    refusals of every kind, a card that is unknown, and one that is known."""
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    with monkeypatch.context() as patched:
        patched.setattr(routing, "APP_DEPENDENCIES", ())  # read when the routes are built
        full_app = create_app(runtime=api.runtime)
    handled = count_fastapi_handlers(monkeypatch)
    transport = httpx.ASGITransport(app=full_app)
    fallbacks = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as full:
        known = ("/balance", f'{{"code": "{gift["code"]}"}}'.encode(), "application/json")
        for n, (path, body, content_type) in enumerate([*BODIES, known]):
            if n % 4 == 0:  # a new minute: the session's 10 lookups a minute are never spent
                api.clock.advance(seconds=61)
            headers = {**shop.page, "content-type": content_type}
            lean = await api.client.post(path, content=body, headers=headers)
            lean_handled = handled.taken()
            slow = await full.post(path, content=body, headers=headers)
            assert handled.taken() == 1, "the app without the lean path uses FastAPI's handler"
            assert lean.status_code != 429
            assert answer(lean) == answer(slow), (path, body, content_type)
            if (path, body) in WELL_FORMED or (path, body, content_type) == known:
                assert lean_handled == 0, (path, body, content_type)
            fallbacks += lean_handled
        # Malformed bodies went to FastAPI's handler (those ``check_request`` refuses do not
        # need it: it raises the same refusal on either path).
        assert fallbacks >= len(BODIES) // 2
    # Nothing was redeemed by any of them.
    assert await shop.held(gift) == (3000, 0)


WELL_FORMED = {
    ("/balance", b'{"code": "NO-SUCH-CARD"}'),
    ("/redeem", b'{"code": "X", "redeemAmount": {"centAmount": 100, "currencyCode": "EUR"}}'),
}


class HandlerRuns:
    def __init__(self) -> None:
        self.count = 0

    def taken(self) -> int:
        """How many times FastAPI's handler ran since the last call."""
        count, self.count = self.count, 0
        return count


def count_fastapi_handlers(monkeypatch: pytest.MonkeyPatch) -> HandlerRuns:
    """FastAPI's request handler asks for its telemetry first, once per request, whatever the
    request holds; the lean path never runs it."""
    calls = HandlerRuns()
    original = fastapi.routing.get_telemetry_data

    def counted() -> Any:
        calls.count += 1
        return original()

    monkeypatch.setattr(fastapi.routing, "get_telemetry_data", counted)
    return calls
