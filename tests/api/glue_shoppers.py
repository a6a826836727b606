"""An app whose Glue routes admit guests and customers: the merchant's identity provider (a fake
JWK Set behind ``httpx.MockTransport``), the shop's origin allowed, redirect payments through
the simulator; and the steps a guest's or customer's checkout takes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.runtime import Runtime
from tests.api.conftest import SECRET, Api
from tests.api.journeys import ORIGIN, checkout_document, order_payment, shipping_method
from tests.api.test_http_jwt import ISSUER, ISSUER_JWKS, FakeIssuer
from tests.conftest import FakeClock

AUDIENCE = "storefront"
GUEST_HEADER = "X-Anonymous-Customer-Unique-Id"


@dataclass
class Shop:
    api: Api
    idp: FakeIssuer
    merchant: dict[str, str]
    shipping: int
    app: FastAPI

    def customer(self, sub: str, **claims: Any) -> dict[str, str]:
        """A customer's headers from the shop's page: its identity provider's token."""
        now = int(self.api.clock.now().timestamp())
        token = self.idp.token("ec-1", now, **{"sub": sub, "aud": AUDIENCE, **claims})
        return {"Authorization": f"Bearer {token}", "Origin": ORIGIN}

    async def cart(self, **shopper: str) -> dict[str, Any]:
        """A cart the merchant's backend creates for a guest or customer (``anonymousId``,
        ``customerId``)."""
        return await created(self.api, self.merchant, cart_body(**shopper))

    async def post(
        self, path: str, document: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        return await self.api.client.post(path, json=document, headers=headers)


def guest_id() -> str:
    """What a storefront generates: a UUID-sized random value."""
    return secrets.token_urlsafe(24)


def guest(anonymous_id: str, origin: str | None = ORIGIN) -> dict[str, str]:
    headers = {GUEST_HEADER: anonymous_id}
    if origin is not None:
        headers["Origin"] = origin
    return headers


def cart_body(**shopper: str) -> dict[str, Any]:
    line = {
        "sku": "TEA",
        "name": "Tea",
        "quantity": 2,
        "price": {"centAmount": 1250, "currency": "EUR"},
        "taxRate": "19.00",
    }
    return {"currency": "EUR", "country": "DE", "lineItems": [line], **shopper}


async def created(api: Api, merchant: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post("/carts", json=body, headers=merchant)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Shop]:
    idp = FakeIssuer()
    idp.keys["ec-1"] = ec.generate_private_key(ec.SECP256R1())
    clock = FakeClock()
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        sweep_interval_seconds=0,
        db_pool_size=5,
        redirect_simulator=True,
        allowed_origins=[ORIGIN],
        customer_jwt_issuer=ISSUER,
        customer_jwks_url=ISSUER_JWKS,
        customer_jwt_audience=AUDIENCE,
        card_attempts_per_session_minute=2,
    )
    runtime = Runtime(settings, clock=clock, jwks_transport=httpx.MockTransport(idp.handler))
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(client, runtime, clock)
        merchant = await api.headers()
        yield Shop(api, idp, merchant, await shipping_method(api, merchant), app)
    await runtime.close()


async def journey(shop: Shop, cart_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """``/checkout-data`` → ``/checkout?include=orders`` → the provider takes the money →
    ``/order-payments``, all as ``headers`` (a guest or a customer); the placed order."""
    api = shop.api
    data = checkout_document("checkout-data", cart_id, shop.shipping, "redirect")
    stored = await shop.post("/checkout-data", data, headers)
    assert stored.status_code == 200, stored.text
    totals = stored.json()["data"]["attributes"]["totals"]
    assert totals["grandTotal"] == 2 * 1250 + 490
    placing = checkout_document("checkout", cart_id, shop.shipping, "redirect")
    placed = await shop.post("/checkout?include=orders", placing, headers)
    assert placed.status_code == 201, placed.text
    attributes = placed.json()["data"]["attributes"]
    (order,) = placed.json()["included"]
    assert order["type"] == "orders"
    assert order["id"] == attributes["orderReference"]
    assert order["attributes"]["totals"]["grandTotal"] == 2 * 1250 + 490
    payment_id = attributes["redirectUrl"].rsplit("/", 1)[1]
    paid = await api.client.post(f"/redirect-payments/{payment_id}/pay")
    assert paid.status_code == 200, paid.text  # no merchant page to return to: says so
    acknowledged = await shop.post(
        "/order-payments",
        order_payment(attributes["orderReference"], [{"type": "payment-confirmation"}]),
        headers,
    )
    assert acknowledged.status_code == 201, acknowledged.text
    assert acknowledged.json()["data"]["type"] == "order-payments"
    return order  # type: ignore[no-any-return]
