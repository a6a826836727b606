"""Apps with payment settings of their own (simulator, provider, environment), a provider that
signs its callbacks, and a shop ready to check out, for the payment safety tests."""

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
from tests.api.conftest import JWT_SECRET, SECRET, Api
from tests.conftest import FakeClock
from tests.helpers import ADDRESS

PROVIDER_SECRET = "provider-secret-for-tests-0123456789abcdefghij"
PROVIDER_URL = "https://pay.example/checkout/{paymentId}?amount={centAmount}&currency={currency}"
ORIGIN = "https://shop.example"
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
        "jwt_secret": JWT_SECRET,
        "sweep_interval_seconds": 0,
        "db_pool_size": 5,
        **overrides,
    }
    runtime = Runtime(Settings(**values), clock=clock)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime, clock)
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


async def card(api: Api, h: dict[str, str], minor: int) -> dict[str, Any]:
    response = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": minor, "currency": "EUR"}}, headers=h
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def held(api: Api, h: dict[str, str], card_id: str) -> tuple[int, int]:
    body = (await api.client.get(f"/giftcards/{card_id}", headers=h)).json()["balance"]
    return body["posted"]["centAmount"], body["held"]["centAmount"]


async def shipping_method(api: Api, h: dict[str, str]) -> int:
    response = await api.client.post(
        "/shipping-methods",
        json={
            "name": "Standard",
            "carrierName": "DHL",
            "price": {"centAmount": 490, "currency": "EUR"},
            "taxRate": "19.00",
            "countries": ["DE"],
        },
        headers=h,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def ready_cart(api: Api, h: dict[str, str], *, unit: int, shipping: int) -> dict[str, Any]:
    """A cart of one line of ``unit`` plus 4.90 shipping, with addresses and an email."""
    created = await api.client.post(
        "/carts",
        json={
            "currency": "EUR",
            "country": "DE",
            "customerEmail": "ada@example.com",
            "lineItems": [
                {
                    "sku": "TEA",
                    "name": "Tea",
                    "quantity": 1,
                    "price": {"centAmount": unit, "currency": "EUR"},
                    "taxRate": "19.00",
                }
            ],
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    cart = created.json()
    updated = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": cart["version"],
            "actions": [
                {"action": "setShippingAddress", "address": ADDRESS},
                {"action": "setBillingAddress", "address": ADDRESS},
                {"action": "setShippingMethod", "shippingMethodId": shipping},
            ],
        },
        headers=h,
    )
    assert updated.status_code == 200, updated.text
    return updated.json()  # type: ignore[no-any-return]


async def browser(api: Api, h: dict[str, str], cart_id: str, **metadata: Any) -> dict[str, str]:
    """Headers of a page on a new session for ``cart_id`` (metadata as given)."""
    response = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart_id}},
            "metadata": {"allowedOrigins": [ORIGIN], **metadata},
        },
        headers=h,
    )
    assert response.status_code == 201, response.text
    return {"X-Session-Id": response.json()["id"], "Origin": ORIGIN}


def checkout_document(kind: str, cart_id: str, shipping: int, *methods: str) -> dict[str, Any]:
    """A Spryker ``checkout-data`` or ``checkout`` document selecting ``methods``."""
    return {
        "data": {
            "type": kind,
            "attributes": {
                "idCart": cart_id,
                "customer": {"email": "ada@example.com"},
                "billingAddress": ADDRESS,
                "shippingAddress": ADDRESS,
                "shipment": {"idShipmentMethod": shipping},
                "payments": [
                    {"paymentMethodName": m, "paymentProviderName": "tender"} for m in methods
                ],
            },
        }
    }


def order_payment(identifier: str, payload: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "order-payments",
            "attributes": {"paymentIdentifier": identifier, "dataPayload": payload},
        }
    }
