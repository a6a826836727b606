"""Apps with payment settings of their own (simulator, provider, environment) and a provider
that signs its callbacks, for the payment safety tests (their shops: ``tests.api.journeys``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.runtime import Runtime
from tender.services.external_payments import callback_signature
from tests.api.conftest import SECRET, Api
from tests.conftest import FakeClock

PROVIDER_SECRET = "provider-secret-for-tests-0123456789abcdefghij"
PROVIDER_URL = "https://pay.example/checkout/{paymentId}?amount={centAmount}&currency={currency}"
WITH_PROVIDER: dict[str, Any] = {
    "redirect_provider_url": PROVIDER_URL,
    "redirect_provider_secret": PROVIDER_SECRET,
}


@contextlib.asynccontextmanager
async def api_with(db: Database, **overrides: Any) -> AsyncIterator[Api]:
    """The ``api`` fixture's app, with ``overrides`` applied to its settings."""
    clock = FakeClock()
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": db.url,
        "secret_key": SECRET,
        "sweep_interval_seconds": 0,
        "db_pool_size": 5,
        **overrides,
    }
    runtime = Runtime(Settings(**values), clock=clock)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, runtime, clock)
    finally:  # a failed test's pool is closed too, or the next test fails on its connections
        await runtime.close()


def signed(
    api: Api, body: dict[str, Any] | bytes, *, secret: str = PROVIDER_SECRET, age: int = 0
) -> tuple[bytes, dict[str, str]]:
    """A callback body and the headers the provider sends with it, signed ``age`` seconds ago."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(api.clock.now().timestamp()) - age)
    headers = {
        "X-Tender-Timestamp": timestamp,
        "X-Tender-Signature": callback_signature(secret.encode(), timestamp, raw),
        "Content-Type": "application/json",
    }
    return raw, headers


def callback_body(payment_id: str, minor: int, status: str = "authorized") -> dict[str, Any]:
    return {
        "paymentId": payment_id,
        "status": status,
        "amount": {"centAmount": minor, "currency": "EUR"},
        "providerReference": "psp-4711",
    }
