"""Every operation of the OpenAPI document, and every route it hides, sent generated hostile
requests by every kind of caller: no 500, every refusal in the error shape, and a refusal
changes nothing.

The operations come from the app's own ``app.openapi()`` (with a redirect provider configured,
so that its callback is mounted), so a new route is walked without a word here; a route hidden
from the document must be walked or named in ``NOT_WALKED`` (a test fails otherwise).

Callers: nobody; a token with every scope or an admin JWT (three requests in every example, as
theirs get past authentication to the input and state checks); a token of one scope alone; a
browser session (its id as ``X-Session-Id``, ``API-token`` or in ``Accept``, unknown, or two
of them, from its origin or another); on Glue's routes a guest; on the provider's callback the
provider, signing whatever is sent. Bodies are drawn from each operation's request schema
(real ids, codes and amounts of a small shop mixed in, so that some get past validation to
the state checks), then half the time mutated: a member dropped, a value of another type, an
unknown member, extreme, zero and negative integers, another currency, NUL characters and lone
surrogates, very long strings, deep nesting, a body that is not JSON, the wrong content type or
encoding, one over the size limit, a method the path does not take. Path ids are real ones of
every kind (an order's where a cart's is expected too), unknown ones and malformed ones; query
parameters are drawn from their schemas or hostile.

What is asserted of every answer: a status below 500; a 4xx in the error shape, ``statusCode``
equal to the status (the enabler's ``POST /balance`` refuses in the connector's
``BalanceType``, as its template does); a refusal leaves the money and checkout tables as they
were (kept idempotency answers, attempt budgets and PIN counters are refusals' own records, and
are not compared); a body the document itself calls invalid, one holding what no database
stores, a caller without credentials or scope on a route that needs them, are never answered
2xx. The ledger audit runs at the end.

One app and one shop per test (a setup per example would be the whole run time). The requests
are drawn before any is sent, each operation's by a seeded run of its own, so a run sends the
same requests every time; every wrong answer is reported with the request that got it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import string
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.domain.principals import IMPLIED, Scope
from tests.api.conftest import Api
from tests.api.journeys import (
    ORIGIN,
    add_card,
    browser,
    card,
    choose_payment_method,
    new_cart,
    ready_cart,
    shipping_method,
    update_cart,
)
from tests.api.operations_setup import audit
from tests.api.payment_setup import WITH_PROVIDER, api_with, signed
from tests.helpers import ADDRESS

EXAMPLES = int(os.environ.get("TENDER_FUZZ_EXAMPLES", "8"))
"""Examples per operation; each sends it a request of each caller. More of them, and another
seed, for a longer hunt: ``TENDER_FUZZ_EXAMPLES=200 TENDER_FUZZ_SEED=7``."""
SEED = int(os.environ.get("TENDER_FUZZ_SEED", "0"))
ONLY = os.environ.get("TENDER_FUZZ_ONLY", "")
"""Walk only the operations whose ``METHOD /path`` holds this, to hunt on a few of them."""

NOT_WALKED = {
    "/docs/oauth2-redirect": "Swagger UI's static OAuth2 redirect page: no input, no database",
}
"""Routes hidden from the document that are not walked, and why. The development conveniences
(the payment simulator's pages, the demo shop) are not mounted in tests nor in production, so
they are not among the app's routes at all; their own tests cover them (``test_demo_shop``,
``test_http_payment_methods``)."""

GUEST_ID = "guest-0f6c1d2e-8a4b-4c5d-9e7f-a1b2c3d4e5f6"
UNKNOWN_UUID = "0198a0a0-0000-7000-8000-000000000000"
HOSTILE_IDS = [
    UNKNOWN_UUID,
    "%00",
    UNKNOWN_UUID[:-1] + "%00",
    "%ED%A0%80",
    "%FF%FE",
    "a" * 5000,
    "0",
    "-1",
    "9" * 40,
    "null",
    "%20",
    "..",
    "%2E%2E%2Fgiftcards",
    "%C3%BC",
    "tnd_ss_" + "x" * 40,
    "ORD-%25s%25n",
]
WRONG_CURRENCIES = ["USD", "JPY", "KWD", "XXX", "DEM", "eur", "EU", "", "€", "E\x00R"]
EXTREME_INTS = [0, -1, -100, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, -(10**30)]
RAW_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"1e999",
    b"NaN",
    b'"text"',
    b"\xff\xfe\x00",
    b"<xml/>",
    b'{"a": 1} trailing',
    b'{"a": "\\ud800"}',
    b'{"a": "\\u0000"}',
    b"[" * 5000 + b"]" * 5000,
]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "",
]
MUTATIONS = [
    "valid",
    "drop",
    "wrong-type",
    "extra",
    "integer",
    "currency",
    "nul",
    "surrogate",
    "long",
    "deep",
    "raw",
    "content-type",
    "oversize",
    "method",
    "encoding",
]


# --- the operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    body: dict[str, Any] | None
    """The request body's schema, if it takes one."""
    body_required: bool
    media: str | None
    security: tuple[dict[str, list[str]], ...]
    """The document's security requirements; empty: anyone."""
    methods: frozenset[str] = frozenset()
    """Every method its path takes."""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def __repr__(self) -> str:
        return self.name

    @property
    def schemes(self) -> set[str]:
        return {name for requirement in self.security for name in requirement}

    def open_to(self, scopes: set[str]) -> bool:
        """Whether a bearer token with ``scopes`` (none: no credentials) may call it."""
        if not self.security or {} in self.security:
            return True
        return any(
            set(requirement) == {"oauth2"} and set(requirement["oauth2"]) <= scopes
            for requirement in self.security
            if scopes
        )


