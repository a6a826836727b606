"""What every Glue route shares: who is calling, the seed's error statuses, and JSON:API's
answer (links, ``include``, the media type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from tender.api.browser import browser_session
from tender.api.checkout_deps import owner_of
from tender.api.compat.spryker.errors import JSONAPI, language
from tender.api.errors import domain_response, status_for
from tender.api.security import BearerError, authenticate
from tender.domain.cart import CartNotFound
from tender.domain.errors import DomainError, InvalidInput, RateLimited
from tender.domain.principals import Principal, Scope
from tender.domain.sessions import BrowserUnauthorized, Session

Document = dict[str, Any]
"""A JSON:API document or resource object, as it goes out."""


class Lenient(BaseModel):
    """Glue clients send fields tender does not use (isDefaultBilling…): ignore, don't fail."""

    model_config = ConfigDict(extra="ignore")


# --- errors and callers ------------------------------------------------------------------


def jsonapi_error(request: Request, error: DomainError, status: int | None = None) -> Response:
    """The error written by the one renderer, whose Glue flavour adds JSON:API's members."""
    return domain_response(request.scope, error, status)


class MissingCredentials(InvalidInput):
    code = "MissingCredentials"
    message = "Send Authorization (server) or X-Session-Id (browser)."


class UnsupportedParameter(InvalidInput):
    """JSON:API: a server that cannot include a relationship or sort by a field answers 400."""

    code = "UnsupportedParameter"
    message = "The query parameter names something this resource does not have."
    source = "query"


def incorrect_data(request: Request, error: DomainError) -> Response:
    """The seed's statuses: 400 without credentials or for a query it cannot answer, 422 for
    checkout data it cannot use, 401 for a bad session; conflicts and rate limits keep theirs."""
    if isinstance(error, MissingCredentials | UnsupportedParameter):
        return jsonapi_error(request, error, 400)
    if isinstance(error, BrowserUnauthorized):
        return jsonapi_error(request, error, 401)
    if isinstance(error, RateLimited):
        return jsonapi_error(request, error, 429)
    if status_for(error) == 409:
        return jsonapi_error(request, error, 409)
    return jsonapi_error(request, error, 422)


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


def sort_keys(request: Request) -> list[str]:
    raw = request.query_params.get("sort", "")
    return [key.strip() for key in raw.split(",") if key.strip()]


def check_query(
    request: Request,
    *,
    include: frozenset[str] = frozenset(),
    sort: Mapping[str, frozenset[str]] | None = None,
) -> None:
    """Every ``include`` name a relationship of this route and every ``sort`` key
    ``resource.attribute`` of an included kind, or 400 naming each that is not."""
    problems: list[DomainError] = []
    unknown = sorted(includes(request) - include)
    if unknown:
        known = ", ".join(sorted(include)) or "nothing"
        problems.append(
            UnsupportedParameter(
                "cannot include {names}; this resource includes {known}",
                field="include",
                names=", ".join(unknown),
                known=known,
            )
        )
    sortable = sort or {}
    wrong = [k for k in sort_keys(request) if not _sortable(k.removeprefix("-"), sortable)]
    if wrong:
        problems.append(
            UnsupportedParameter(
                "cannot sort by {keys}; sort by {known}",
                field="sort",
                keys=", ".join(wrong),
                known=", ".join(f"{r}.{a}" for r in sorted(sortable) for a in sorted(sortable[r]))
                or "nothing",
            )
        )
    if problems:
        raise DomainError.all_of(problems)


def _sortable(key: str, sortable: Mapping[str, frozenset[str]]) -> bool:
    resource, _, attribute = key.rpartition(".")
    return attribute in sortable.get(resource, frozenset())


def respond(request: Request, document: Document, status: int) -> JSONResponse:
    headers = {"Content-Language": language(request.scope), "Vary": "Accept-Language"}
    return JSONResponse(document, status_code=status, headers=headers, media_type=JSONAPI)
