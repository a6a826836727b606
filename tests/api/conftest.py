"""An app per test over the test database, plus credentials for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tender.api.app import create_app
from tender.auth.jwt import mint_admin_token
from tender.auth.keys import SigningKey
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.domain.principals import parse_scopes
from tender.runtime import Runtime
from tests.conftest import FakeClock

SECRET = "api-test-secret-key-0123456789abcdefghijklmnop"
SIGNING_KEY = SigningKey.derive(SECRET.encode())
"""The key tender derives from ``SECRET`` and signs its admin JWTs with."""
ALL_SCOPES = (
    "manage_giftcards view_giftcards introspect_oauth_tokens manage_orders manage_payments "
    "view_sessions manage_checkout_payment_intents"
)


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: Runtime
    clock: FakeClock

    async def new_client(self, scopes: str = ALL_SCOPES) -> tuple[str, str]:
        client, secret = await self.runtime.db.transaction(
            lambda c: self.runtime.oauth.create_client(SqlClientStore(c), name="t", scopes=scopes)
        )
        return client.client_id, secret

    async def token(self, scopes: str = ALL_SCOPES) -> str:
        client_id, secret = await self.new_client(scopes)
        response = await self.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def headers(self, scopes: str = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(scopes)}"}

    def admin_jwt(
        self,
        scopes: str = ALL_SCOPES,
        *,
        ttl: timedelta = timedelta(minutes=5),
        key: SigningKey = SIGNING_KEY,
    ) -> str:
        return mint_admin_token(
            key=key,
            subject="ops@example.com",
            scopes=parse_scopes(scopes),
            ttl=ttl,
            now=self.clock.now(),
        )


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    clock = FakeClock()
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        sweep_interval_seconds=0,
        db_pool_size=5,
    )
    runtime = Runtime(settings, clock=clock)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime, clock)
    await runtime.close()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:  # type: ignore[type-arg]
    """The one error shape of the service, with the expected status and first code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], list)
    assert body["errors"]
    for item in body["errors"]:
        assert set(item) <= {"code", "message", "field"}
        assert item["code"]
        assert item["message"]
    if code is not None:
        assert body["errors"][0]["code"] == code, body
    return body  # type: ignore[no-any-return]


async def issue(
    api: Api, headers: dict[str, str], *, minor: int = 1000, **body: Any
) -> dict[str, Any]:
    """A gift card issued over the API, in EUR unless ``amount`` says otherwise."""
    body.setdefault("amount", {"centAmount": minor, "currency": "EUR"})
    response = await api.client.post("/giftcards", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def state(api: Api, headers: dict[str, str], card_id: str) -> tuple[Any, int]:
    """A card as the API shows it, and how many activities it has."""
    card = (await api.client.get(f"/giftcards/{card_id}", headers=headers)).json()
    activities = (await api.client.get(f"/giftcards/{card_id}/activities", headers=headers)).json()
    return card, len(activities["results"])
