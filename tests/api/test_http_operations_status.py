"""``GET /operations/status``: a JWT only; the database, the gift card provider and the
processor's API client checked side by side, each within the configured time; 503 when the
answer is an error, and nothing secret in a failed check's details."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tender.api.app import create_app
from tender.runtime import Runtime
from tests.api.conftest import ALL_SCOPES, Api, assert_error
from tests.api.journeys import browser, ready_cart
from tests.api.operations_setup import api_with_standin

STATUS = "/operations/status"
CHECKS = ["Database", "Giftcard provider status check", "CoCo Permissions"]


def jwt_headers(api: Api, scopes: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.admin_jwt(scopes)}"}


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in body["checks"]}


async def test_all_up_is_ok(api: Api) -> None:
    await api.new_client(ALL_SCOPES)  # the merchant's checkout client
    response = await api.client.get(STATUS, headers=jwt_headers(api))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "timestamp", "version", "metadata", "checks"}
    assert body["status"] == "OK"
    assert body["timestamp"] == "2026-01-01T12:00:00.000Z"  # the service's clock
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"])
    assert body["metadata"]["name"] == "tender"
    assert body["metadata"]["description"]
    assert [c["name"] for c in body["checks"]] == CHECKS
    assert {c["status"] for c in body["checks"]} == {"UP"}
    assert by_name(body)["Giftcard provider status check"]["details"] == {"provider": "ledger"}


async def test_without_a_processor_client_it_is_partially_available(api: Api) -> None:
    await api.new_client("manage_orders manage_payments")  # lacks manage_checkout_payment_intents
    response = await api.client.get(STATUS, headers=jwt_headers(api))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Partially Available"
    permissions = by_name(body)["CoCo Permissions"]
    assert permissions["status"] == "DOWN"
    assert permissions["details"]["error"]["code"] == "MissingPermissions"
    assert "manage_checkout_payment_intents" in permissions["details"]["error"]["message"]


async def test_only_a_jwt_may_ask(api: Api) -> None:
    h = await api.headers()
    session = await browser(api, h, (await ready_cart(api, h, unit=100))["id"])
    assert_error(await api.client.get(STATUS), 401)
    assert_error(await api.client.get(STATUS, headers=h), 401, "invalid_token")  # OAuth client
    assert_error(await api.client.get(STATUS, headers=session), 401)
    as_bearer = {"Authorization": f"Bearer {session['X-Session-Id']}"}
    assert_error(await api.client.get(STATUS, headers=as_bearer), 401, "invalid_token")
    expired = api.admin_jwt(ttl=timedelta(minutes=-5))
    bad = {"Authorization": f"Bearer {expired}"}
    assert_error(await api.client.get(STATUS, headers=bad), 401, "invalid_token")


async def test_a_failing_provider_is_down_and_an_error(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_with_standin(db, monkeypatch) as (api, plan):
        await api.new_client(ALL_SCOPES)
        plan.status = "fail"
        response = await api.client.get(STATUS, headers=jwt_headers(api))
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "Error"
        provider = by_name(body)["Giftcard provider status check"]
        assert provider["status"] == "DOWN"
        assert provider["details"]["error"]["code"] == "Unavailable"
        assert "giftcards.internal" not in response.text  # the error's text stays inside
        assert "sk_live" not in response.text
        assert by_name(body)["Database"]["status"] == "UP"
        plan.status = "up"
        assert (await api.client.get(STATUS, headers=jwt_headers(api))).json()["status"] == "OK"


async def test_a_hanging_check_is_down_within_the_timeout(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_with_standin(db, monkeypatch, operations_status_timeout_seconds=0.3) as (
        api,
        plan,
    ):
        await api.new_client(ALL_SCOPES)
        plan.status = "hang"
        started = time.monotonic()
        response = await api.client.get(STATUS, headers=jwt_headers(api))
        assert time.monotonic() - started < 3
        assert response.status_code == 503, response.text
        provider = by_name(response.json())["Giftcard provider status check"]
        assert provider["status"] == "DOWN"
        assert provider["details"]["error"] == {
            "code": "Timeout",
            "message": "no answer within 0.3 s",
        }
        plan.status = "up"  # the service is still fine afterwards
        assert (await api.client.get(STATUS, headers=jwt_headers(api))).status_code == 200


async def test_without_a_database_everything_is_down(api: Api, tmp_path: Path) -> None:
    settings = api.runtime.settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such.db'}"}
    )
    runtime = Runtime(settings, clock=api.clock)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(STATUS, headers=jwt_headers(api))
    finally:
        await runtime.close()
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "Error"
    assert {c["status"] for c in body["checks"]} == {"DOWN"}
