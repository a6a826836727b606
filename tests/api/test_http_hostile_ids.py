"""Hostile ids and text sent to every route there is, found by walking ``app.routes``.

A route added later is covered without touching this file: each ``{param}`` of each route and
method gets NUL characters (400), ids that cannot be ours (answered exactly like an unknown id),
very long, unicode, encoded and path-traversing strings; every query parameter gets a NUL; every
JSON body gets a NUL or lone surrogate in each string and key, and non-finite numbers. Nothing
answers 500, every refusal has the error shape, and nothing is written: the rows of every table
are the same before and after, even for POSTs that carry an Idempotency-Key. Last, every part
of every body is sent as each other JSON type, or left out: that may be accepted, never a 500.

A JSON body route needs a sample body below; a test fails until it has one.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr

from tender.api.app import create_app
from tender.api.browser import browser_session
from tender.api.compat.spryker.shoppers import GLUE_PATHS as JSONAPI_PATHS
from tender.api.inputs import PATH_ID_RULES, rule_for
from tender.api.security import require_jwt
from tender.db.models import Base
from tender.runtime import Runtime
from tender.services.external_payments import callback_signature
from tests import rows
from tests.api.conftest import Api
from tests.api.journeys import ORIGIN as SHOP
from tests.api.journeys import add_card, browser, card, ready_cart, shipping_method
from tests.helpers import GLUE_ADDRESS

JSON = {"content-type": "application/json"}
NUL_SEGMENTS = ["a%00b", "%00", "0198a0a0-0000-7000-8000-00000000000%00"]
MALFORMED_SEGMENTS = [
    "not-an-id",
    "a" * 5000,
    "0198a0a0-0000-7000-8000-00000000000g",
    "0198a0a000007000800000000000000a",
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "%F0%9F%92%B3",  # a credit card emoji
    "%E2%80%AE",  # right-to-left override
    "%ED%A0%80",  # a UTF-8 encoded surrogate
    "%FF%FE",  # not UTF-8 at all
    "%27%20OR%201%3D1--",
    "%25",
]


@dataclass
class World:
    """Real objects of every kind, so that only the parameter under attack is hostile."""

    server: dict[str, str]
    browser: dict[str, str]
    admin: dict[str, str]
    """A merchant-admin JWT, for the routes that take nothing else."""
    ids: dict[str, str]
    code: str
    order_reference: str
    shipping_method: int


PROVIDER_SECRET = "psp-callback-secret-0123456789abcdefghij"
CALLBACK = "/redirect-payments/{payment_id}/callback"


@pytest.fixture
async def api(api: Api) -> AsyncIterator[Api]:
    """The same database with every optional route mounted (the redirect simulator and the
    provider's callback), and server errors answered as 500s instead of raised in the test, so
    one run counts every route that fails."""
    settings = api.runtime.settings.model_copy(
        update={
            "redirect_simulator": True,
            "redirect_provider_url": "https://psp.example/pay/{paymentId}",
            "redirect_provider_secret": SecretStr(PROVIDER_SECRET),
        }
    )
    runtime = Runtime(settings, clock=api.clock)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime, api.clock)
    await runtime.close()


@pytest.fixture
async def world(api: Api) -> World:
    h = await api.headers()
    method = await shipping_method(api, h)
    first = await card(api, h, 10_000)
    second = await card(api, h, 10_000)
    open_cart = await ready_cart(api, h, unit=4000, shipping=method)
    added = await add_card(api, h, open_cart["id"], first["code"])
    session = await browser(api, h, open_cart["id"])
    placed_cart = await ready_cart(api, h, unit=4000, shipping=method)
    await add_card(api, h, placed_cart["id"], second["code"])
    placed = await api.client.post("/orders", json={"cartId": placed_cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    return World(
        server=h,
        browser=session,
        admin={"Authorization": f"Bearer {api.admin_jwt()}"},
        ids={
            "card_id": first["id"],
            "cart_id": open_cart["id"],
            "payment_id": added["payment"]["id"],
            "order_id": order["id"],
            "session_id": session["X-Session-Id"],
            "method_id": str(method),
        },
        code=first["code"],
        order_reference=order["orderReference"],
        shipping_method=method,
    )


# --- the routes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    params: tuple[str, ...]
    queries: tuple[str, ...]
    has_body: bool
    browser: bool
    jwt: bool


def _uses(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


def endpoints(api: Api) -> Iterator[Endpoint]:
    app = api.client._transport.app  # type: ignore[attr-defined]
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = context.dependant
        for method in sorted(context.methods - {"HEAD", "OPTIONS"}):
            yield Endpoint(
                method=method,
                path=context.path_format,
                params=tuple(p.name for p in dependant.path_params),
                queries=tuple(q.name for q in dependant.query_params),
                has_body=context.body_field is not None,
                browser=_uses(dependant, browser_session),
                jwt=_uses(dependant, require_jwt),
            )


def sample_body(endpoint: Endpoint, w: World) -> dict[str, Any] | None:
    """A body each route accepts as well formed, so the attack reaches as far as it can."""
    amount = {"amount": {"centAmount": 100, "currency": "EUR"}}
    cart_id = w.ids["cart_id"]
    spryker = {
        "idCart": cart_id,
        "customer": {"salutation": "Ms", "email": "ada@example.com", "firstName": "Ada"},
        "billingAddress": GLUE_ADDRESS,
        "shippingAddress": GLUE_ADDRESS,
        "payments": [{"paymentMethodName": "invoice", "paymentProviderName": "tender"}],
        "shipment": {"idShipmentMethod": w.shipping_method},
    }
    bodies: dict[str, dict[str, Any]] = {
        "/giftcards": {**amount, "metadata": {"batch": "spring", "n": 1}},
        "/giftcards/balance": {"code": w.code},
        "/giftcards/{card_id}/load": {**amount, "reference": "r-1"},
        "/giftcards/{card_id}/adjust": {**amount, "reference": "r-1"},
        "/giftcards/{card_id}/disable": {"reason": "lost"},
        "/giftcards/{card_id}/enable": {"reason": "found"},
        "/carts": {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [
                {
                    "sku": "TEA",
                    "name": "Tea",
                    "quantity": 1,
                    "price": {"centAmount": 100, "currency": "EUR"},
                    "taxRate": "19.00",
                }
            ],
        },
        "/carts/{cart_id}": {
            "version": 1,
            "actions": [
                {"action": "setCustomerEmail", "email": "ada@example.com"},
                {"action": "setPaymentMethod", "paymentMethod": "invoice"},
                {"action": "removeLineItem", "lineItemId": str(uuid.uuid4())},
            ],
        },
        "/carts/{cart_id}/giftcards": {"code": w.code, "pin": "1234"},
        "/orders": {"cartId": cart_id, "orderReference": "SHOP-1"},
        "/orders/{order_id}/complete": {"settleForLess": {"reason": "partial shipment"}},
        "/payments/{payment_id}/capture": amount,
        "/payments/{payment_id}/refund": amount,
        "/payments/{payment_id}/confirm": {"dataPayload": [{"status": "ok", "n": 1}]},
        "/shipping-methods": {
            "name": "Express",
            "price": {"centAmount": 990, "currency": "EUR"},
            "taxRate": "19.00",
            "countries": ["DE"],
        },
        "/api/checkout/v1/orders/{order_id}/payments": {"cardId": w.code, "code": "1234"},
        "/sessions": {
            "cart": {"cartRef": {"id": cart_id}},
            "metadata": {"allowedOrigins": [SHOP], "futureOrderNumber": "SHOP-2"},
        },
        "/session/giftcards": {"code": w.code},
        "/balance": {"code": w.code, "pin": "1234"},
        "/redeem": {
            "code": w.code,
            "redeemAmount": {"centAmount": 100, "currencyCode": "EUR"},
        },
        "/checkout-data": {"data": {"type": "checkout-data", "attributes": spryker}},
        "/checkout": {"data": {"type": "checkout", "attributes": spryker}},
        "/operations/payment-intents/{payment_id}": {
            "actions": [
                {
                    "action": "refundPayment",
                    "amount": {"centAmount": 100, "currencyCode": "EUR"},
                    "merchantReference": "RMA-1",
                    "transactionId": str(uuid.uuid4()),
                }
            ]
        },
        "/order-payments": {
            "data": {
                "type": "order-payments",
                "attributes": {
                    "paymentIdentifier": w.order_reference,
                    "dataPayload": [{"type": "payment-confirmation", "hash": "x", "n": 1}],
                },
            }
        },
    }
    return copy.deepcopy(bodies.get(endpoint.path))


def headers(endpoint: Endpoint, w: World) -> dict[str, str]:
    if endpoint.jwt:
        return dict(w.admin)
    return dict(w.browser if endpoint.browser else w.server)


def url(endpoint: Endpoint, w: World, hostile: dict[str, str] | None = None) -> str:
    path = endpoint.path
    for name in endpoint.params:
        value = (hostile or {}).get(name)
        if value is None:
            real = w.ids.get(name, "x")
            if path.startswith("/api/checkout/v1/orders/") and name == "order_id":
                real = w.ids["cart_id"]  # Norce's "order" is a tender cart
            value = quote(real, safe="")
        path = path.replace("{" + name + "}", value)
    return path


async def send(
    api: Api,
    endpoint: Endpoint,
    w: World,
    path: str,
    body: Any = None,
    *,
    raw: bool = False,
    keyed: bool = False,
) -> httpx.Response:
    """``keyed`` adds a fresh Idempotency-Key to a POST: a refused request keeps no answer."""
    h = headers(endpoint, w)
    if keyed and endpoint.method == "POST":
        h["Idempotency-Key"] = str(uuid.uuid4())
    content = None
    if body is not None or endpoint.has_body:
        payload = body if body is not None else sample_body(endpoint, w)
        if payload is not None:
            content = payload if raw else json.dumps(payload).encode()
            h.update(JSON)
    if endpoint.path == CALLBACK:  # the provider signs its raw body: attack as the provider
        if content is None:
            payment = unquote(path.split("/")[2])
            content = json.dumps(
                {
                    "paymentId": payment,
                    "status": "authorized",
                    "amount": {"centAmount": 100, "currency": "EUR"},
                }
            ).encode()
            h.update(JSON)
        stamp = str(int(api.clock.now().timestamp()))
        h["X-Tender-Timestamp"] = stamp
        h["X-Tender-Signature"] = callback_signature(PROVIDER_SECRET.encode(), stamp, content)
    return await api.client.request(endpoint.method, path, content=content, headers=h)


def shape_problem(response: httpx.Response, path: str) -> str | None:
    """What is wrong with an error answer, or None: the one error shape (JSON:API routes also
    carry ``status`` and ``detail`` on each error)."""
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    allowed = {"code", "message", "field"}
    jsonapi = path.split("?")[0] in JSONAPI_PATHS
    if jsonapi:
        allowed |= {"status", "detail", "source"}
        if response.headers.get("content-type") != "application/vnd.api+json":
            return "not a JSON:API document"
    if body.get("statusCode") != response.status_code:
        return "statusCode differs"
    if not isinstance(body.get("message"), str) or not body["message"]:
        return "no message"
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return "no errors"
    for item in errors:
        if not set(item) <= allowed or not item.get("code") or not item.get("message"):
            return f"bad error item {item}"
        if jsonapi and (item.get("status") != str(response.status_code) or not item.get("detail")):
            return f"no JSON:API status and detail in {item}"
    return None


async def snapshot(api: Api) -> dict[str, list[str]]:
    return await rows.snapshot(api.runtime.db)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, case: str, response: httpx.Response) -> None:
        if not ok:
            self.items.append(f"{case} -> {response.status_code} {response.text[:200]}")

    def error(self, case: str, response: httpx.Response, status: int | None = None) -> None:
        """``response`` must be a 4xx in the error shape (``status`` exactly, if given)."""
        expected = status if status is not None else response.status_code
        self.check(400 <= response.status_code < 500, case, response)
        self.check(response.status_code == expected, f"{case} (expected {status})", response)
        problem = shape_problem(response, str(response.request.url.raw_path, "latin-1"))
        self.check(problem is None, f"{case} ({problem})", response)

    def assert_none(self) -> None:
        server_errors = [item for item in self.items if " -> 5" in item]
        shown = "\n".join([*server_errors, *self.items][:60])
        assert not self.items, f"{len(self.items)} failures, {len(server_errors)} 5xx:\n{shown}"


def short(text: str) -> str:
    return text if len(text) < 80 else text[:60] + f"…({len(text)})"


# --- path parameters -----------------------------------------------------------------------


async def test_every_path_parameter_of_every_route(api: Api, world: World) -> None:
    routes = [e for e in endpoints(api) if e.params]
    assert len(routes) >= 25, routes  # the walk found the routes
    failures = Failures()
    before = await snapshot(api)
    for endpoint in routes:
        for name in endpoint.params:
            for value in NUL_SEGMENTS:
                path = url(endpoint, world, {name: value})
                response = await send(api, endpoint, world, path, keyed=True)
                failures.error(f"{endpoint.method} {short(path)}", response, 400)
            for value in MALFORMED_SEGMENTS:
                # Unkeyed: an order reference that merely does not exist is looked up, and a
                # keyed 404 is an answer worth keeping for a retry.
                path = url(endpoint, world, {name: value})
                response = await send(api, endpoint, world, path)
                failures.error(f"{endpoint.method} {short(path)}", response, 404)
    failures.assert_none()
    assert await snapshot(api) == before

    # A malformed id answers exactly like an unknown one: same status, same error code.
    for endpoint in routes:
        for name in endpoint.params:
            unknown = await send(
                api, endpoint, world, url(endpoint, world, {name: str(uuid.uuid4())})
            )
            malformed = await send(api, endpoint, world, url(endpoint, world, {name: "not-an-id"}))
            case = f"{endpoint.method} {endpoint.path} {name}"
            failures.error(case + " unknown", unknown, 404)
            failures.check(
                unknown.json()["errors"][0]["code"] == malformed.json()["errors"][0]["code"],
                f"{case}: malformed {malformed.text} vs unknown",
                unknown,
            )
    failures.assert_none()


def test_every_path_parameter_has_an_id_rule(api: Api) -> None:
    """A new ``{param}`` gets a deliberate rule (what an id looks like, which 404 it answers),
    not the catch-all."""
    for endpoint in endpoints(api):
        for name in endpoint.params:
            assert rule_for(endpoint.path, name) is not PATH_ID_RULES[None], (endpoint, name)


# --- query parameters ----------------------------------------------------------------------

GENERIC_QUERIES = ("cursor", "after", "limit", "include", "sort", "state", "x")


async def test_nul_in_any_query_parameter_is_400(api: Api, world: World) -> None:
    failures = Failures()
    before = await snapshot(api)
    for endpoint in endpoints(api):
        for name in dict.fromkeys((*endpoint.queries, *GENERIC_QUERIES)):
            for value in ("a%00b", "%00"):
                path = f"{url(endpoint, world)}?{name}={value}"
                response = await send(api, endpoint, world, path, keyed=True)
                failures.error(f"{endpoint.method} {path}", response, 400)
        path = f"{url(endpoint, world)}?a%00=1"
        response = await send(api, endpoint, world, path, keyed=True)
        failures.error(f"{endpoint.method} {path}", response, 400)
    failures.assert_none()
    assert await snapshot(api) == before


HOSTILE_QUERY_VALUES = [
    "not-an-id",
    "9" * 400,
    "-1",
    "%FF%FE",
    "%ED%A0%80",
    "%C2%B2",
    "0198a0a0-0000-7000-8000-00000000000g",
    "1e3",
    "a" * 5000,
]


async def test_malformed_query_values_are_4xx_and_write_nothing(api: Api, world: World) -> None:
    failures = Failures()
    reads = [e for e in endpoints(api) if e.method == "GET" and e.queries]
    assert {"/orders", "/giftcards", "/events"} <= {e.path for e in reads}
    before = await snapshot(api)
    for endpoint in reads:
        for name in endpoint.queries:
            for value in HOSTILE_QUERY_VALUES:
                path = f"{url(endpoint, world)}?{name}={value}"
                response = await send(api, endpoint, world, path)
                # None of these is a value any query takes: a 200 would mean one was ignored.
                failures.error(f"GET {short(path)}", response)
    # Cursors are ids this API gave out: anything else is refused, not looked up.
    for path in ("/orders", "/giftcards"):
        for value in ("not-an-id", "0198a0a0-0000-7000-8000-00000000000g", "%ED%A0%80"):
            response = await api.client.get(f"{path}?cursor={value}", headers=world.server)
            failures.error(f"GET {path}?cursor={value}", response, 400)
    response = await api.client.get(f"/events?after={'9' * 30}", headers=world.server)
    failures.error("GET /events?after=9…9", response, 400)
    failures.assert_none()
    assert await snapshot(api) == before


# --- JSON bodies ---------------------------------------------------------------------------

Path = tuple[str | int, ...]


def leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def containers(value: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        yield path
        for key, item in value.items():
            yield from containers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from containers(item, (*path, index))


def replaced(body: Any, path: Path, new: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return body


def with_key(body: Any, path: Path, key: str) -> Any:
    body = copy.deepcopy(body)
    target = body
    for step in path:
        target = target[step]
    target[key] = "x"
    return body


def hostile_bodies(body: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """Raw JSON texts: json.dumps writes a lone surrogate as ``\\ud800`` and NaN as ``NaN``."""
    for path, value in leaves(body):
        where = ".".join(map(str, path))
        if isinstance(value, str):
            for bad in ("a\x00b", "\x00", "\ud800", "x\udfff"):
                yield f"{where}={bad!r}", json.dumps(replaced(body, path, bad)).encode()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            for text in ("NaN", "Infinity", "-Infinity", "1e999"):
                marker = "__number__"
                raw = json.dumps(replaced(body, path, marker)).replace(f'"{marker}"', text)
                yield f"{where}={text}", raw.encode()
    for path in containers(body):
        where = ".".join(map(str, path)) or "(top)"
        for key in ("a\x00", "\ud800"):
            yield f"{where}[{key!r}]", json.dumps(with_key(body, path, key)).encode()


async def test_nul_surrogates_and_non_finite_numbers_anywhere_in_a_body(
    api: Api, world: World
) -> None:
    failures = Failures()
    posts = [e for e in endpoints(api) if e.has_body]
    missing = [e.path for e in posts if sample_body(e, world) is None]
    assert not missing, f"add a sample body for {missing}"
    before = await snapshot(api)
    for endpoint in posts:
        body = sample_body(endpoint, world)
        assert body is not None
        path = url(endpoint, world)
        for case, raw in hostile_bodies(body):
            response = await send(api, endpoint, world, path, raw, raw=True, keyed=True)
            failures.check(response.status_code in (400, 422), f"{path} {case}", response)
            failures.error(f"{endpoint.method} {path} {case}", response)
    failures.assert_none()
    assert await snapshot(api) == before


BALANCES = {"/giftcards/balance": 200, "/balance": 404}
ID_FIELDS = {"idCart", "paymentIdentifier", "cartId", "lineItemId", "cardId", "code", "id"}
MALFORMED_IDS = [
    "not-an-id",
    "0198a0a0-0000-7000-8000-00000000000g",
    "../../etc/passwd",
    "\u202e💳",
    "' OR 1=1 --",
    "a" * 5000,
]


async def test_malformed_ids_in_bodies_are_4xx_and_write_nothing(api: Api, world: World) -> None:
    """Ids in bodies (``idCart``, ``paymentIdentifier``, ``cartId``, ``cartRef.id``, …) that
    cannot be ours are answered like unknown ones. Failed card lookups count against the
    caller's attempts, so only the rate-limit counters may move."""
    failures = Failures()
    before = await snapshot(api)
    seen: set[str] = set()
    for endpoint in (e for e in endpoints(api) if e.has_body):
        body = sample_body(endpoint, world)
        assert body is not None
        path = url(endpoint, world)
        for where, value in leaves(body):
            name = where[-1]
            if name not in ID_FIELDS or (name == "id" and where[-2] != "cartRef"):
                continue
            assert isinstance(value, str)
            seen.add(str(name))
            for bad in MALFORMED_IDS:
                response = await send(api, endpoint, world, path, replaced(body, where, bad))
                case = f"{endpoint.method} {path} {where}={short(bad)}"
                if endpoint.path in BALANCES and response.status_code == BALANCES[endpoint.path]:
                    # BalanceType answers an unknown code with state NotFound, as the seed does
                    # (the processor's with the template's 404)
                    state = response.json()["status"]["state"]
                    failures.check(state == "NotFound", case, response)
                    continue
                failures.error(case, response)
    failures.assert_none()
    assert seen == ID_FIELDS
    after = await snapshot(api)
    for table in (t.name for t in Base.metadata.sorted_tables):
        if table != "rate_limits":
            assert after[table] == before[table], table


OTHER_TYPES: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("-1", -1),
    ("0", 0),
    ("2**63", 2**63),
    ("1.5", 1.5),
    ("''", ""),
    ("'x'*5000", "x" * 5000),
    ("[]", []),
    ("[{}]", [{}]),
    ("{}", {}),
    ("{'a': [1]}", {"a": [1]}),
    ("'sNaN'", "sNaN"),  # a signalling NaN to Decimal
    ("'1e999999999'", "1e999999999"),
]


