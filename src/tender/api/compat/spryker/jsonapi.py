"""What every Glue route shares: who is calling, the seed's error statuses, and JSON:API's
answer (links, ``include``, the media type)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from tender.api.browser import browser_session, has_session
from tender.api.checkout_deps import owner_of
from tender.api.compat.spryker import shoppers
from tender.api.compat.spryker.errors import JSONAPI, language
from tender.api.compat.spryker.shoppers import Shopper
from tender.api.errors import domain_response
from tender.api.rate_limits import CardLookup, ShopperBudget, card_lookup
from tender.api.security import BearerError, authenticate
from tender.domain.cart import CartNotFound
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, InvalidInput, RateLimited
from tender.domain.idempotency import IdempotencyKeyInUse
from tender.domain.ownership import visible
from tender.domain.principals import Principal, Scope
from tender.domain.sessions import BrowserUnauthorized, CredentialsInBrowser, Session

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
    message = (
        "Send Authorization (server or customer), X-Anonymous-Customer-Unique-Id (guest) or "
        "X-Session-Id (browser session)."
    )


class UnsupportedParameter(InvalidInput):
    """JSON:API: a server that cannot include a relationship or sort by a field answers 400."""

    code = "UnsupportedParameter"
    message = "The query parameter names something this resource does not have."
    source = "query"


def incorrect_data(request: Request, error: DomainError) -> Response:
    """The seed's statuses: 400 without credentials or for a query it cannot answer, 422 for
    checkout data it cannot use or a payment it did not update, 401 for a bad session. The
    seed knows no 409: what tender calls a conflict (a card spent elsewhere, a cart being
    placed, a payment not waiting for this) is data the call could not use, 422 as well; only
    a clash of tender's own ``Idempotency-Key`` header keeps its 409. Rate limits keep 429."""
    if isinstance(error, MissingCredentials | UnsupportedParameter):
        return jsonapi_error(request, error, 400)
    if isinstance(error, BrowserUnauthorized):
        return jsonapi_error(request, error, 401)
    if isinstance(error, RateLimited):
        return jsonapi_error(request, error, 429)
    if isinstance(error, IdempotencyKeyInUse):
        return jsonapi_error(request, error, 409)
    return jsonapi_error(request, error, 422)


class Caller:
    """The merchant's backend, a browser session, or a Glue guest or customer (``shopper``)."""

    def __init__(
        self, principal: Principal, session: Session | None, shopper: Shopper | None = None
    ) -> None:
        self.principal = principal
        self.session = session
        self.shopper = shopper
        self.cart_owner: str | None = None
        """For a shopper: the API client behind the cart it reaches (``cart_caller``)."""

    @property
    def from_server(self) -> bool:
        """Only the merchant's backend confirms what a shopper could not prove it paid."""
        return self.session is None and self.shopper is None

    @property
    def owner(self) -> str | None:
        return owner_of(self.principal) if self.from_server else None

    @property
    def order_owner(self) -> str | None:
        """Whose order numbers the caller names: its own client's, or for an admin and a
        guest or customer (whose carts may belong to any client) every client's."""
        if self.session is not None:
            return self.session.owner
        return self.owner

    @property
    def allowed(self) -> frozenset[str] | None:
        """The browser session's ``allowedPaymentMethods``; the merchant's backend may use
        every method it offers."""
        return self.session.allowed_payment_methods if self.session else None

    def check_cart(self, cart_id: str) -> None:
        if self.session is not None and self.session.cart_id != cart_id:
            raise CartNotFound(field="idCart")

    async def sees(self, work: Work, cart_id: str) -> bool:
        """Whether the caller may see what belongs to this cart (its order, its payments)."""
        if self.session is not None:
            return self.session.cart_id == cart_id
        if self.shopper is not None:
            return await self.shopper.reaches_owned(work.carts, await work.carts.get_cart(cart_id))
        # An API client sees its own carts only (an admin every cart): another client's order
        # must answer exactly like one that does not exist.
        return visible(await work.carts.get_cart(cart_id), self.owner)

    def card_lookup(
        self, request: Request, *, code: str
    ) -> AbstractAsyncContextManager[CardLookup]:
        """A gift card lookup budgeted per session, guest or customer (and the merchant's
        client behind the cart), or per API client for the merchant's backend."""
        if self.session is not None:
            return card_lookup(request, code=code, session=self.session)
        if self.shopper is not None:
            assert self.cart_owner is not None, "a shopper's cart is known by cart_caller"
            shopper = ShopperBudget(self.principal.actor, self.cart_owner)
            return card_lookup(request, code=code, shopper=shopper)
        return card_lookup(request, code=code, principal=self.principal)


async def caller(request: Request) -> Caller:
    """A browser session, a customer's or the merchant's bearer token, or a guest's id, in
    that order (as the idempotency keys read them); with none of them the seed answers 400."""
    if has_session(request):
        session = await browser_session(request)
        return Caller(session.principal, session)
    if "authorization" in request.headers:
        customer = await shoppers.customer(request)
        if customer is not None:
            return Caller(customer.principal, None, customer)
        principal = await authenticate(request)
        if "origin" in request.headers:
            raise CredentialsInBrowser()  # a server credential pasted into a page
        if not principal.has(Scope.MANAGE_ORDERS):
            raise BearerError(
                403, "insufficient_scope", "this call needs manage_orders", Scope.MANAGE_ORDERS
            )
        return Caller(principal, None)
    if shoppers.GUEST_HEADER in request.headers:
        guest = shoppers.guest(request)
        return Caller(guest.principal, None, guest)
    raise MissingCredentials()


async def cart_caller(request: Request, cart_id: str) -> Caller:
    """The caller, if it may touch the cart ``idCart`` names (a session only its own, a guest
    or customer only theirs); checked before any unit of work."""
    who = await caller(request)
    who.check_cart(cart_id)
    if who.shopper is not None:
        who.cart_owner = await shoppers.check_reaches(request, who.shopper, cart_id)
    return who


async def reachable(work: Work, cart_id: str, who: Caller) -> None:
    """After placing, the seed says, the cart is deleted: a placed cart answers on the Glue
    routes as one that does not exist (tender's own API keeps it for the merchant), word for
    word as the caller's unknown cart (the services' for the merchant, ``idCart`` else).
    Checked under the cart's lock (which the route's unit of work takes next anyway, at no
    further cost), so a cart another request placed meanwhile is gone too."""
    if await work.carts.get_cart(cart_id, lock=True, owner=who.owner) is None:
        return  # unknown: the services answer it as they always do
    if await work.orders.order_by_cart(cart_id) is not None:
        raise CartNotFound() if who.from_server else CartNotFound(field="idCart")


# --- documents out -------------------------------------------------------------------------


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
