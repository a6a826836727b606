"""Hostile input that a client can send and a database or a serializer may choke on.

NUL characters (PostgreSQL refuses them in text and JSONB), unpaired surrogates (no UTF-8 form),
non-finite JSON numbers (``NaN`` is valid to Python's parser, not to JSONB or to a strict JSON
encoder), integers past Python's 4300-digit parsing limit, Unicode digits that ``str.isdigit``
accepts and ``int`` does not, timestamps at the end of the calendar, nesting deeper than the
serializer goes. Each must get a 4xx in the error shape, never a 500, and change nothing.

Each test runs a list of cases against one app (a setup per case would dominate the run time);
every assertion names its case.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import jwt
import pytest

from tests.api.conftest import SIGNING_KEY, Api, assert_error, state

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
NUL = "\u0000"
EUR100 = '"amount": {"centAmount": 100, "currency": "EUR"}'


async def card_count(api: Api, headers: dict[str, str]) -> int:
    listing = await api.client.get("/giftcards?limit=500", headers=headers)
    return len(listing.json()["results"])


@pytest.fixture
async def setup(api: Api) -> tuple[Api, dict[str, str], str]:
    headers = await api.headers()
    response = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 1000, "currency": "EUR"}}, headers=headers
    )
    assert response.status_code == 201, response.text
    return api, headers, response.json()["id"]


# Raw JSON texts, since json.dumps would neither write NaN by request nor keep a lone surrogate.
HOSTILE_ISSUE_BODIES = [
    "{" + EUR100 + ', "metadata": {"x": NaN}}',
    "{" + EUR100 + ', "metadata": {"x": Infinity}}',
    "{" + EUR100 + ', "metadata": {"x": -Infinity}}',
    "{" + EUR100 + ', "metadata": {"x": 1e999}}',
    "{" + EUR100 + ', "metadata": {"x": "a\\u0000b"}}',
    "{" + EUR100 + ', "metadata": {"a\\u0000": 1}}',
    "{" + EUR100 + ', "metadata": {"x": ["\\ud800"]}}',
    "{" + EUR100 + ', "metadata": {"\\udfff": 1}}',
    "{" + EUR100 + ', "metadata": {"x": ' + "9" * 5000 + "}}",
    "{" + EUR100 + ', "pin": "12\\u000034"}',
    '{"amount": {"centAmount": 100, "currency": "E\\u0000R"}}',
    '{"amount": {"centAmount": 100, "currency": "\\ud800UR"}}',
    '{"amount": {"centAmount": 1' + "0" * 5000 + ', "currency": "EUR"}}',
    "{" + EUR100 + ', "expiresAt": "9999-12-31T23:59:59-12:00"}',
    "{" + EUR100 + ', "expiresAt": "0001-01-01T00:00:00+14:00"}',
]


async def test_hostile_issue_bodies_are_refused(api: Api) -> None:
    headers = await api.headers()
    for raw in HOSTILE_ISSUE_BODIES:
        response = await api.client.post(
            "/giftcards", content=raw.encode(), headers={**headers, **JSON}
        )
        assert response.status_code == 400, (raw[:120], response.text)
        assert_error(response, 400)
    assert await card_count(api, headers) == 0


HOSTILE_MOVEMENTS = [
    "{" + EUR100 + ', "reference": "r\\u0000"}',
    "{" + EUR100 + ', "reference": "\\udfff"}',
    '{"amount": {"centAmount": 100, "currency": "EUR", "type": "\\u0000"}}',
    '{"amount": {"centAmount": NaN, "currency": "EUR"}}',
    '{"amount": {"centAmount": 1e2, "currency": "EUR"}}',
    '{"amount": {"centAmount": 1' + "0" * 5000 + ', "currency": "EUR"}}',
    '{"amount": {"centAmount": -1' + "0" * 4000 + ', "currency": "EUR"}}',
    '{"amount": {"centAmount": 100, "currency": "EUR", "fractionDigits": Infinity}}',
]


async def test_hostile_money_movements_change_nothing(
    setup: tuple[Api, dict[str, str], str],
) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    for action in ("load", "adjust"):
        for raw in HOSTILE_MOVEMENTS:
            response = await api.client.post(
                f"/giftcards/{card_id}/{action}", content=raw.encode(), headers={**headers, **JSON}
            )
            assert response.status_code == 400, (action, raw[:120], response.text)
            assert_error(response, 400)
    assert await state(api, headers, card_id) == before


async def test_hostile_status_change_reasons_change_nothing(
    setup: tuple[Api, dict[str, str], str],
) -> None:
    api, headers, card_id = setup
    for action in ("disable", "enable"):
        before = await state(api, headers, card_id)
        for raw in ('{"reason": "\\u0000"}', '{"reason": "\\ud800"}', '{"reason": NaN}'):
            response = await api.client.post(
                f"/giftcards/{card_id}/{action}", content=raw.encode(), headers={**headers, **JSON}
            )
            assert response.status_code == 400, (action, raw, response.text)
            assert_error(response, 400)
        assert await state(api, headers, card_id) == before
        assert (await api.client.post(f"/giftcards/{card_id}/{action}", headers=headers)).is_success


async def test_hostile_balance_checks(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    for raw in (
        '{"code": "1234\\u00005678"}',
        '{"code": "\\ud800\\ud800\\ud800\\ud800"}',
        '{"code": "12345678", "pin": "\\ud800"}',
        '{"code": "12345678", "pin": "1\\u0000"}',
        '{"code": "12345678", "currency": "\\u0000UR"}',
    ):
        response = await api.client.post(
            "/giftcards/balance", content=raw.encode(), headers={**headers, **JSON}
        )
        assert response.status_code in (200, 400), (raw, response.text)
        if response.status_code == 200:
            assert response.json()["status"]["state"] == "NotFound", raw
        else:
            assert_error(response, 400)
    assert await state(api, headers, card_id) == before


HOSTILE_ID_PATHS = [
    ("/giftcards/%00", 400),
    ("/giftcards/0198a0a0-0000-7000-8000-00000000000%00", 400),
    ("/giftcards/%ED%A0%80", 404),
    ("/giftcards/%FF%FE", 404),
    ("/giftcards/" + "a" * 5000, 404),
]


async def test_hostile_card_ids(setup: tuple[Api, dict[str, str], str]) -> None:
    """A NUL is refused (400); an id that cannot be a card's is not found (404)."""
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    amount = {"amount": {"centAmount": 1, "currency": "EUR"}}
    for path, status in HOSTILE_ID_PATHS:
        for method, suffix, body in (
            ("GET", "", None),
            ("GET", "/activities", None),
            ("POST", "/load", amount),
            ("POST", "/adjust", amount),
            ("POST", "/disable", None),
            ("POST", "/enable", None),
        ):
            response = await api.client.request(method, path + suffix, json=body, headers=headers)
            assert response.status_code == status, (method, path[:60] + suffix, response.text)
            assert_error(response, status)
    assert await state(api, headers, card_id) == before


