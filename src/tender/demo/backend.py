"""The demo shop's backend (backend for frontend, as in the InStore seed): it holds the demo API
client's secret, creates the cart and a browser session for it, and hands the page the
session id alone. It reaches tender over HTTP, in process, as any merchant's server would over
the network; no secret or bearer token is ever sent to the page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tender.demo.catalogue import BY_SKU, COUNTRY, CURRENCY, MAX_QUANTITY, PRODUCTS, TAX_RATE

ASSETS = {"shop.js": "text/javascript", "shop.css": "text/css"}
PAGE_SECURITY = {
    # The page and the enabler come from this origin; nothing else may run or be framed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SESSION_METHODS = ["giftcard", "invoice"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(Strict):
    sku: str = Field(max_length=40)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class CheckoutIn(Strict):
    lines: list[LineIn] = Field(min_length=1, max_length=len(PRODUCTS))
    locale: str = Field("en", pattern="^(en|de)$")


class CheckoutOut(BaseModel):
    """What the page needs: its session (its only credential) and the cart it may touch."""

    sessionId: str
    cartId: str
    processorUrl: str


class Product(BaseModel):
    sku: str
    name: str
    price: dict[str, Any]
    colour: str


class DemoUnavailable(Exception):
    """The backend cannot act: not initialised, or tender refused what it asked."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, code: str) -> JSONResponse:
    """The same error shape as tender's own answers, so the page reads one shape."""
    body = {
        "statusCode": status,
        "message": message,
        "errors": [{"code": code, "message": message}],
    }
    return JSONResponse(body, status_code=status)


@dataclass
class MerchantBackend:
    credentials_file: Path
    _token: tuple[str, float] | None = None

    def _credentials(self) -> tuple[str, str]:
        try:
            raw = json.loads(self.credentials_file.read_text())
            return str(raw["client_id"]), str(raw["client_secret"])
        except (OSError, ValueError, KeyError, TypeError):
            raise DemoUnavailable(503, "The demo is not set up: run `tender demo init`.") from None

    async def _access_token(self, http: httpx.AsyncClient) -> str:
        """A client-credentials token, reused until a minute before it expires."""
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        client_id, secret = self._credentials()
        answer = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        if answer.status_code != 200:
            raise DemoUnavailable(503, "The demo's API client was refused: run `tender demo init`.")
        granted = answer.json()
        self._token = (granted["access_token"], time.monotonic() + granted["expires_in"] - 60)
        return self._token[0]

    async def _call(
        self, http: httpx.AsyncClient, path: str, body: dict[str, Any], expected: int = 201
    ) -> dict[str, Any]:
        token = await self._access_token(http)
        answer = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != expected:
            raise DemoUnavailable(502, f"tender answered {answer.status_code} to {path}")
        found: dict[str, Any] = answer.json()
        return found

    async def open_checkout(self, request: Request, order: CheckoutIn) -> CheckoutOut:
        """A cart with the shopper's lines (priced here) and a session that may pay for it
        by gift card and invoice, from this page's origin only."""
        origin = str(request.base_url).rstrip("/")
        lines = []
        for line in order.lines:
            product = BY_SKU.get(line.sku)
            if product is None:
                raise DemoUnavailable(400, f"There is no product {line.sku!r}.")
            lines.append(
                {
                    "sku": product.sku,
                    "name": product.name(order.locale),
                    "quantity": line.quantity,
                    "price": {"centAmount": product.unit_price, "currency": CURRENCY},
                    "taxRate": TAX_RATE,
                }
            )
        transport = httpx.ASGITransport(app=request.app)
        async with httpx.AsyncClient(transport=transport, base_url=origin) as http:
            cart = await self._call(
                http, "/carts", {"currency": CURRENCY, "country": COUNTRY, "lineItems": lines}
            )
            metadata = {
                "allowedOrigins": [origin],
                "allowedPaymentMethods": SESSION_METHODS,
                "processorUrl": origin,
                "locale": order.locale,
            }
            session = await self._call(
                http, "/sessions", {"cart": {"cartRef": {"id": cart["id"]}}, "metadata": metadata}
            )
        return CheckoutOut(sessionId=session["id"], cartId=cart["id"], processorUrl=origin)


def _asset(name: str) -> bytes:
    return resources.files("tender.demo").joinpath("static", name).read_bytes()


def demo_router(credentials_file: Path) -> APIRouter:
    """The demo's page, its assets and its backend route, for the app to mount in
    development only."""
    router = APIRouter(prefix="/demo", include_in_schema=False)
    backend = MerchantBackend(credentials_file)

    @router.get("")
    async def page() -> Response:
        return Response(_asset("shop.html"), media_type="text/html", headers=PAGE_SECURITY)

    @router.get("/assets/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return _error(404, "There is no such file.", "NotFound")
        return Response(_asset(name), media_type=ASSETS[name], headers=PAGE_SECURITY)

    @router.get("/api/products")
    async def products(locale: str = "en") -> list[Product]:
        return [
            Product(
                sku=p.sku,
                name=p.name(locale),
                price={"centAmount": p.unit_price, "currencyCode": CURRENCY},
                colour=p.colour,
            )
            for p in PRODUCTS
        ]

    @router.post("/api/checkout", status_code=201, response_model=CheckoutOut)
    async def checkout(request: Request, body: CheckoutIn) -> Response | CheckoutOut:
        try:
            return await backend.open_checkout(request, body)
        except DemoUnavailable as refused:
            return _error(refused.status, refused.message, "DemoUnavailable")

    return router
