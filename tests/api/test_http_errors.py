"""Bad input on every endpoint: the one error shape, the right 4xx, and nothing changed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Api, assert_error, state

MIB = 1024 * 1024


@pytest.fixture
async def setup(api: Api) -> tuple[Api, dict[str, str], str]:
    headers = await api.headers()
    response = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 1000, "currency": "EUR"}}, headers=headers
    )
    return api, headers, response.json()["id"]


BAD_MONEY: list[tuple[Any, int, str]] = [
    ({"centAmount": "12", "currency": "EUR"}, 400, "InvalidField"),
    ({"centAmount": 12.5, "currency": "EUR"}, 400, "InvalidField"),
    ({"centAmount": True, "currency": "EUR"}, 400, "InvalidField"),
    ({"centAmount": None, "currency": "EUR"}, 400, "InvalidField"),
    ({"currency": "EUR"}, 400, "MissingField"),
    ({"centAmount": 100}, 400, "InvalidInput"),
    ({"centAmount": 100, "currency": "XYZ"}, 400, "InvalidCurrency"),
    ({"centAmount": 100, "currency": "eur"}, 400, "InvalidCurrency"),
    ({"centAmount": 100, "currency": "EUR", "fractionDigits": 3}, 400, "InvalidAmount"),
    ({"centAmount": 0, "currency": "EUR"}, 400, "InvalidAmount"),
    ({"centAmount": -100, "currency": "EUR"}, 400, "InvalidAmount"),
    ({"centAmount": 10**14, "currency": "EUR"}, 400, "InvalidAmount"),
    ({"centAmount": 10**30, "currency": "EUR"}, 400, "InvalidAmount"),
    ({"centAmount": 100, "currency": "EUR", "extra": 1}, 400, "InvalidField"),
    ({"centAmount": 100, "currency": "EUR", "currencyCode": "USD"}, 400, "InvalidInput"),
    ({"centAmount": 100, "currency": "USD"}, 422, "CurrencyMismatch"),
    ({"centAmount": 100, "currency": "JPY", "fractionDigits": 2}, 400, "InvalidAmount"),
    ("100", 400, "InvalidField"),
]


@pytest.mark.parametrize(("amount", "status", "code"), BAD_MONEY)
async def test_bad_amounts_on_load_change_nothing(
    setup: tuple[Api, dict[str, str], str], amount: Any, status: int, code: str
) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    response = await api.client.post(
        f"/giftcards/{card_id}/load", json={"amount": amount}, headers=headers
    )
    assert_error(response, status, code)
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": {"centAmount": -1001, "currency": "EUR"}}, 422, "InsufficientFunds"),
        ({"amount": {"centAmount": 0, "currency": "EUR"}}, 400, "InvalidAmount"),
        ({"amount": {"centAmount": 5, "currency": "SEK"}}, 422, "CurrencyMismatch"),
        (
            {"amount": {"centAmount": 5, "currency": "EUR"}, "reference": "x" * 201},
            400,
            "InvalidField",
        ),
        ({}, 400, "MissingField"),
    ],
)
async def test_bad_adjustments_change_nothing(
    setup: tuple[Api, dict[str, str], str], body: dict[str, Any], status: int, code: str
) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    response = await api.client.post(f"/giftcards/{card_id}/adjust", json=body, headers=headers)
    assert_error(response, status, code)
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize(
    "body",
    [
        {"amount": {"centAmount": 100, "currency": "EUR"}, "count": 0},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "count": 1001},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "count": "2"},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "pin": "12"},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "pin": "1234", "count": 2},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "expiresAt": "2020-01-01T00:00:00Z"},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "expiresAt": "2030-01-01T00:00:00"},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "pinRequired": "yes"},
        {"amount": {"centAmount": 100, "currency": "EUR"}, "metadata": {"x": "y" * 9000}},
        {"amount": {"centAmount": -1, "currency": "EUR"}},
        {"amount": {"centAmount": 1, "currency": "ZZZ"}},
        {"amount": {"centAmount": 1, "currency": "EUR"}, "unknown": True},
        {},
        [],
    ],
)
async def test_bad_issue_requests_issue_nothing(api: Api, body: Any) -> None:
    headers = await api.headers()
    response = await api.client.post("/giftcards", json=body, headers=headers)
    assert_error(response, 400)
    listing = (await api.client.get("/giftcards", headers=headers)).json()
    assert listing["results"] == []


async def test_malformed_json_and_wrong_content(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    for content in (b"{", b'{"amount": }', b"\xff\xfe", b"null", b"[1,2]"):
        response = await api.client.post(
            f"/giftcards/{card_id}/load",
            content=content,
            headers={**headers, "content-type": "application/json"},
        )
        assert_error(response, 400)
    malformed = await api.client.post(
        "/giftcards", content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert_error(malformed, 400, "InvalidJsonInput")
    assert await state(api, headers, card_id) == before


async def test_illegal_state_changes_are_409(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, card_id = setup
    assert (await api.client.post(f"/giftcards/{card_id}/disable", headers=headers)).is_success
    before = await state(api, headers, card_id)
    assert_error(
        await api.client.post(f"/giftcards/{card_id}/disable", headers=headers),
        409,
        "GiftCardStatusUnchanged",
    )
    load = await api.client.post(
        f"/giftcards/{card_id}/load",
        json={"amount": {"centAmount": 1, "currency": "EUR"}},
        headers=headers,
    )
    assert_error(load, 422, "GiftCardDisabled")
    assert await state(api, headers, card_id) == before


async def test_bodies_over_one_mib_are_refused(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, card_id = setup
    before = await state(api, headers, card_id)
    big = json.dumps({"amount": {"centAmount": 1, "currency": "EUR"}, "reference": "x" * MIB})
    declared = await api.client.post(
        f"/giftcards/{card_id}/load",
        content=big.encode(),
        headers={**headers, "content-type": "application/json"},
    )
    assert_error(declared, 413, "PayloadTooLarge")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * (MIB // 10)

    streamed = await api.client.post(
        f"/giftcards/{card_id}/load",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert_error(streamed, 413, "PayloadTooLarge")
    assert await state(api, headers, card_id) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/nowhere", None, 404, "ResourceNotFound"),
        ("DELETE", "/giftcards", None, 405, "MethodNotAllowed"),
        ("POST", "/giftcards/balance", {"code": "x" * 200}, 400, "InvalidField"),
        ("POST", "/giftcards/balance", {"pin": "1234"}, 400, "MissingField"),
        ("POST", "/giftcards/balance", {"code": "1234", "currency": "XX"}, 400, "InvalidCurrency"),
        ("GET", "/giftcards?limit=0", None, 400, "InvalidField"),
        ("GET", "/giftcards?limit=abc", None, 400, "InvalidField"),
        ("GET", "/giftcards?status=lost", None, 400, "InvalidField"),
        ("GET", "/giftcards?currency=EURO", None, 400, "InvalidCurrency"),
        ("GET", f"/giftcards?cursor={'x' * 40}", None, 400, "InvalidField"),
        ("POST", "/giftcards/x/explode", None, 404, "ResourceNotFound"),
    ],
)
async def test_other_bad_requests(
    api: Api, method: str, path: str, body: Any, status: int, code: str
) -> None:
    headers = await api.headers()
    response = await api.client.request(method, path, json=body, headers=headers)
    assert_error(response, status, code)


async def test_activity_cursor_must_be_ours(setup: tuple[Api, dict[str, str], str]) -> None:
    api, headers, card_id = setup
    response = await api.client.get(f"/giftcards/{card_id}/activities?cursor=abc", headers=headers)
    assert_error(response, 400, "InvalidInput")


async def test_correlation_id_is_echoed_or_made(api: Api) -> None:
    given = await api.client.get("/health", headers={"X-Correlation-ID": "shop-req-42"})
    assert given.headers["x-correlation-id"] == "shop-req-42"
    made = await api.client.get("/health")
    assert len(made.headers["x-correlation-id"]) == 36
    for kept in ("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", "shop/req/42", "req 42", "a+b/c=="):
        echoed = await api.client.get("/health", headers={"X-Correlation-ID": kept})
        assert echoed.headers["x-correlation-id"] == kept
    for hostile in ("bad value\tx", " lead", "trail ", "x" * 129, "caf\u00e9"):
        raw = hostile.encode("utf-8")
        answered = await api.client.get("/health", headers=[(b"X-Correlation-ID", raw)])
        assert answered.headers["x-correlation-id"].encode() != raw, hostile
        assert len(answered.headers["x-correlation-id"]) == 36
    error = await api.client.get("/nowhere", headers={"X-Correlation-ID": "err-1"})
    assert error.headers["x-correlation-id"] == "err-1"


async def test_health_ready_and_openapi(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["schemaRevision"]
    spec = (await api.client.get("/openapi.json")).json()
    assert "/giftcards" in spec["paths"]
    assert "/oauth/token" in spec["paths"]
    issue = spec["paths"]["/giftcards"]["post"]
    assert {"201", "400", "401", "403"} <= set(issue["responses"])
