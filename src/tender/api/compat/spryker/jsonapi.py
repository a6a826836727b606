"""What every Glue route shares: who is calling, the seed's error statuses, and JSON:API's
answer (links, ``include``, the media type)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from tender.api.browser import browser_session
from tender.api.checkout_deps import owner_of
from tender.api.compat.spryker.names import in_glue_names
from tender.api.errors import domain_error_items, error_body, status_for
from tender.api.security import BearerError, authenticate
from tender.domain.cart import CartNotFound
from tender.domain.errors import DomainError, InvalidInput, RateLimited
from tender.domain.principals import Principal, Scope
from tender.domain.sessions import BrowserUnauthorized, Session

JSONAPI = "application/vnd.api+json"
Document = dict[str, Any]
"""A JSON:API document or resource object, as it goes out."""


class Lenient(BaseModel):
    """Glue clients send fields tender does not use (isDefaultBilling…): ignore, don't fail."""

    model_config = ConfigDict(extra="ignore")


# --- errors and callers ------------------------------------------------------------------


def jsonapi_error(error: DomainError, status: int | None = None) -> JSONResponse:
    """The one error shape, fields in Glue's names, each error with JSON:API's ``status``
    and ``detail`` too."""
    status = status or status_for(error)
    items = [
        {**item, "status": str(status), "detail": item["message"]}
        for item in domain_error_items(in_glue_names(error))
    ]
    body = error_body(status, items)
    headers = {"Content-Language": "en"}
    return JSONResponse(body, status_code=status, headers=headers)


class MissingCredentials(InvalidInput):
    code = "MissingCredentials"
    message = "Send Authorization (server) or X-Session-Id (browser)."


def incorrect_data(error: DomainError) -> JSONResponse:
    """The seed's statuses: 400 without credentials, 422 for checkout data it cannot use,
    401 for a bad session; 429 (with ``Retry-After``) when a gift card budget is spent."""
    if isinstance(error, MissingCredentials):
        return jsonapi_error(error, 400)
    if isinstance(error, RateLimited):
        response = jsonapi_error(error, 429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, BrowserUnauthorized):
        return jsonapi_error(error, 401)
    if status_for(error) == 409:
        return jsonapi_error(error, 409)
    return jsonapi_error(error, 422)


class Caller:
    def __init__(self, principal: Principal, session: Session | None) -> None:
        self.principal = principal
        self.session = session

    @property
    def owner(self) -> str | None:
        return None if self.session else owner_of(self.principal)

    @property
    def allowed(self) -> frozenset[str] | None:
        """The browser session's ``allowedPaymentMethods``; the merchant's backend may use
        every method it offers."""
        return self.session.allowed_payment_methods if self.session else None

    def check_cart(self, cart_id: str) -> None:
        if self.session is not None and self.session.cart_id != cart_id:
            raise CartNotFound(field="idCart")


async def caller(request: Request) -> Caller:
    """The browser's session, or the merchant's backend with ``manage_orders``; with neither
    header the seed answers 400."""
    if "x-session-id" in request.headers:
        session = await browser_session(request)
        return Caller(session.principal, session)
    if "authorization" not in request.headers:
        raise MissingCredentials()
    principal = await authenticate(request)
    if not principal.has(Scope.MANAGE_ORDERS):
        raise BearerError(
            403, "insufficient_scope", "this call needs manage_orders", Scope.MANAGE_ORDERS.value
        )
    return Caller(principal, None)


async def cart_caller(request: Request, cart_id: str) -> Caller:
    """The caller, if it may touch the cart ``idCart`` names (a session only its own)."""
    who = await caller(request)
    who.check_cart(cart_id)
    return who


# --- documents out -------------------------------------------------------------------------


def absolute(request: Request, url: str | None) -> str | None:
    """Redirects to tender's own pages are given as full URLs, as a Glue client expects."""
    if url is None or not url.startswith("/"):
        return url
    return str(request.base_url).rstrip("/") + url


def link(request: Request, path: str) -> dict[str, str]:
    return {"self": str(request.base_url).rstrip("/") + path}


def includes(request: Request) -> set[str]:
    raw = request.query_params.get("include", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def respond(document: Document, status: int) -> JSONResponse:
    return JSONResponse(
        document, status_code=status, headers={"Content-Type": JSONAPI, "Content-Language": "en"}
    )
