"""Every route of the app, played by every actor of THREATS.md that must not get through.

The routes come from ``app.routes`` (every optional router mounted), and who may call each one
from the OpenAPI document (its ``security``), so a route added later is covered without
touching this file; one that is neither documented with a security requirement nor listed
below as public (with the reason) fails ``test_every_route_is_classified``.

For each route and method, each actor that should be refused is played over HTTP:

1. no credentials at all;
2. credentials of the right form that tender never issued (an opaque token, a JWT signed by
   another key, an expired JWT, a session id in each header a page may use, a guest id, HTTP
   Basic), and credentials that were good but are no more (expired, a disabled client);
3. the first client's own token (and an admin JWT) with scopes too narrow for the route, a
   view-only token on every write, a server token on a browser route;
4. another API client with every scope, naming the first client's carts, orders (by id and by
   reference), payments and sessions by id (in the path and in the body), and its lists;
5. a browser session of another cart naming the first cart's, order's and payment's ids; a
   valid session on a server route; a session from an origin it does not allow; a page
   confirming its own invoice;
6. on the Spryker Glue routes, another guest's ``X-Anonymous-Customer-Unique-Id`` (and a guest
   confirming its own invoice);

and stored answers are replayed to none of them (same ``Idempotency-Key`` and body).

Each answer is a 4xx (401/403/404, or what the seed prescribes: 400 for Glue without
credentials, 422 ``CartNotFound`` for a cart Glue's caller does not reach, 404
``OrderNotFound`` on ``/order-payments``) in the error shape, never a 2xx or a 5xx; where an id
of someone else's object is named, the answer is the same, status and body, as for an unknown
id of the same form; and no table changes (``rows.snapshot`` before and after) but those
named, with the reason, in ``MAY_CHANGE``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr

from tender.api.app import create_app
from tender.auth.keys import SigningKey
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.runtime import Runtime
from tender.services.external_payments import callback_signature
from tests import rows
from tests.api import test_http_hostile_ids as hostile
from tests.api.conftest import ALL_SCOPES, Api
from tests.api.journeys import (
    ORIGIN,
    add_card,
    browser,
    card,
    choose_payment_method,
    new_cart,
    shipping_method,
    update_cart,
)
from tests.helpers import ADDRESS

JSON = {"content-type": "application/json"}
EVERY_SCOPE = f"{ALL_SCOPES} view_api_clients"
VIEW_ONLY = "view_giftcards view_sessions view_api_clients"
IMPLIED_BY = {"view_giftcards": {"manage_giftcards"}, "view_sessions": {"manage_payments"}}
PROVIDER_SECRET = "psp-callback-secret-0123456789abcdefghij"
CALLBACK = "/redirect-payments/{payment_id}/callback"
GLUE_ORDER_PAYMENTS = "/order-payments"
GUEST = "X-Anonymous-Customer-Unique-Id"
REPLAYED = "Idempotent-Replayed"

# --- which routes are public, and why ------------------------------------------------------

PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness probe: says the process runs, nothing else",
    ("GET", "/ready"): "readiness probe: database reachable and schema current",
    ("GET", "/enabler/connector-enabler.es.js"): "the enabler script shop pages load",
    ("GET", "/enabler/connector-enabler.umd.js"): "the enabler script shop pages load",
    ("GET", "/enabler/connector-enabler.d.ts"): "the enabler's type declarations",
    ("GET", "/.well-known/jwks.json"): "public keys that verify tender's admin JWTs",
    ("GET", "/openapi.json"): "the API description; no data",
    ("GET", "/docs"): "the API description's page; no data",
    ("GET", "/docs/oauth2-redirect"): "the API description's OAuth helper page; no data",
    ("GET", "/redoc"): "the API description's page; no data",
    ("POST", "/oauth/token"): "authenticates the client itself (HTTP Basic or form): played "
    "below with no, unknown and disabled client credentials and a wrong secret",
    # Development conveniences, mounted here because the fixture switches them on;
    # test_development_routes_are_not_mounted_in_production shows they are off there.
    ("GET", "/demo"): "development only: the demo shop's page",
    ("GET", "/demo/assets/{name}"): "development only: the demo shop's script and style",
    ("GET", "/demo/api/products"): "development only: the demo shop's catalogue",
    ("POST", "/demo/api/checkout"): "development only: the demo's backend makes carts for "
    "anyone (with its own client's secret, from its credentials file)",
    ("GET", "/redirect-payments/{payment_id}"): "development only: the redirect simulator's "
    "page, where anyone may 'pay'",
    ("POST", "/redirect-payments/{payment_id}/pay"): "development only: the redirect "
    "simulator's pay button",
}
SIGNED: dict[tuple[str, str], str] = {
    ("POST", CALLBACK): "the provider's callback, authenticated by an HMAC of the body under "
    "TENDER_REDIRECT_PROVIDER_SECRET; played unsigned, signed with another secret, stale, and "
    "with a merchant's token instead",
}
DEVELOPMENT_ONLY = {path for (_, path), why in PUBLIC.items() if why.startswith("development")}

SHARED_PARAMS = {
    "card_id": "gift cards are the merchant's, not one API client's: the cards table has no "
    "owner, and every client with manage_giftcards manages every card (tender.domain.ownership: "
    "clients own carts, orders, payments and sessions). Shipping methods likewise; and no route "
    "names an API client by id.",
    "method_id": "shipping methods are the merchant's too: every client with manage_orders "
    "configures them, and they are offered to every client's carts.",
}

MAY_CHANGE = {
    "rate_limits": "card lookups are counted, before the lookup, against the budget of every "
    "authenticated caller (README 'Limits on guessing codes'): client B adding a card to a "
    "cart it cannot see spends B's own attempt budget. Only the rows of the actor being "
    "played may change (``unchanged(counted=...)``), and only where a test says so.",
}
"""The one table a refused attempt legitimately writes. Nothing else may change: in particular
no idempotency record is kept for a caller who is not authenticated or is refused by its scope
(the authenticated callers of actors 4-6 send no key, since a kept 404 is their own record),
and a session is not touched by another's attempts."""