def confused_bodies(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every leaf as every other JSON type, every object without each of its keys, every list
    empty and doubled: what a client with the wrong idea of the document sends."""
    for path, value in leaves(body):
        where = ".".join(map(str, path))
        for name, other in OTHER_TYPES:
            if type(other) is not type(value) or other != value:
                yield f"{where}={name}", replaced(body, path, other)
    for path in containers(body):
        target = body
        for step in path:
            target = target[step]
        where = ".".join(map(str, path)) or "(top)"
        for key in target:
            trimmed = copy.deepcopy(body)
            holder = trimmed
            for step in path:
                holder = holder[step]
            del holder[key]
            yield f"{where} without {key}", trimmed
        for name, other in OTHER_TYPES:
            if path:
                yield f"{where}={name}", replaced(body, path, other)
    for path, value in _lists(body):
        where = ".".join(map(str, path))
        yield f"{where}=[]", replaced(body, path, [])
        yield f"{where} twice", replaced(body, path, value + value)
    for name, other in OTHER_TYPES:
        yield f"(top)={name}", other


def _lists(value: Any, path: Path = ()) -> Iterator[tuple[Path, list[Any]]]:
    if isinstance(value, list):
        yield path, value
        for index, item in enumerate(value):
            yield from _lists(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _lists(item, (*path, key))


async def test_any_part_of_a_body_of_the_wrong_type_or_missing_is_never_a_500(
    api: Api, world: World
) -> None:
    """Documents of the wrong shape reach each route's own parsing (the compat routes read
    nested documents of their seeds): each is answered, accepted (a key that may be left out)
    or refused in the error shape, never with a 500."""
    failures = Failures()
    cases = 0
    for endpoint in (e for e in endpoints(api) if e.has_body):
        body = sample_body(endpoint, world)
        assert body is not None
        path = url(endpoint, world)
        for case, document in confused_bodies(body):
            cases += 1
            raw = json.dumps(document).encode()
            response = await send(api, endpoint, world, path, raw, raw=True, keyed=True)
            if endpoint.path in BALANCES and response.status_code == BALANCES[endpoint.path]:
                state = response.json()["status"]["state"]  # the seed's answer to a bad code
                failures.check(state == "NotFound", f"{path} {case}", response)
            elif response.status_code >= 400:
                failures.error(f"{endpoint.method} {path} {case}", response)
            else:
                failures.check(response.status_code < 300, f"{path} {case}", response)
    failures.assert_none()
    assert cases > 1000, cases
