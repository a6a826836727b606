"""Hostile input that a client can send and a database or a serializer may choke on.

NUL characters (PostgreSQL refuses them in text and JSONB), unpaired surrogates (no UTF-8 form),
non-finite JSON numbers (``NaN`` is valid to Python's parser, not to JSONB or to a strict JSON
encoder), Unicode digits that ``str.isdigit`` accepts and ``int`` does not, timestamps at the end
of the calendar. Each must get a 4xx in the error shape, never a 500, and change nothing.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from tests.api.conftest import JWT_SECRET, Api, assert_error

JSON = {"content-type": "application/json"}
NUL = "\u0000"


async def state(api: Api, headers: dict[str, str], card_id: str) -> tuple[Any, int]:
    card = (await api.client.get(f"/giftcards/{card_id}", headers=headers)).json()
    activities = (await api.client.get(f"/giftcards/{card_id}/activities", headers=headers)).json()
    return card, len(activities["results"])


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
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": NaN}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": Infinity}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": 1e999}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": "a\\u0000b"}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"a\\u0000": 1}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": ["\\ud800"]}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "pin": "12\\u000034"}',
    '{"amount": {"centAmount": 100, "currency": "E\\u0000R"}}',
    '{"amount": {"centAmount": 100, "currency": "\\ud800UR"}}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "expiresAt": "9999-12-31T23:59:59-12:00"}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "expiresAt": "0001-01-01T00:00:00+14:00"}',
]


@pytest.mark.parametrize("raw", HOSTILE_ISSUE_BODIES)
async def test_hostile_issue_bodies_are_refused(api: Api, raw: str) -> None:
    headers = await api.headers()
    response = await api.client.post(
        "/giftcards", content=raw.encode(), headers={**headers, **JSON}
    )
    assert_error(response, 400)
    assert await card_count(api, headers) == 0


HOSTILE_MOVEMENTS = [
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "reference": "r\\u0000"}',
    '{"amount": {"centAmount": 100, "currency": "EUR"}, "reference": "\\udfff"}',
    '{"amount": {"centAmount": 100, "currency": "EUR", "type": "\\u0000"}}',
    '{"amount": {"centAmount": NaN, "currency": "EUR"}}',
    '{"amount": {"centAmount": 1e2, "currency": "EUR"}}',
    '{"amount": {"centAmount": 100, "currency": "EUR", "fractionDigits": Infinity}}',
]


@pytest.mark.parametrize("raw", HOSTILE_MOVEMENTS)
@pytest.mark.parametrize("action", ["load", "adjust"])
async def test_hostile_money_movements_change_nothing(
    setup: tuple[Api, dict[str, str], str], action: str, raw: str
) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    response = await api.client.post(
        f"/giftcards/{card_id}/{action}", content=raw.encode(), headers={**headers, **JSON}
    )
    assert_error(response, 400)
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize("action", ["disable", "enable"])
async def test_hostile_status_change_reasons_change_nothing(
    setup: tuple[Api, dict[str, str], str], action: str
) -> None:
    api, headers, card_id = setup
    if action == "enable":
        assert (await api.client.post(f"/giftcards/{card_id}/disable", headers=headers)).is_success
    before = await state(api, headers, card_id)
    for raw in ('{"reason": "\\u0000"}', '{"reason": "\\ud800"}', '{"reason": NaN}'):
        response = await api.client.post(
            f"/giftcards/{card_id}/{action}", content=raw.encode(), headers={**headers, **JSON}
        )
        assert_error(response, 400)
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"code": "1234\\u00005678"}',
        '{"code": "\\ud800\\ud800\\ud800\\ud800"}',
        '{"code": "12345678", "pin": "\\ud800"}',
        '{"code": "12345678", "pin": "1\\u0000"}',
        '{"code": "12345678", "currency": "\\u0000UR"}',
    ],
)
async def test_hostile_balance_checks(setup: tuple[Api, dict[str, str], str], raw: str) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    response = await api.client.post(
        "/giftcards/balance", content=raw.encode(), headers={**headers, **JSON}
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["status"]["state"] == "NotFound"
    else:
        assert_error(response, 400)
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize(
    "path",
    [
        "/giftcards/%00",
        "/giftcards/0198a0a0-0000-7000-8000-00000000000%00",
        "/giftcards/%00/activities",
        "/giftcards/%ED%A0%80",
        "/giftcards/%FF%FE",
        "/giftcards/" + "a" * 5000,
    ],
)
async def test_hostile_card_ids_are_404(api: Api, path: str) -> None:
    headers = await api.headers()
    assert_error(await api.client.get(path, headers=headers), 404)
    for action in ("load", "adjust"):
        response = await api.client.post(
            f"{path}/{action}".replace("/activities/", "/"),
            json={"amount": {"centAmount": 1, "currency": "EUR"}},
            headers=headers,
        )
        assert response.status_code in (404, 405), response.text
        assert_error(response, response.status_code)
    disable = await api.client.post(f"{path}/disable", headers=headers)
    assert disable.status_code in (404, 405), disable.text
    assert_error(disable, disable.status_code)


@pytest.mark.parametrize(
    "query",
    [
        "cursor=%00",
        "cursor=0198a0a0-0000-7000-8000-00000000000%00",
        "cursor=%ED%A0%80",
        "currency=%00UR",
        "currency=%ED%A0%80",
        "status=%00",
        "limit=%00",
        "limit=" + "9" * 400,
    ],
)
async def test_hostile_list_queries_are_400(
    setup: tuple[Api, dict[str, str], str], query: str
) -> None:
    api, headers, _ = setup
    assert_error(await api.client.get(f"/giftcards?{query}", headers=headers), 400)


@pytest.mark.parametrize(
    "cursor", ["%C2%B2", "%D9%A1%D9%A2", "%00", "-1", "1e3", "9" * 19, "%EF%BC%91"]
)
async def test_activity_cursors_that_are_not_ours(
    setup: tuple[Api, dict[str, str], str], cursor: str
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: a cursor must be ASCII digits."""
    api, headers, card_id = setup
    response = await api.client.get(
        f"/giftcards/{card_id}/activities?cursor={cursor}", headers=headers
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    ("data", "basic"),
    [
        ({"client_id": NUL, "client_secret": "x"}, None),
        ({"client_id": "tnd_" + NUL, "client_secret": NUL}, None),
        ({"client_id": "\ud800", "client_secret": "x"}, None),
        ({"client_id": "x", "client_secret": "\udfff"}, None),
        ({}, base64.b64encode(b"\x00:\x00").decode()),
        ({}, base64.b64encode(b"\xff\xfe:x").decode()),
        ({}, "!!!not-base64!!!"),
        ({}, ""),
    ],
)
async def test_hostile_client_credentials_are_invalid_client(
    api: Api, data: dict[str, str], basic: str | None
) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if basic is not None:
        headers["Authorization"] = f"Basic {basic}"
    from urllib.parse import urlencode

    form = urlencode(
        {"grant_type": "client_credentials", **data}, encoding="utf-8", errors="surrogatepass"
    )
    response = await api.client.post("/oauth/token", content=form.encode(), headers=headers)
    body = assert_error(response, 401, "invalid_client")
    assert body["error"] == "invalid_client"
    intro = await api.client.post(
        "/oauth/introspect", content=f"token=x&{form}".encode(), headers=headers
    )
    assert intro.status_code in (400, 401), intro.text
    assert_error(intro, intro.status_code)