# --- the app, with every route mounted ----------------------------------------------------


@pytest.fixture
async def api(api: Api) -> AsyncIterator[Api]:
    """The same database with every optional router mounted (redirect simulator, provider
    callback, demo shop) and server errors answered as 500s, so one run counts them all."""
    settings = api.runtime.settings.model_copy(
        update={
            "redirect_simulator": True,
            "redirect_provider_url": "https://psp.example/pay/{paymentId}",
            "redirect_provider_secret": SecretStr(PROVIDER_SECRET),
            "demo": True,
            "demo_file": "/nonexistent/tender-demo.json",
        }
    )
    runtime = Runtime(settings, clock=api.clock)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime, api.clock)
    await runtime.close()


# --- the routes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool
    kind: str
    """public, signed, server (one scope), jwt, introspect, browser or glue"""
    scope: str | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def classify(security: list[dict[str, list[str]]] | None) -> tuple[str, str | None] | None:
    """Who may call, from the operation's OpenAPI ``security``."""
    if not security:
        return None
    schemes = {name for requirement in security for name in requirement}
    scopes = {s for requirement in security for s in requirement.get("oauth2", [])}
    if "guest" in schemes:
        assert scopes == {"manage_orders"}, security
        return "glue", "manage_orders"
    if schemes == {"session"}:
        return "browser", None
    if schemes == {"adminJwt"}:
        return "jwt", None
    if schemes == {"basic", "oauth2"} and len(scopes) == 1:
        return "introspect", scopes.pop()
    if schemes == {"oauth2", "adminJwt"} and len(scopes) == 1:
        return "server", scopes.pop()
    return None


def all_routes(api: Api) -> tuple[list[Route], list[str]]:
    """Every route and method of the app, classified; and those that could not be."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    documented = app.openapi()["paths"]
    found: list[Route] = []
    unclassified: list[str] = []
    for context in iter_route_contexts(app.routes):
        is_api = isinstance(context.original_route, APIRoute)
        for method in sorted((context.methods or set()) - {"HEAD", "OPTIONS"}):
            path = context.path_format or ""
            params = tuple(p.name for p in context.dependant.path_params) if is_api else ()
            has_body = is_api and context.body_field is not None
            if (method, path) in PUBLIC:
                found.append(Route(method, path, params, has_body, "public"))
                continue
            if (method, path) in SIGNED:
                found.append(Route(method, path, params, has_body, "signed"))
                continue
            operation = documented.get(path, {}).get(method.lower())
            kind = classify(operation.get("security") if operation else None)
            if kind is None:
                unclassified.append(f"{method} {path}")
                continue
            found.append(Route(method, path, params, has_body, *kind))
    return found, unclassified


def protected(api: Api) -> list[Route]:
    routes, unclassified = all_routes(api)
    assert not unclassified, unclassified
    return [r for r in routes if r.kind != "public"]


# --- the world: two clients, their carts, an order, sessions and guests ---------------------


@dataclass
class World:
    client_id: str
    client_secret: str
    a: dict[str, str]
    """Client A, every scope: owns everything below unless said otherwise."""
    b: dict[str, str]
    """Client B, every scope: another client of the same merchant."""
    b_client_id: str
    ids: dict[str, str]
    """One of client A's objects per path parameter (what ``hostile.sample_body`` reads)."""
    candidates: dict[str, list[str]]
    """Every object of client A each path parameter may name."""
    open_cart: str
    placed_cart: str
    open_payment: str
    placed_card_payment: str
    invoice_payment: str
    order_reference: str
    session_a: dict[str, str]
    session_placed: dict[str, str]
    session_b: dict[str, str]
    guest_a: str
    guest_b: str
    code: str
    codes: list[str]
    shipping_method: int
    b_cart: str

    @property
    def server(self) -> dict[str, str]:
        return self.a


async def token_for(api: Api, client_id: str, secret: str, scope: str) -> str:
    """A token of the same client with only ``scope`` (RFC 6749's ``scope`` parameter)."""
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == set(scope.split()), response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ready(api: Api, h: dict[str, str], guest: str, method: int) -> dict[str, Any]:
    """A cart of ``guest`` that can be placed once paid for."""
    cart = await new_cart(api, h, shopper={"anonymousId": guest})
    return await update_cart(
        api,
        h,
        cart,
        {"action": "setShippingAddress", "address": ADDRESS},
        {"action": "setBillingAddress", "address": ADDRESS},
        {"action": "setShippingMethod", "shippingMethodId": method},
    )