async def test_hostile_list_queries_are_400(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, _ = setup
    for query in (
        "cursor=%00",
        "cursor=0198a0a0-0000-7000-8000-00000000000%00",
        "cursor=%ED%A0%80",
        "cursor=not-a-card-id",
        "currency=%00UR",
        "currency=%ED%A0%80",
        "status=%00",
        "limit=%00",
        "limit=" + "9" * 400,
    ):
        response = await api.client.get(f"/giftcards?{query}", headers=headers)
        assert response.status_code == 400, (query[:60], response.text)
        assert_error(response, 400)


async def test_activity_cursors_that_are_not_ours(
    setup: tuple[Api, dict[str, str], str],
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: a cursor must be ASCII digits."""
    api, headers, card_id = setup
    for cursor in ("%C2%B2", "%D9%A1%D9%A2", "%EF%BC%91", "%00", "-1", "1e3", "9" * 19):
        response = await api.client.get(
            f"/giftcards/{card_id}/activities?cursor={cursor}", headers=headers
        )
        assert response.status_code == 400, (cursor, response.text)
        assert_error(response, 400)


CREDENTIALS: list[tuple[dict[str, str], str | None]] = [
    ({"client_id": NUL, "client_secret": "x"}, None),
    ({"client_id": "tnd_" + NUL, "client_secret": NUL}, None),
    ({"client_id": "\ud800", "client_secret": "x"}, None),
    ({"client_id": "x", "client_secret": "\udfff"}, None),
    ({}, base64.b64encode(b"\x00:\x00").decode()),
    ({}, base64.b64encode(b"tnd_\x00x:secret").decode()),
    ({}, base64.b64encode(b"\xff\xfe:x").decode()),
    ({}, "!!!not-base64!!!"),
    ({}, ""),
]


async def test_hostile_client_credentials_are_invalid_client(api: Api) -> None:
    for data, basic in CREDENTIALS:
        headers = dict(FORM)
        if basic is not None:
            headers["Authorization"] = f"Basic {basic}"
        form = urlencode(
            {"grant_type": "client_credentials", **data}, encoding="utf-8", errors="surrogatepass"
        )
        response = await api.client.post("/oauth/token", content=form.encode(), headers=headers)
        assert response.status_code == 401, (data, basic, response.text)
        body = assert_error(response, 401, "invalid_client")
        assert body["error"] == "invalid_client"
        intro = await api.client.post(
            "/oauth/introspect", content=f"token=x&{form}".encode(), headers=headers
        )
        assert intro.status_code == 401, (data, basic, intro.text)
        assert_error(intro, 401)


async def test_hostile_bearer_tokens_are_401(api: Api) -> None:
    for token in (
        "tnd_at_%00",
        "tnd_at_" + "\u00ff" * 10,
        "a.b.c",
        "..",
        "e30.e30.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.",  # alg none
    ):
        response = await api.client.get(
            "/giftcards", headers={"Authorization": f"Bearer {token}".encode("latin-1")}
        )
        assert response.status_code == 401, (token, response.text)
        assert_error(response, 401, "invalid_token")
        assert response.headers["www-authenticate"].startswith('Bearer realm="tender"')


def signed(claims: dict[str, object]) -> str:
    """Signed with tender's own key, naming tender as issuer and audience."""
    body = {"iss": "tender", "aud": "tender", **claims}
    return jwt.encode(
        body, SIGNING_KEY.private, algorithm="EdDSA", headers={"kid": SIGNING_KEY.kid}
    )


async def test_signed_but_malformed_admin_jwts_are_401(api: Api) -> None:
    """Whoever holds the key can still send nonsense claims; they get 401, not 500."""
    later = 4102444800
    for claims in (
        {"sub": "ops", "scope": "view_giftcards", "exp": 1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": -1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": float("nan")},
        {"sub": "ops", "scope": "view_giftcards", "exp": "soon"},
        {"sub": "ops", "scope": "view_giftcards", "exp": [1]},
        {"sub": "ops", "scope": "view_giftcards", "exp": later, "nbf": 1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": later, "nbf": "x"},
        {"sub": ["ops"], "scope": "view_giftcards", "exp": later},
        {"sub": "ops", "scope": {"a": 1}, "exp": later},
        {"sub": "ops", "scope": "root", "exp": later},
        {"scope": "view_giftcards", "exp": later},
    ):
        token = signed(claims)
        response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (claims, response.text)
        assert_error(response, 401, "invalid_token")


async def test_admin_jwt_at_the_clock_edges(api: Api) -> None:
    now = api.clock.now()
    far = signed({"sub": "ops", "scope": "view_giftcards", "exp": datetime(9999, 1, 1, tzinfo=UTC)})
    response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {far}"})
    assert_error(response, 401, "invalid_token")  # valid for longer than the maximum lifetime
    for lifetime, status in ((timedelta(days=6, hours=23), 200), (timedelta(days=7, hours=1), 401)):
        token = signed({"sub": "ops", "scope": "view_giftcards", "exp": now + lifetime})
        response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status, (lifetime, response.text)
    stale = signed({"sub": "ops", "scope": "view_giftcards", "exp": now - timedelta(minutes=1)})
    response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {stale}"})
    assert_error(response, 401, "invalid_token")


async def test_deeply_nested_metadata(api: Api) -> None:
    """Deep nesting is refused up front: once stored, a card whose answer cannot be serialized
    would be issued with its code lost."""
    headers = await api.headers()
    shallow = "[" * 20 + "]" * 20
    raw = "{" + EUR100 + ', "metadata": {"x": ' + shallow + "}}"
    stored = await api.client.post("/giftcards", content=raw.encode(), headers={**headers, **JSON})
    assert stored.status_code == 201, stored.text
    card = await api.client.get(f"/giftcards/{stored.json()['id']}", headers=headers)
    assert card.json()["metadata"]["x"] == json.loads(shallow)
    for depth in (40, 300, 900, 2000, 200_000):
        nested = "[" * depth + "]" * depth
        raw = "{" + EUR100 + ', "metadata": {"x": ' + nested + "}}"
        response = await api.client.post(
            "/giftcards", content=raw.encode(), headers={**headers, **JSON}
        )
        assert response.status_code == 400, (depth, response.text[:300])
        assert_error(response, 400)
    assert await card_count(api, headers) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/giftcards",
        "/giftcards/balance",
        "/carts",
        "/orders",
        "/sessions",
        "/shipping-methods",
        "/api/checkout/v1/orders/some-cart/payments",
        "/session/giftcards",
    ],
)
async def test_who_calls_is_checked_before_what_is_sent(api: Api, path: str) -> None:
    """A caller without valid credentials learns nothing about the body: 401, not 400. A caller
    with too narrow a token gets 403 before the body is looked at."""
    headers = await api.headers()
    before = await card_count(api, headers)
    malformed = b'{"amount": {"centAmount": 1'
    browser = path.startswith("/session/")
    for credentials in (
        {},
        {"X-Session-Id": "tnd_sess_made-up"} if browser else {"Authorization": "Bearer nonsense"},
    ):
        response = await api.client.post(path, content=malformed, headers={**JSON, **credentials})
        assert response.status_code == 401, (path, credentials, response.text)
        assert_error(response, 401)
    if not browser:
        narrow = await api.headers("view_sessions")
        response = await api.client.post(path, content=malformed, headers={**JSON, **narrow})
        assert_error(response, 403, "insufficient_scope")
    assert await card_count(api, headers) == before