def operations(app: Any) -> list[Operation]:
    """Every operation of the document, then every route it hides but the ones not walked."""
    document = app.openapi()
    found: list[Operation] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            content = operation.get("requestBody", {}).get("content", {})
            media, body = next(iter(content.items()), (None, None))
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    parameters=tuple(operation.get("parameters", [])),
                    body=body["schema"] if body else None,
                    body_required=bool(operation.get("requestBody", {}).get("required")),
                    media=media,
                    security=tuple(operation.get("security", [])),
                )
            )
    documented = {(o.method, o.path) for o in found}
    found = [
        dataclasses.replace(o, methods=frozenset(m for m, p in documented if p == o.path))
        for o in found
    ]
    for route in hidden_routes(app.routes):
        if route.path in NOT_WALKED:
            continue
        for method in sorted(set(route.methods or ()) - {"HEAD"}):
            if (method, route.path) not in documented:
                methods = frozenset(route.methods or ()) - {"HEAD"}
                found.append(Operation(method, route.path, (), None, False, None, (), methods))
    return found


def hidden_routes(routes: list[Any]) -> Iterator[Any]:
    """The routes the document leaves out, those of included routers too."""
    for route in routes:
        branch = getattr(route, "effective_candidates", None)
        if branch is not None:
            yield from hidden_routes(branch())
        elif not getattr(route, "include_in_schema", True):
            yield route


# --- the shop the requests are aimed at -------------------------------------------------------