@pytest.fixture
async def world(api: Api) -> World:
    client_id, secret = await api.new_client(EVERY_SCOPE)
    a = bearer(await token_for(api, client_id, secret, EVERY_SCOPE))
    b_client_id, b_secret = await api.new_client(EVERY_SCOPE)
    b = bearer(await token_for(api, b_client_id, b_secret, EVERY_SCOPE))
    method = await shipping_method(api, a)
    first = await card(api, a, 10_000)
    second = await card(api, a, 1_000)
    spare = await card(api, b, 10_000)
    guest_a, guest_b = str(uuid.uuid4()), str(uuid.uuid4())

    open_cart = await ready(api, a, guest_a, method)
    added = await add_card(api, a, open_cart["id"], first["code"])
    session_a = await browser(api, a, open_cart["id"])

    placed_cart = await ready(api, a, guest_a, method)
    await add_card(api, a, placed_cart["id"], second["code"])  # 10.00 of 44.90
    await choose_payment_method(api, a, placed_cart["id"], "invoice")
    session_placed = await browser(api, a, placed_cart["id"])
    placed = await api.client.post("/orders", json={"cartId": placed_cart["id"]}, headers=a)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    cart = (await api.client.get(f"/carts/{placed_cart['id']}", headers=a)).json()
    by_method = {p["paymentMethod"]: p["id"] for p in cart["payments"]}
    assert set(by_method) == {"giftcard", "invoice"}, cart["payments"]

    b_cart = await ready(api, b, guest_b, method)
    await add_card(api, b, b_cart["id"], spare["code"])
    session_b = await browser(api, b, b_cart["id"])

    payments = [added["payment"]["id"], by_method["giftcard"], by_method["invoice"]]
    return World(
        client_id=client_id,
        client_secret=secret,
        a=a,
        b=b,
        b_client_id=b_client_id,
        ids={
            "card_id": first["id"],
            "cart_id": open_cart["id"],
            "payment_id": added["payment"]["id"],
            "order_id": order["id"],
            "session_id": session_a["X-Session-Id"],
        },
        candidates={
            "card_id": [first["id"]],
            "cart_id": [open_cart["id"], placed_cart["id"]],
            "payment_id": payments,
            "order_id": [order["id"], order["orderReference"]],
            "session_id": [session_a["X-Session-Id"], session_placed["X-Session-Id"]],
            "method_id": [str(method)],
        },
        open_cart=open_cart["id"],
        placed_cart=placed_cart["id"],
        open_payment=added["payment"]["id"],
        placed_card_payment=by_method["giftcard"],
        invoice_payment=by_method["invoice"],
        order_reference=order["orderReference"],
        session_a=session_a,
        session_placed=session_placed,
        session_b=session_b,
        guest_a=guest_a,
        guest_b=guest_b,
        code=first["code"],
        codes=[first["code"], second["code"], spare["code"]],
        shipping_method=method,
        b_cart=b_cart["id"],
    )


# --- requests -------------------------------------------------------------------------------


def candidates(route: Route, w: World, name: str) -> list[str]:
    if name == "order_id" and route.path.startswith("/api/checkout/v1/"):
        return [w.open_cart, w.placed_cart]  # Norce's "order" is a tender cart
    if name == "payment_id" and route.path.startswith("/redirect-payments/"):
        return [w.invoice_payment]
    return w.candidates.get(name, ["x"])


def target_sets(route: Route, w: World) -> list[dict[str, str]]:
    """Every combination of client A's objects the route's path parameters may name."""
    options = [candidates(route, w, name) for name in route.params]
    return [dict(zip(route.params, combo, strict=True)) for combo in itertools.product(*options)]


def first_targets(route: Route, w: World) -> dict[str, str]:
    return target_sets(route, w)[0]


def glue_targets(route: Route, w: World) -> list[dict[str, str]]:
    """Client A's carts or order as a Glue body names them."""
    if route.path == GLUE_ORDER_PAYMENTS:
        key = "data.attributes.paymentIdentifier"
        values = [w.order_reference, w.invoice_payment, w.placed_card_payment, w.open_payment]
    else:
        key = "data.attributes.idCart"
        values = [w.open_cart, w.placed_cart]
    return [{key: v} for v in values]


PARAMS = {"card_id", "cart_id", "payment_id", "order_id", "session_id", "method_id"}
"""The path parameters World.candidates has client A's objects for."""
BODY_IDS = {
    ("POST", "/orders"): "cartId",
    ("POST", "/sessions"): "cart.cartRef.id",
}
"""Tender's own routes whose body names an owned object."""


def body_targets(route: Route, w: World) -> list[dict[str, str]]:
    if route.kind == "glue":
        return glue_targets(route, w)
    key = BODY_IDS.get((route.method, route.path))
    if key is None:
        return [{}]
    return [{key: w.open_cart}, {key: w.placed_cart}]


def unknown_like(value: str) -> str:
    """An id of the same form as ``value`` that names nothing."""
    if value.startswith("tnd_ss_"):
        return "tnd_ss_" + secrets.token_urlsafe(len(value))[: len(value) - 7]
    try:
        uuid.UUID(value)
    except ValueError:
        return value[:-4] + "".join(secrets.choice("23456789") for _ in range(4))
    return str(uuid.uuid4())