@pytest.mark.parametrize(
    "token",
    [
        "tnd_at_%00",
        "tnd_at_" + "\u00ff" * 10,
        "a.b.c",
        "..",
        "e30.e30.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.",
    ],
)
async def test_hostile_bearer_tokens_are_401(api: Api, token: str) -> None:
    response = await api.client.get(
        "/giftcards", headers={"Authorization": f"Bearer {token}".encode("latin-1")}
    )
    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith('Bearer realm="tender"')


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "ops", "scope": "view_giftcards", "exp": 1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": float("nan")},
        {"sub": "ops", "scope": "view_giftcards", "exp": "soon"},
        {"sub": "ops", "scope": "view_giftcards", "exp": [1]},
        {"sub": "ops", "scope": "view_giftcards", "exp": 10**30},
        {"sub": "ops", "scope": "view_giftcards", "exp": 4102444800, "iat": 1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": 4102444800, "nbf": 1e400},
        {"sub": "ops", "scope": "view_giftcards", "exp": 4102444800, "nbf": "x"},
        {"sub": ["ops"], "scope": "view_giftcards", "exp": 4102444800},
        {"sub": "ops", "scope": {"a": 1}, "exp": 4102444800},
        {"sub": "ops", "scope": "root", "exp": 4102444800},
        {"scope": "view_giftcards", "exp": 4102444800},
    ],
)
async def test_signed_but_malformed_admin_jwts_are_401(api: Api, claims: dict[str, Any]) -> None:
    """Whoever holds the key can still send nonsense claims; they get 401, not 500."""
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "invalid_token")


async def test_admin_jwt_at_the_clock_edges(api: Api) -> None:
    now = api.clock.now()
    far = jwt.encode(
        {"sub": "ops", "scope": "view_giftcards", "exp": datetime(9999, 1, 1, tzinfo=UTC)},
        JWT_SECRET,
        algorithm="HS256",
    )
    response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {far}"})
    assert response.status_code == 200, response.text
    stale = jwt.encode(
        {"sub": "ops", "scope": "view_giftcards", "exp": now - timedelta(minutes=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {stale}"})
    assert_error(response, 401, "invalid_token")