@dataclass
class Shop:
    api: Api
    full: dict[str, str]
    jwt: dict[str, str]
    narrow: dict[Scope, dict[str, str]]
    """A token of each scope alone."""
    page: dict[str, str]
    components: dict[str, Any]
    ids: dict[str, list[str]] = field(default_factory=dict)
    """Real ids by the name of the path parameter or body field that takes them."""
    codes: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)

    strategies: dict[str, st.SearchStrategy[Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "Shop(...)"  # hypothesis names every strategy it draws from

    def body_strategy(self, op: Operation) -> st.SearchStrategy[Any]:
        """Built once per operation: building one is slower than drawing from it."""
        if op.name not in self.strategies:
            assert op.body is not None
            self.strategies[op.name] = from_schema(op.body, self.components, hints(self))
        return self.strategies[op.name]


async def open_shop(api: Api) -> Shop:
    """Cards, carts in every state a route distinguishes, an order with a gift card and an
    invoice, a redeemed card on a session's cart, a redirect payment, a guest's cart."""
    h = await api.headers()
    narrow = {scope: await api.headers(scope.value) for scope in Scope}
    method = await shipping_method(api, h)
    big, small, spare = [await card(api, h, m) for m in (100_000, 1_000, 100_000)]
    pinned = await card(api, h, 5_000, pin="4711")
    placed_carts, orders_placed = [], []
    for _ in range(3):  # a fuzzed cancel ends one, not every payment's reach
        placed_cart = await ready_cart(api, h, unit=4_000, shipping=method)
        await add_card(api, h, placed_cart["id"], (await card(api, h, 1_000))["code"])
        await choose_payment_method(api, h, placed_cart["id"], "invoice")
        placed = await api.client.post("/orders", json={"cartId": placed_cart["id"]}, headers=h)
        placed_carts.append(placed_cart["id"])
        orders_placed.append(await _json(placed))
    redirected = await ready_cart(api, h, unit=2_000, shipping=method)
    await choose_payment_method(api, h, redirected["id"], "redirect")
    redirect_order = await _json(
        await api.client.post("/orders", json={"cartId": redirected["id"]}, headers=h)
    )
    open_cart = await ready_cart(api, h, unit=3_000, shipping=method)
    card_payment = (await add_card(api, h, open_cart["id"], big["code"]))["payment"]
    page_cart = await ready_cart(api, h, unit=5_000, shipping=method)
    page = await browser(api, h, page_cart["id"], paymentInterface="tender-giftcards")
    redeemed = await api.client.post(
        "/redeem",
        json={"code": spare["code"], "redeemAmount": {"centAmount": 1_000, "currency": "EUR"}},
        headers=page,
    )
    assert redeemed.json()["result"] == "Success", redeemed.text
    guest_cart = await new_cart(api, h, shopper={"anonymousId": GUEST_ID})
    await update_cart(
        api,
        h,
        guest_cart,
        {"action": "setShippingAddress", "address": ADDRESS},
        {"action": "setBillingAddress", "address": ADDRESS},
    )
    payments = [p["id"] for o in (*orders_placed, redirect_order) for p in o["payments"]]
    payments += [card_payment["id"], redeemed.json()["paymentReference"]]
    carts = [*placed_carts, redirected["id"], open_cart["id"], page_cart["id"], guest_cart["id"]]
    orders = [o["id"] for o in (*orders_placed, redirect_order)]
    orders.append(orders_placed[0]["orderReference"])
    cards = [c["id"] for c in (big, small, spare, pinned)]
    components = app_of(api).openapi()["components"]
    shop = Shop(api, h, {"Authorization": f"Bearer {api.admin_jwt()}"}, narrow, page, components)
    shop.ids = {
        "card_id": cards,
        "cart_id": carts,
        "order_id": orders + carts,
        "payment_id": payments,
        "method_id": [str(method)],
        "session_id": [page["X-Session-Id"]],
    }
    shop.codes = [c["code"] for c in (big, small, spare, pinned)]
    shop.versions = [1, 2, 3, 4, 5]
    return shop


def app_of(api: Api) -> Any:
    return api.client._transport.app  # type: ignore[attr-defined]


async def _json(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


# --- drawing a request ------------------------------------------------------------------------


JsonLeaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=8), st.floats()
)


def hints(shop: Shop) -> dict[str, st.SearchStrategy[Any]]:
    """Values for fields by name: the shop's own most of the time, so that requests reach the
    checks behind validation, and a hostile one some of the time."""
    ids = [i for values in shop.ids.values() for i in values]
    amount = st.one_of(
        st.integers(1, 50_000), st.sampled_from([0, -1, -4_000]), st.sampled_from(EXTREME_INTS)
    )
    currency = st.sampled_from(["EUR"] * 30 + WRONG_CURRENCIES)
    any_id = st.sampled_from([*ids, UNKNOWN_UUID, "", "x" * 300])
    return {
        "centAmount": amount,
        "count": st.sampled_from([1, 2, 0, -1, 1001, 2**63]),  # a batch of 1000 is slow
        "currency": currency,
        "currencyCode": currency,
        "currencyIsoCode": currency,
        "code": st.sampled_from([*shop.codes, "0000000000000000", "x" * 129, "\u00b2" * 16]),
        "cardId": st.sampled_from([*shop.codes, "0000000000000000"]),
        "pin": st.sampled_from(["4711", "0000", "", "\u0661\u0662\u0663\u0664", None]),
        "cartId": st.sampled_from([*shop.ids["cart_id"], UNKNOWN_UUID]),
        "idCart": st.sampled_from([*shop.ids["cart_id"], UNKNOWN_UUID]),
        "id": any_id,
        "paymentId": st.sampled_from([*shop.ids["payment_id"], UNKNOWN_UUID]),
        "paymentIdentifier": st.sampled_from([*shop.ids["order_id"], UNKNOWN_UUID]),
        "shippingMethodId": st.sampled_from([*map(int, shop.ids["method_id"]), 0, -1, 2**63]),
        "idShipmentMethod": st.sampled_from([*map(int, shop.ids["method_id"]), 0, 999_999]),
        "version": st.sampled_from([*shop.versions, 0, -1, 2**63]),
        "country": st.sampled_from(["DE", "de", "XX", "", "DEU"]),
        "iso2Code": st.sampled_from(["DE", "de", "XX", ""]),
        "paymentMethod": st.sampled_from(["invoice", "redirect", "giftcard", "cash", ""]),
        "paymentMethodName": st.sampled_from(["invoice", "redirect", "giftcard", "cash"]),
        "taxRate": st.sampled_from(["19.00", "0", "-1", "100.01", "1e3", "NaN", "19,00"]),
        "allowedOrigins": st.lists(st.sampled_from([ORIGIN, "null", "*", "http://x"]), max_size=2),
        "expiresAt": st.sampled_from(
            ["2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "x"]
        ),
    }


TEXTS = ["Ada", "ada@example.com", "Hauptstraße 1", "x" * 24, "0", "-1", "de", "EUR", "ü€日本", " "]
"""Strings a field is sent besides drawn ones: a run of few examples draws short ones mostly."""
ABSENT = object()
ALWAYS = {"currency"}
"""Optional fields sent whenever the schema has them: money without its currency (which
``currencyCode`` may name instead) is refused before anything else is looked at."""


def from_schema(
    schema: dict[str, Any],
    components: dict[str, Any],
    named: dict[str, st.SearchStrategy[Any]],
    depth: int = 0,
) -> st.SearchStrategy[Any]:
    """Values the schema allows, near enough (formats are left to the server), and drawn with
    ``named`` for the members it names."""
    if depth > 8:
        return st.none()
    if "$ref" in schema:
        target = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return from_schema(target, components, named, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            # null, where it is one of the choices, is drawn one time in four at most
            options = [
                from_schema(s, components, named, depth + 1)
                for s in schema[combinator]
                for _ in range(1 if s.get("type") == "null" else 3)
            ]
            return st.one_of(options)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))

        def value(name: str) -> st.SearchStrategy[Any]:
            hinted = named.get(name)
            return (
                hinted
                if hinted is not None
                else from_schema(properties[name], components, named, depth + 1)
            )

        required |= ALWAYS & set(properties)
        # an optional field is sent three times in four: what it takes is worth reaching
        fixed = st.fixed_dictionaries(
            {
                k: value(k) if k in required else st.one_of(*[value(k)] * 3, st.just(ABSENT))
                for k in properties
            }
        ).map(lambda d: {k: v for k, v in d.items() if v is not ABSENT})
        if schema.get("additionalProperties") not in (None, False) and not properties:
            return st.dictionaries(st.text(max_size=6), JsonLeaf, max_size=3)
        return fixed
    if kind == "array":
        items = from_schema(schema.get("items", {}), components, named, depth + 1)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 3), 3)))
    if kind == "string":
        examples = schema.get("examples") or []
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 24), 24)
        words = [w for w in TEXTS if low <= len(w) <= high]
        plain = st.text(
            string.ascii_letters + string.digits + "-_ .@", min_size=max(low, 1), max_size=high
        )
        plain = st.one_of(st.sampled_from(words), plain) if words else plain
        if "pattern" in schema:
            plain = st.from_regex(schema["pattern"], fullmatch=True)
        return st.one_of(st.sampled_from(examples), plain) if examples else plain
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(
            None if low is None else math.ceil(low), None if high is None else math.floor(high)
        )
    if kind == "number":
        return st.integers(-1000, 1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JsonLeaf


def nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


def dropped(value: Any, path: tuple[Any, ...]) -> Any:
    """``value`` without the member at ``path``."""
    parent = path[:-1]
    container = value
    for step in parent:
        container = container[step]
    if isinstance(container, dict):
        return replaced(value, parent, {k: v for k, v in container.items() if k != path[-1]})
    return replaced(value, parent, [v for i, v in enumerate(container) if i != path[-1]])


OTHER_TYPES: list[Any] = [None, True, 0, -1.5, "", "1", [], {}, [1, "x"], {"a": None}]


@dataclass
class Request:
    method: str
    path: str
    caller: str
    headers: dict[str, Any]
    content: bytes | None
    mutation: str
    must_refuse: str | None
    """Why no 2xx may answer it, if none may."""
    glue: bool
    """Whether its route is one of Glue's, whose errors carry JSON:API's members too."""

    def __repr__(self) -> str:
        content = self.content if self.content is None or len(self.content) < 300 else b"<long>"
        return (
            f"{self.method} {self.path[:160]} by {self.caller} ({self.mutation}) "
            f"headers={ {k: v for k, v in self.headers.items() if k != 'Authorization'} } "
            f"body={content!r}"
        )


def has_unstorable(value: Any) -> bool:
    """NUL, a lone surrogate or a number that is not finite: refused wherever it is sent."""
    for _, node in nodes(value):
        if isinstance(node, str) and (
            "\x00" in node or any(0xD800 <= ord(c) < 0xE000 for c in node)
        ):
            return True
        if isinstance(node, dict) and any(has_unstorable(k) for k in node):
            return True
        if isinstance(node, float) and not math.isfinite(node):
            return True
    return False


def draw_request(draw: Callable[..., Any], op: Operation, caller: str, shop: Shop) -> Request:
    path = op.path
    for parameter in op.parameters:
        if parameter["in"] == "path":
            pool = shop.ids.get(parameter["name"], [])
            real = st.sampled_from(pool or [UNKNOWN_UUID])
            raw = draw(st.one_of(real, real, real, st.sampled_from(HOSTILE_IDS)))
            path = path.replace("{" + parameter["name"] + "}", raw)
    query = []
    for parameter in op.parameters:
        if parameter["in"] != "query" or not draw(st.booleans()):
            continue
        schema = parameter.get("schema", {})
        good = from_schema(schema, shop.components, {}).map(
            lambda v: quote(str(v).lower() if isinstance(v, bool) else str(v), safe="")
        )
        bad = st.sampled_from(["%00", "%ED%A0%80", "-1", "9" * 400, "", "a" * 3000, "%C2%B2"])
        query.append(f"{parameter['name']}={draw(st.one_of(good, bad))}")
    if draw(st.integers(0, 9)) == 0:
        query.append(draw(st.sampled_from(["unknown=1", "limit=1&limit=x", "%00=1", "&&=&"])))
    url = path + ("?" + "&".join(query) if query else "")

    headers: dict[str, Any] = {}
    must_refuse: str | None = None
    if caller == "full":
        headers.update(draw(st.sampled_from([shop.full, shop.jwt])))
    elif caller == "narrow":
        scope = draw(st.sampled_from(sorted(shop.narrow)))
        headers.update(shop.narrow[scope])
        if not op.open_to({scope.value} | {s.value for s in IMPLIED.get(scope, ())}):
            must_refuse = f"a token of {scope.value} alone"
    elif caller == "session":
        headers.update(shop.page)
        headers["Origin"] = draw(st.sampled_from([ORIGIN, ORIGIN, "https://evil.example", "null"]))
        sid = headers["X-Session-Id"]
        form = draw(st.integers(0, 11))
        if form == 0:
            headers["X-Session-Id"] = draw(st.sampled_from(["tnd_ss_unknown", "", "\u00ff" * 8]))
        elif form == 1:  # Centra's name for it
            headers["API-token"] = headers.pop("X-Session-Id")
        elif form == 2:  # two different ids
            headers["API-token"] = "tnd_ss_other"
        elif form == 3 and op.method == "GET":
            del headers["X-Session-Id"]
            headers["Accept"] = draw(st.sampled_from([f"*/*; api-token={sid}", "*/*; api-token="]))
    elif caller == "guest":
        headers["X-Anonymous-Customer-Unique-Id"] = draw(
            st.sampled_from([GUEST_ID, GUEST_ID, "short", "x" * 300, "\u00ff" * 30])
        )
    if caller == "none" and not op.open_to(set()):
        must_refuse = "no credentials"
    if caller == "session" and not ({"session", "guest"} & op.schemes or op.open_to(set())):
        must_refuse = "a browser session on a server's route"
    if op.method == "POST" and draw(st.integers(0, 7)) == 0:
        headers["Idempotency-Key"] = draw(
            st.sampled_from(["key-1", "key-2", "", "k" * 256, "\u00e9t\u00e9", "a b"])
        )
    if draw(st.integers(0, 5)) == 0:
        headers["X-Correlation-ID"] = draw(st.sampled_from(["", "x" * 200, "\u00ff", "ok-1"]))
    if draw(st.integers(0, 7)) == 0:
        headers["Accept-Language"] = draw(st.sampled_from(["de;q=x", "*", "\u00ff", "de-CH;q=0.9"]))

    past_the_door = caller in ("full", "session", "provider", "guest")
    # half of what gets past authentication is sent unchanged, to reach the state checks
    kinds = ["valid"] * len(MUTATIONS) + MUTATIONS if past_the_door else MUTATIONS
    mutation = draw(st.sampled_from(kinds))
    method = op.method
    content: bytes | None = None
    media = op.media or "application/json"
    if mutation == "method" and op.method == "GET" and draw(st.booleans()):
        method = "HEAD"  # answered wherever GET is
    elif mutation == "method":
        method = draw(
            st.sampled_from(sorted({"PUT", "DELETE", "PATCH", "GET", "POST"} - op.methods))
        )
        must_refuse = must_refuse or "a method the path does not take"
    elif mutation == "raw":
        content = draw(st.sampled_from(RAW_BODIES))
        headers["Content-Type"] = "application/json"
        if op.body is not None and op.body_required:
            must_refuse = must_refuse or "a body that is not the route's JSON"
    elif mutation == "oversize":
        content = b'{"x": "' + b"a" * shop.api.runtime.settings.max_body_bytes + b'"}'
        headers["Content-Type"] = media
        if op.body is not None:
            must_refuse = must_refuse or "a body over the limit"
    elif op.body is None:
        if draw(st.booleans()):
            content = json.dumps({"x": "\u0000"}).encode()
            headers["Content-Type"] = "application/json"
    else:
        value = draw(shop.body_strategy(op))
        value, mutation = mutate(draw, value, mutation)
        if media == "application/x-www-form-urlencoded":
            form = value if isinstance(value, dict) else {"x": value}
            content = "&".join(
                f"{quote(str(k), safe='', errors='surrogatepass')}="
                f"{quote(str(v), safe='', errors='surrogatepass')}"
                for k, v in form.items()
            ).encode()
            if set(op.body.get("required", [])) - set(form):
                must_refuse = must_refuse or "a form without a field it requires"
        else:
            content = json.dumps(value, ensure_ascii=False, allow_nan=True).encode(
                "utf-8", "surrogatepass"
            )
            if mutation == "encoding":
                codec = draw(st.sampled_from(["utf-16", "utf-32-be", "utf-8-sig", "utf-16-le"]))
                content = json.dumps(value).encode(codec)
            if has_unstorable(value):
                must_refuse = must_refuse or "NUL, a lone surrogate or a number that is not finite"
            elif not valid(value, op.body, shop.components):
                must_refuse = must_refuse or "a body the document calls invalid"
        headers["Content-Type"] = media
        if mutation == "content-type":
            headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
            if op.body_required and media == "application/json":
                must_refuse = must_refuse or "a JSON body sent as another type"
    if caller == "provider" and content is not None:
        content, signature = signed(shop.api, content)
        headers.update({k: v for k, v in signature.items() if k != "Content-Type"})
    return Request(
        method, url, caller, headers, content, mutation, must_refuse, "guest" in op.schemes
    )


def mutate(draw: Callable[..., Any], value: Any, mutation: str) -> tuple[Any, str]:
    """``value`` changed as ``mutation`` says (or left as it is: ``valid``)."""
    everything = list(nodes(value))
    inner = [p for p, _ in everything if p]
    if mutation == "drop" and inner:
        return dropped(value, draw(st.sampled_from(inner))), mutation
    if mutation == "wrong-type":
        path = draw(st.sampled_from([p for p, _ in everything]))
        return replaced(value, path, draw(st.sampled_from(OTHER_TYPES))), mutation
    if mutation == "extra":
        objects = [p for p, v in everything if isinstance(v, dict)] or [()]
        path = draw(st.sampled_from(objects))
        target = value
        for step in path:
            target = target[step]
        extra = {**target, "unexpectedField": 1} if isinstance(target, dict) else {"x": 1}
        return replaced(value, path, extra), mutation
    if mutation == "integer":
        numbers = [p for p, v in everything if isinstance(v, int) and not isinstance(v, bool)]
        if numbers:
            path = draw(st.sampled_from(numbers))
            return replaced(value, path, draw(st.sampled_from(EXTREME_INTS))), mutation
    if mutation == "currency":
        wrong = draw(st.sampled_from(WRONG_CURRENCIES))
        for path, _ in everything:
            if path and path[-1] in ("currency", "currencyCode", "currencyIsoCode"):
                value = replaced(value, path, wrong)
        return value, mutation
    strings = [p for p, v in everything if isinstance(v, str)]
    if mutation in ("nul", "surrogate", "long"):
        bad = {
            "nul": "a\x00b",
            "surrogate": "\ud800",
            "long": "9" * draw(st.sampled_from([300, 20_000])),
        }[mutation]
        if strings:
            return replaced(value, draw(st.sampled_from(strings)), bad), mutation
        if isinstance(value, dict):
            return {**value, bad: 1}, mutation
    if mutation == "deep":
        objects = [p for p, v in everything if isinstance(v, dict)]
        if objects:
            deep: Any = "x"
            for _ in range(draw(st.sampled_from([40, 400]))):
                deep = [deep]
            path = draw(st.sampled_from(objects))
            return _with_key(value, path, "nested", deep), mutation
    return value, mutation if mutation in ("content-type", "encoding") else "valid"


def _with_key(value: Any, path: tuple[Any, ...], key: str, new: Any) -> Any:
    target = value
    for step in path:
        target = target[step]
    return replaced(value, path, {**target, key: new})


def valid(value: Any, schema: dict[str, Any], components: dict[str, Any]) -> bool:
    try:
        jsonschema.validate(value, {**schema, "components": components})
    except jsonschema.ValidationError:
        return False
    except RecursionError:
        return False
    return True


# --- what every answer must be ----------------------------------------------------------------

GLUE_ITEM = {"code", "message", "field", "status", "detail", "source"}
PLAIN_ITEM = {"code", "message", "field"}


def problems(request: Request, response: httpx.Response) -> list[str]:
    """What is wrong with the answer, if anything."""
    status = response.status_code
    if status >= 500:
        return ["a 5xx for a client's input"]
    if request.must_refuse is not None and status < 400:
        return [f"answered {status} to {request.must_refuse}"]
    if status < 400 or request.method == "HEAD":
        return []
    try:
        body = response.json()
    except ValueError:
        return ["a refusal whose body is not JSON"]
    if not isinstance(body, dict):
        return ["a refusal whose body is not an object"]
    if request.path == "/balance" and "statusCode" not in body:
        return balance_refusal(body)
    found = []
    if body.get("statusCode") != status:
        found.append("statusCode is not the status")
    if not isinstance(body.get("message"), str) or not body["message"]:
        found.append("no message")
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return [*found, "no errors"]
    allowed = GLUE_ITEM if request.glue else PLAIN_ITEM
    for item in errors:
        if not isinstance(item, dict) or not set(item) <= allowed:
            found.append(f"an error item of other members: {item}")
        elif not all(isinstance(item.get(k), str) and item[k] for k in ("code", "message")):
            found.append(f"an error item without code or message: {item}")
        elif not isinstance(item.get("field", ""), str):
            found.append(f"a field that is not text: {item}")
    return found


def balance_refusal(body: dict[str, Any]) -> list[str]:
    """The enabler's balance check answers the connector's ``BalanceType`` with the
    template's status codes (404 ``NotFound``, 400 ``Expired`` …), the state naming why."""
    state = body.get("status")
    if not isinstance(state, dict) or state.get("state") in (None, "Valid"):
        return ["a refused balance check without the state that refused it"]
    errors = state.get("errors")
    if not errors or not all(e.get("code") and e.get("message") for e in errors):
        return ["a refused balance check without its errors"]
    return []


SNAPSHOT = {
    "cards": "id, status, posted, held, version, expires_at",
    "holds": "id, status, amount, captured_amount, expires_at",
    "activities": "count(*)",
    "ledger_entries": "count(*), sum(amount)",
    "api_clients": "client_id, active, scopes",
    "access_tokens": "count(*)",
    "shipping_methods": "id, active",
    "carts": "id, version, locked, shipping_method_id",
    "orders": "id, state, version",
    "payments": "id, status, amount_planned, hold_ref",
    "payment_transactions": "id, state, amount",
    "sessions": "token_hash, cart_id, expires_at, future_order_number",
    "browser_origins": "count(*)",
    "events": "count(*), max(id)",
}


async def snapshot(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """What a refused request must leave as it was: the money, the checkout, who may call."""
    found = {}
    for table, columns in SNAPSHOT.items():
        order = "" if "(" in columns else " ORDER BY 1"
        rows = await conn.execute(text(f"SELECT {columns} FROM {table}{order}"))
        found[table] = [tuple(row) for row in rows]
    return found


CALLERS = ("none", "full", "full", "full", "narrow", "session")
"""Who sends each operation a request in every example: a token with every scope three times,
since its requests get past authentication to the input and state checks."""


def callers_of(op: Operation) -> list[str]:
    extra = ["guest"] if "guest" in op.schemes else []
    if op.path.startswith("/redirect-payments/"):
        extra += ["provider", "provider"]
    if "session" in op.schemes:
        extra += ["session", "session"]
    return [*CALLERS, *extra]


async def send(api: Api, request: Request) -> httpx.Response:
    headers = {k: v.encode("latin-1") for k, v in request.headers.items()}
    return await api.client.request(
        request.method, request.path, headers=headers, content=request.content
    )


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
async def shop(db: Database) -> Any:
    async with api_with(db, **WITH_PROVIDER) as api:
        yield await open_shop(api)


async def test_every_hidden_route_is_walked_or_named(db: Database) -> None:
    """A route added with ``include_in_schema=False`` is walked, or named with its reason."""
    async with api_with(db, **WITH_PROVIDER) as api:
        app = app_of(api)
        walked = {(o.method, o.path) for o in operations(app)}
        for route in hidden_routes(app.routes):
            for method in set(route.methods or ()) - {"HEAD"}:
                assert (method, route.path) in walked or route.path in NOT_WALKED, route.path
        assert ("GET", "/openapi.json") in walked
        assert ("POST", "/redirect-payments/{payment_id}/callback") in walked


def draw_requests(shop: Shop, ops: list[Operation]) -> list[Request]:
    """The requests of every example, drawn before any is sent: what a request does to the
    shop must not change what is drawn next, or the same seed would draw another run. Each
    operation is drawn by a run of its own, seeded by its name (one run for every operation
    would draw more than an example holds)."""
    drawn: list[Request] = []
    for op in ops:
        if ONLY in op.name:
            drawn += draw_for(shop, op)
    return drawn


def draw_for(shop: Shop, op: Operation) -> list[Request]:
    drawn: list[Request] = []

    @seed(zlib.crc32(op.name.encode()) + SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        for caller in callers_of(op):
            drawn.append(draw_request(data.draw, op, caller, shop))

    example()
    return drawn


async def test_every_route_refuses_hostile_input(shop: Shop) -> None:
    api = shop.api
    app = app_of(api)
    db = api.runtime.db
    failures: list[str] = []
    before = await db.read(snapshot)
    for request in draw_requests(shop, operations(app)):
        response = await send(api, request)
        found = problems(request, response)
        after = await db.read(snapshot)
        if response.status_code >= 400:
            found += [f"a refusal changed {t}" for t in after if after[t] != before[t]]
        if found:
            failures.append(
                f"{request!r}\n-> {response.status_code} {response.text[:600]}\n{found}"
            )
        before = after
    assert await audit(api) == []
    assert not failures, f"{len(failures)} answers are wrong:\n\n" + "\n\n".join(failures[:12])