def path_of(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


OWN_BODIES: dict[str, Any] = {
    "/demo/api/checkout": {"lines": [{"sku": "TEA-SENCHA", "quantity": 1}]},
}
"""Bodies of routes ``test_http_hostile_ids`` does not mount."""


def body_of(route: Route, w: World, replace: dict[str, str] | None = None) -> bytes | None:
    """A body the route accepts as well formed (``test_http_hostile_ids`` keeps one per
    route, and fails until a new route has one), with ``replace``'s ids put in."""
    if route.path == CALLBACK:
        body: Any = {
            "paymentId": w.invoice_payment,
            "status": "authorized",
            "amount": {"centAmount": 3490, "currency": "EUR"},
        }
    elif not route.has_body:
        return None
    elif route.path in OWN_BODIES:
        body = json.loads(json.dumps(OWN_BODIES[route.path]))
    else:
        endpoint = hostile.Endpoint(route.method, route.path, route.params, (), True, False, False)
        body = hostile.sample_body(endpoint, w)  # type: ignore[arg-type]
        assert body is not None, f"add a sample body for {route.path} to test_http_hostile_ids"
    for dotted, value in (replace or {}).items():
        target = body
        steps = dotted.split(".")
        for step in steps[:-1]:
            target = target[step]
        target[steps[-1]] = value
    return json.dumps(body).encode()


async def call(
    api: Api,
    route: Route,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    keyed: bool = False,
    method: str | None = None,
) -> httpx.Response:
    h = dict(headers)
    if body is not None:
        h.update(JSON)
    if keyed and route.method == "POST":
        h["Idempotency-Key"] = str(uuid.uuid4())
    return await api.client.request(method or route.method, path, content=body, headers=h)


# --- checks ---------------------------------------------------------------------------------


class Findings:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.requests = 0

    def add(self, case: str, response: httpx.Response, problem: str) -> None:
        self.items.append(f"{case}: {problem} -> {response.status_code} {response.text[:240]}")

    def refused(self, case: str, response: httpx.Response, allowed: set[int] | None = None) -> None:
        """A refusal: a 4xx (one of ``allowed``, if given) in the error shape."""
        self.requests += 1
        status = response.status_code
        if status >= 500:
            self.add(case, response, "server error")
            return
        if status < 400:
            self.add(case, response, "let through")
            return
        if allowed is not None and status not in allowed:
            self.add(case, response, f"expected {sorted(allowed)}")
        if response.request.method != "HEAD":
            problem = hostile.shape_problem(response, response.request.url.path)
            if problem is not None:
                self.add(case, response, f"error shape: {problem}")

    def same(
        self, case: str, theirs: httpx.Response, unknown: httpx.Response, swap: dict[str, str]
    ) -> None:
        """Someone else's object answers exactly like one that does not exist."""
        a, b = theirs.text, unknown.text
        for mine, other in swap.items():
            if len(mine) >= 8:  # a shipping method's "1" would be found in "401"
                a, b = a.replace(mine, "<id>"), b.replace(other, "<id>")
        if theirs.status_code != unknown.status_code or a != b:
            self.add(
                case,
                theirs,
                f"answers unlike an unknown id ({unknown.status_code} {b[:200]})",
            )

    def assert_none(self) -> None:
        shown = "\n".join(self.items[:80])
        assert not self.items, f"{len(self.items)} findings:\n{shown}"


async def unchanged(
    api: Api, before: dict[str, list[str]], findings: Findings, *, counted: tuple[str, ...] = ()
) -> None:
    """No row of any table changed, but rate-limit counters of the actors ``counted``."""
    after = await rows.snapshot(api.runtime.db)
    for table in before:
        added = sorted(set(after[table]) - set(before[table]))
        gone = sorted(set(before[table]) - set(after[table]))
        if table in MAY_CHANGE and counted:
            mine = [f"/{actor}/" for actor in counted]
            added = [r for r in added if not any(m in r for m in mine)]
            gone = [r for r in gone if not any(m in r for m in mine)]
        if added or gone:
            findings.items.append(f"table {table} changed: +{added[:3]} -{gone[:3]}")


async def attack(
    api: Api,
    findings: Findings,
    route: Route,
    w: World,
    headers: dict[str, str],
    case: str,
    allowed: set[int] | None,
    *,
    keyed: bool = True,
    values: dict[str, str] | None = None,
    body_ids: dict[str, str] | None = None,
    own: frozenset[str] = frozenset(),
) -> None:
    """The route naming client A's objects (``values`` in the path, ``body_ids`` in the body),
    then unknown ids of the same form instead (all but ``own``): refused both times, alike."""
    values = values if values is not None else first_targets(route, w)
    body_ids = body_ids or {}
    path, body = path_of(route, values), body_of(route, w, body_ids)
    theirs = await call(api, route, path, headers, body, keyed=keyed)
    findings.refused(f"{case} {route.name} {values or ''}{body_ids or ''}", theirs, allowed)
    named = [*values.values(), *body_ids.values()]
    swap = {v: unknown_like(v) for v in named if v != "x" and v not in own}
    if not swap:
        return
    unknown = await call(
        api,
        route,
        path_of(route, {k: swap.get(v, v) for k, v in values.items()}),
        headers,
        body_of(route, w, {k: swap.get(v, v) for k, v in body_ids.items()}),
        keyed=keyed,
    )
    findings.refused(f"{case} {route.name} (unknown ids)", unknown, allowed)
    findings.same(f"{case} {route.name} {values or ''}{body_ids or ''}", theirs, unknown, swap)


def glue_status(route: Route) -> set[int]:
    """The seed's answer to a cart or order its caller does not reach."""
    return {404} if route.path == GLUE_ORDER_PAYMENTS else {422}


def first_body_ids(route: Route, w: World) -> dict[str, str]:
    return body_targets(route, w)[0]


# --- 0. every route is classified -----------------------------------------------------------


async def test_every_route_is_classified(api: Api) -> None:
    routes, unclassified = all_routes(api)
    assert not unclassified, (
        f"say who may call {unclassified}: a security requirement in the OpenAPI document, "
        "or an entry with its reason in PUBLIC or SIGNED"
    )
    kinds = {r.kind for r in routes}
    assert kinds == {"public", "signed", "server", "jwt", "introspect", "browser", "glue"}, kinds
    assert len(routes) >= 60, len(routes)
    assert set(PUBLIC) | set(SIGNED) <= {(r.method, r.path) for r in routes}, (
        "a listed route is gone"
    )
    # each path parameter of a protected route names objects the world has (World.candidates)
    unplayed = {
        f"{r.name} {p}" for r in routes if r.kind != "public" for p in r.params if p not in PARAMS
    }
    assert not unplayed, f"give the world objects for {unplayed} (World.candidates)"


def test_development_routes_are_not_mounted_in_production(tmp_path: Any) -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'production.db'}",
        secret_key=secrets.token_urlsafe(48),
    )
    app = create_app(runtime=Runtime(settings))
    paths = {c.path_format for c in iter_route_contexts(app.routes)}
    assert DEVELOPMENT_ONLY
    assert not DEVELOPMENT_ONLY & paths, DEVELOPMENT_ONLY & paths
    assert CALLBACK not in paths  # no provider secret configured: no callback route


async def test_public_routes_answer_anyone_without_a_500_or_a_write(api: Api, world: World) -> None:
    """The routes listed in PUBLIC, called by anyone with client A's ids and unknown ones."""
    findings = Findings()
    before = await rows.snapshot(api.runtime.db)
    routes, _ = all_routes(api)
    for route in (r for r in routes if r.kind == "public"):
        theirs = first_targets(route, world)
        unknown = {p: unknown_like(v) if v != "x" else v for p, v in theirs.items()}
        for values in (theirs, unknown):
            body = body_of(route, world) if route.path != "/oauth/token" else None
            response = await call(api, route, path_of(route, values), {}, body, keyed=True)
            findings.requests += 1
            # (503: the demo's backend says it is not set up, as it should)
            if response.status_code == 500:
                findings.add(f"anyone {route.name}", response, "server error")
    await unchanged(api, before, findings)
    findings.assert_none()


# --- 1 and 2. no credentials, and credentials tender never issued -------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _signed(api: Api, findings: Findings, route: Route, w: World) -> None:
    """The provider's callback: unsigned, signed with another secret, stale, or a merchant's
    token instead of a signature."""
    path = path_of(route, first_targets(route, w))
    body = body_of(route, w)
    assert body is not None
    now = str(int(api.clock.now().timestamp()))
    old = str(int((api.clock.now() - timedelta(hours=1)).timestamp()))
    cases = {
        "unsigned": {},
        "signed with another secret": {
            "X-Tender-Timestamp": now,
            "X-Tender-Signature": callback_signature(b"x" * 40, now, body),
        },
        "signed an hour ago": {
            "X-Tender-Timestamp": old,
            "X-Tender-Signature": callback_signature(PROVIDER_SECRET.encode(), old, body),
        },
        "a merchant's token instead": dict(w.a),
    }
    for label, headers in cases.items():
        response = await call(api, route, path, headers, body, keyed=True)
        findings.refused(f"{label} {route.name}", response, {401})


async def test_no_credentials_and_credentials_never_issued(api: Api, world: World) -> None:
    findings = Findings()
    routes = protected(api)
    before = await rows.snapshot(api.runtime.db)
    other_key = SigningKey.derive(b"another-secret-key-0123456789abcdefghijklmnopq")
    fake_session = unknown_like(world.ids["session_id"])
    server_like = {
        "unknown token": bearer("tnd_at_" + secrets.token_urlsafe(32)),
        "JWT of another key": bearer(api.admin_jwt(EVERY_SCOPE, key=other_key)),
        "expired JWT": bearer(api.admin_jwt(EVERY_SCOPE, ttl=timedelta(seconds=-60))),
        "empty bearer": {"Authorization": "Bearer "},
        "another scheme": _basic(world.client_id, world.client_secret),
    }
    sessions = {
        "unknown X-Session-Id": {"X-Session-Id": fake_session, "Origin": ORIGIN},
        "unknown API-token": {"API-token": fake_session, "Origin": ORIGIN},
        "a client's token as session id": {
            "X-Session-Id": world.a["Authorization"].split()[1],
            "Origin": ORIGIN,
        },
        "a session id as bearer": bearer(world.session_a["X-Session-Id"]),
    }
    for route in routes:
        if route.kind == "signed":
            await _signed(api, findings, route, world)
            continue
        ids = first_body_ids(route, world)
        nobody = {400} if route.kind == "glue" else {401}
        await attack(api, findings, route, world, {}, "no credentials", nobody, body_ids=ids)
        if route.method == "GET":
            response = await call(
                api, route, path_of(route, first_targets(route, world)), {}, None, method="HEAD"
            )
            findings.refused(f"HEAD without credentials {route.path}", response, {401})
        for label, headers in server_like.items():
            if label == "another scheme" and route.kind == "introspect":
                continue  # HTTP Basic is this route's own: played below
            await attack(api, findings, route, world, headers, label, {401}, body_ids=ids)
        for label, headers in sessions.items():
            await attack(api, findings, route, world, headers, label, {401}, body_ids=ids)
        if route.method == "GET":
            accept = {"Accept": f"*/*; api-token={fake_session}", "Origin": ORIGIN}
            await attack(api, findings, route, world, accept, "unknown Accept api-token", {401})
        if route.kind == "glue":
            guest = {GUEST: str(uuid.uuid4())}
            await attack(
                api,
                findings,
                route,
                world,
                guest,
                "unknown guest",
                glue_status(route),
                body_ids=ids,
            )
        else:
            guest = {GUEST: world.guest_a}
            await attack(api, findings, route, world, guest, "guest off Glue", {401})
        if route.kind == "introspect":
            for label, basic in (
                ("unknown Basic", _basic("tnd_" + secrets.token_hex(12), "x")),
                ("wrong secret", _basic(world.client_id, "not-the-secret")),
            ):
                await attack(api, findings, route, world, basic, label, {401})
    form = {"grant_type": "client_credentials"}
    for label, client in (
        ("no client", {}),
        ("unknown client", _basic("tnd_" + secrets.token_hex(12), "y")),
        ("wrong secret", _basic(world.client_id, "not-the-secret")),
    ):
        response = await api.client.post("/oauth/token", data=form, headers=client)
        findings.refused(f"{label} POST /oauth/token", response, {401})
    await unchanged(api, before, findings)
    findings.assert_none()
    assert findings.requests > 500, findings.requests


async def test_credentials_that_are_no_longer_good(api: Api, world: World) -> None:
    """Client A disabled (its tokens stop at once), then A's token and session expired."""
    findings = Findings()
    routes = [r for r in protected(api) if r.kind in ("server", "glue", "introspect", "jwt")]
    await api.runtime.db.transaction(
        lambda c: SqlClientStore(c).set_client_active(world.client_id, False)
    )
    before = await rows.snapshot(api.runtime.db)
    for route in routes:
        ids = first_body_ids(route, world)
        await attack(
            api, findings, route, world, world.a, "disabled client's token", {401}, body_ids=ids
        )
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(world.client_id, world.client_secret),
    )
    findings.refused("disabled client POST /oauth/token", response, {401})
    await unchanged(api, before, findings)
    await api.runtime.db.transaction(
        lambda c: SqlClientStore(c).set_client_active(world.client_id, True)
    )
    settings = api.runtime.settings
    api.clock.advance(seconds=max(settings.token_ttl_seconds, settings.session_ttl_seconds) + 1)
    before = await rows.snapshot(api.runtime.db)
    for route in protected(api):
        ids = first_body_ids(route, world)
        if route.kind in ("server", "glue", "introspect", "jwt"):
            await attack(api, findings, route, world, world.a, "expired token", {401}, body_ids=ids)
        if route.kind in ("browser", "glue"):
            await attack(
                api, findings, route, world, world.session_a, "expired session", {401}, body_ids=ids
            )
    await unchanged(api, before, findings)
    findings.assert_none()


# --- 3. a narrower token of the same client -------------------------------------------------


async def test_narrower_tokens_are_refused(api: Api, world: World) -> None:
    findings = Findings()
    routes = protected(api)
    everything = set(EVERY_SCOPE.split())
    narrow: dict[str, dict[str, dict[str, str]]] = {}
    for scope in {r.scope for r in routes if r.scope}:
        rest = " ".join(sorted(everything - {scope} - IMPLIED_BY.get(scope, set())))
        narrow[scope] = {
            f"token without {scope}": bearer(
                await token_for(api, world.client_id, world.client_secret, rest)
            ),
            f"admin JWT without {scope}": bearer(api.admin_jwt(rest)),
        }
    view_only = bearer(await token_for(api, world.client_id, world.client_secret, VIEW_ONLY))
    no_introspect = await api.new_client("manage_orders view_giftcards")
    before = await rows.snapshot(api.runtime.db)
    for route in routes:
        ids = first_body_ids(route, world)
        if route.scope is not None:
            for label, headers in narrow[route.scope].items():
                await attack(api, findings, route, world, headers, label, {403}, body_ids=ids)
            if route.scope not in VIEW_ONLY.split():
                await attack(
                    api, findings, route, world, view_only, "view-only token", {403}, body_ids=ids
                )
        elif route.kind == "jwt":
            await attack(api, findings, route, world, world.a, "client token, not a JWT", {401})
        elif route.kind == "browser":
            # a server credential pasted into a page is never a browser's
            await attack(api, findings, route, world, world.a, "server token on a page", {401})
            await attack(
                api,
                findings,
                route,
                world,
                {**world.a, **world.session_a},
                "server token beside a session",
                {401},
            )
        if route.kind == "introspect":
            await attack(
                api,
                findings,
                route,
                world,
                _basic(*no_introspect),
                "Basic client without introspect_oauth_tokens",
                {403},
            )
    await unchanged(api, before, findings)
    findings.assert_none()


async def test_view_only_answers_reveal_no_code(api: Api, world: World) -> None:
    """What a reading token gets never carries a card's code (or a session id it did not send):
    every GET route with client A's objects, read with every scope."""
    findings = Findings()
    secrets_ = [*world.codes, *(c.replace(" ", "") for c in world.codes)]
    sessions = [world.session_a["X-Session-Id"], world.session_placed["X-Session-Id"]]
    for route in protected(api):
        if route.method != "GET" or route.kind not in ("server", "jwt"):
            continue
        headers = bearer(api.admin_jwt()) if route.kind == "jwt" else world.a
        for values in target_sets(route, world):
            path = path_of(route, values)
            response = await call(api, route, path, headers, None)
            findings.requests += 1
            shown = [s for s in secrets_ if s in response.text]
            shown += [s for s in sessions if s in response.text and s not in path]
            if shown:
                findings.add(f"GET {path}", response, f"shows {shown}")
    findings.assert_none()


# --- 4. another API client naming the first client's objects --------------------------------


async def test_another_client_reaches_nothing_of_the_first(api: Api, world: World) -> None:
    findings = Findings()
    routes = protected(api)
    before = await rows.snapshot(api.runtime.db)
    checked = 0
    for route in routes:
        if route.kind not in ("server", "glue"):
            continue
        owned = [p for p in route.params if p not in SHARED_PARAMS]
        bodies = body_targets(route, world)
        if not owned and bodies == [{}]:
            continue
        checked += 1
        allowed = glue_status(route) if route.kind == "glue" else {404}
        for values in target_sets(route, world):
            for ids in bodies:
                await attack(
                    api,
                    findings,
                    route,
                    world,
                    world.b,
                    "client B",
                    allowed,
                    keyed=False,
                    values=values,
                    body_ids=ids,
                )
        if "payment_id" in route.params and len(route.params) == 2:
            # B's own cart, and a payment of A's in the path beside it
            container = next(p for p in route.params if p != "payment_id")
            for payment in world.candidates["payment_id"]:
                values = {container: world.b_cart, "payment_id": payment}
                await attack(
                    api,
                    findings,
                    route,
                    world,
                    world.b,
                    "client B's own cart",
                    {404},
                    keyed=False,
                    values=values,
                    own=frozenset({world.b_cart}),
                )
    assert checked >= 20, checked
    # every body naming one of A's objects is played above: the sample bodies name A's open
    # cart and order reference, so a new route whose body does must be in BODY_IDS (or Glue)
    named = {world.open_cart, world.order_reference}
    for route in routes:
        body = body_of(route, world)
        if body is None or route.kind in ("glue", "public", "signed"):
            continue
        for where, value in hostile.leaves(json.loads(body)):
            if value in named:
                key = ".".join(map(str, where))
                assert BODY_IDS.get((route.method, route.path)) == key, (route.name, key)
    # B's lists show nothing of A's
    mine = [
        world.open_cart,
        world.placed_cart,
        world.ids["order_id"],
        world.order_reference,
        world.invoice_payment,
        world.open_payment,
    ]
    states = ("Checkout", "Processing", "Completed", "Cancelled")
    for path in ("/orders", "/events", "/events?after=0", *(f"/orders?state={s}" for s in states)):
        response = await api.client.get(path, headers=world.b)
        if response.status_code != 200:
            findings.add(f"client B GET {path}", response, "not listed")
            continue
        leaked = [v for v in mine if v in response.text]
        if leaked:
            findings.add(f"client B GET {path}", response, f"shows A's {leaked}")
    await unchanged(api, before, findings, counted=(f"client:{world.b_client_id}",))
    findings.assert_none()


# --- 5. a browser session of another cart ---------------------------------------------------


def invoice_confirmation(identifier: str | None) -> dict[str, Any]:
    return {
        "data": {
            "type": "order-payments",
            "attributes": {
                "paymentIdentifier": identifier,
                "dataPayload": [{"type": "invoice-confirmation"}],
            },
        }
    }


async def test_another_session_reaches_nothing_of_the_first_cart(api: Api, world: World) -> None:
    findings = Findings()
    routes = protected(api)
    before = await rows.snapshot(api.runtime.db)
    foreign_origin = {**world.session_a, "Origin": "https://evil.example"}
    for route in routes:
        ids = first_body_ids(route, world)
        if route.kind == "browser" and route.params:
            for values in target_sets(route, world):
                await attack(
                    api,
                    findings,
                    route,
                    world,
                    world.session_b,
                    "session of cart B",
                    {404},
                    keyed=False,
                    values=values,
                )
        elif route.kind == "glue":
            for body_ids in body_targets(route, world):
                await attack(
                    api,
                    findings,
                    route,
                    world,
                    world.session_b,
                    "session of cart B",
                    glue_status(route),
                    keyed=False,
                    body_ids=body_ids,
                )
        elif route.kind in ("server", "jwt", "introspect", "signed"):
            # a valid session is no credential on a server route
            await attack(
                api,
                findings,
                route,
                world,
                world.session_a,
                "session on a server route",
                {401},
                body_ids=ids,
            )
        if route.kind in ("browser", "glue"):
            await attack(
                api,
                findings,
                route,
                world,
                foreign_origin,
                "session from a foreign origin",
                {401},
                body_ids=ids,
            )
            if route.method == "POST":
                # Accept's api-token names a session on reads only
                accept = {
                    "Accept": f"*/*; api-token={world.session_a['X-Session-Id']}",
                    "Origin": ORIGIN,
                }
                await attack(
                    api,
                    findings,
                    route,
                    world,
                    accept,
                    "session in Accept on a POST",
                    {400} if route.kind == "glue" else {401},
                    body_ids=ids,
                )
        if route.kind == "glue":
            # the merchant's token sent from a page, naming its own cart
            await attack(
                api,
                findings,
                route,
                world,
                {**world.a, "Origin": ORIGIN},
                "server token from a page",
                {401},
                body_ids=ids,
            )
    # a shopper's page never confirms its own invoice
    for identifier in (world.order_reference, world.invoice_payment, None):
        response = await api.client.post(
            GLUE_ORDER_PAYMENTS,
            json=invoice_confirmation(identifier),
            headers=world.session_placed,
        )
        findings.refused(f"own session confirms its invoice ({identifier})", response, {422})
    await unchanged(api, before, findings)
    findings.assert_none()


async def test_a_session_uses_only_its_methods_and_confirms_nothing(api: Api, world: World) -> None:
    """A page picks no method its session does not allow, and no one but the provider's signed
    callback authorizes a redirect payment: not the shopper's page, not its guest, not even
    the merchant's backend."""
    findings = Findings()
    a, method = world.a, world.shipping_method
    cart = await ready(api, a, world.guest_a, method)
    cards_only = await browser(api, a, cart["id"], allowedPaymentMethods=["giftcard"])
    invoice_only = await browser(api, a, cart["id"], allowedPaymentMethods=["invoice"])
    spare = await card(api, a, 500)
    redirect_cart = await ready(api, a, world.guest_a, method)
    await choose_payment_method(api, a, redirect_cart["id"], "redirect")
    shopper = await browser(api, a, redirect_cart["id"], merchantReturnUrl="https://shop.example/r")
    placed = await api.client.post("/orders", json={"cartId": redirect_cart["id"]}, headers=a)
    assert placed.status_code == 201, placed.text
    reference = placed.json()["orderReference"]
    payments = (await api.client.get(f"/carts/{redirect_cart['id']}", headers=a)).json()
    (redirect,) = [p["id"] for p in payments["payments"] if p["paymentMethod"] == "redirect"]
    before = await rows.snapshot(api.runtime.db)

    def glue(kind: str, *methods: str) -> dict[str, Any]:
        from tests.api.journeys import checkout_document

        return checkout_document(kind, cart["id"], method, *methods)

    for kind in ("checkout-data", "checkout"):
        response = await api.client.post(f"/{kind}", json=glue(kind, "invoice"), headers=cards_only)
        findings.refused(f"giftcard-only session picks invoice on /{kind}", response, {422})
    for path, body in (
        ("/session/giftcards", {"code": spare["code"]}),
        (
            "/redeem",
            {"code": spare["code"], "redeemAmount": {"centAmount": 100, "currencyCode": "EUR"}},
        ),
    ):
        response = await api.client.post(path, json=body, headers=invoice_only)
        findings.refused(f"invoice-only session adds a gift card on {path}", response, {422})
    acknowledgement = {
        "data": {
            "type": "order-payments",
            "attributes": {
                "paymentIdentifier": reference,
                "dataPayload": [{"type": "payment-confirmation", "hash": "x"}],
            },
        }
    }
    for label, headers in (
        ("its own page", shopper),
        ("its guest", {GUEST: world.guest_a}),
        ("the merchant's backend", a),
    ):
        response = await api.client.post(GLUE_ORDER_PAYMENTS, json=acknowledgement, headers=headers)
        findings.refused(f"{label} confirms a redirect payment", response, {422})
    response = await api.client.post(
        f"/payments/{redirect}/confirm",
        json={"dataPayload": [{"type": "payment-confirmation"}]},
        headers=a,
    )
    findings.refused("the merchant confirms a redirect payment", response, {404, 409, 422})
    await unchanged(api, before, findings)
    findings.assert_none()


# --- 6. another Glue guest ------------------------------------------------------------------


async def test_another_guest_reaches_nothing_of_the_first(api: Api, world: World) -> None:
    findings = Findings()
    routes = [r for r in protected(api) if r.kind == "glue"]
    assert {r.path for r in routes} == {"/checkout-data", "/checkout", GLUE_ORDER_PAYMENTS}
    before = await rows.snapshot(api.runtime.db)
    for route in routes:
        for body_ids in body_targets(route, world):
            await attack(
                api,
                findings,
                route,
                world,
                {GUEST: world.guest_b},
                "guest B",
                glue_status(route),
                keyed=False,
                body_ids=body_ids,
            )
        # its own cart, from an origin the service does not allow
        await attack(
            api,
            findings,
            route,
            world,
            {GUEST: world.guest_a, "Origin": "https://evil.example"},
            "guest A from a foreign origin",
            {401},
            body_ids=first_body_ids(route, world),
        )
    # a guest never confirms its own invoice either
    for identifier in (world.order_reference, world.invoice_payment):
        response = await api.client.post(
            GLUE_ORDER_PAYMENTS,
            json=invoice_confirmation(identifier),
            headers={GUEST: world.guest_a},
        )
        findings.refused(f"guest A confirms its own invoice ({identifier})", response, {422})
    await unchanged(api, before, findings)
    findings.assert_none()


# --- replays: a stored answer is authorized again -------------------------------------------


async def test_stored_answers_are_replayed_to_no_one_else(api: Api, world: World) -> None:
    """Keyed requests that reveal secrets (a new card's code, a session id) or move money, sent
    again with the same key and body by a narrower token of the same client, without
    credentials, by another client, another session and another guest."""
    findings = Findings()
    c = world.client_id, world.client_secret
    view_only = bearer(await token_for(api, *c, VIEW_ONLY))
    no_orders = bearer(await token_for(api, *c, "manage_giftcards manage_payments"))
    no_cards = bearer(await token_for(api, *c, "manage_orders manage_payments"))
    cart = await ready(api, world.a, world.guest_a, world.shipping_method)
    spare = await card(api, world.a, 500)
    other = await card(api, world.a, 500)
    glue = {
        "data": {
            "type": "checkout-data",
            "attributes": {
                "idCart": cart["id"],
                "shipment": {"idShipmentMethod": world.shipping_method},
            },
        }
    }
    session = await browser(api, world.a, cart["id"])
    cases: list[tuple[str, dict[str, Any], dict[str, str], list[tuple[str, dict[str, str]]]]] = [
        (
            "/giftcards",
            {"amount": {"centAmount": 700, "currency": "EUR"}},
            world.a,
            [("view-only token", view_only), ("client B", world.b)],
        ),
        (
            "/sessions",
            {"cart": {"cartRef": {"id": cart["id"]}}, "metadata": {"allowedOrigins": [ORIGIN]}},
            world.a,
            [("view-only token", view_only), ("client B", world.b)],
        ),
        (
            f"/carts/{cart['id']}/giftcards",
            {"code": spare["code"]},
            world.a,
            [("token without manage_orders", no_orders), ("client B", world.b)],
        ),
        (
            "/giftcards/balance",
            {"code": spare["code"]},
            world.a,
            [("token without gift card scopes", no_cards), ("client B", world.b)],
        ),
        (
            "/session/giftcards",
            {"code": other["code"]},
            session,
            [("session of cart B", world.session_b)],
        ),
        ("/checkout-data", glue, {GUEST: world.guest_a}, [("guest B", {GUEST: world.guest_b})]),
    ]
    for path, body, owner, others in cases:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await api.client.post(path, json=body, headers={**owner, **key})
        assert first.status_code in (200, 201), first.text
        for label, headers in [("no credentials", {}), *others]:
            before = await rows.snapshot(api.runtime.db)
            again = await api.client.post(path, json=body, headers={**headers, **key})
            findings.requests += 1
            if again.headers.get(REPLAYED) == "true" or (
                again.text == first.text and ("code" in again.text or "tnd_ss_" in again.text)
            ):
                findings.add(f"{label} replays POST {path}", again, "got the first answer")
            if again.status_code >= 500:
                findings.add(f"{label} replays POST {path}", again, "server error")
            if label == "no credentials":
                findings.refused(f"{label} replays POST {path}", again, {400, 401})
                await unchanged(api, before, findings)
            elif label.startswith(("view-only", "token without")):
                findings.refused(f"{label} replays POST {path}", again, {403})
                await unchanged(api, before, findings)
            # (another client, session or guest may be answered on its own account: cards
            # are the merchant's, see SHARED_PARAMS; what matters is that nothing is replayed)
    findings.assert_none()


def test_unknown_like_keeps_the_form() -> None:
    session = "tnd_ss_" + "a" * 43
    assert re.fullmatch(r"tnd_ss_[\w-]{43}", unknown_like(session))
    assert unknown_like(session) != session
    assert uuid.UUID(unknown_like(str(uuid.uuid4())))
    assert unknown_like("TND-B7U2PV7WYY")[:10] == "TND-B7U2PV"
