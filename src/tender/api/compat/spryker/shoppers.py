"""Glue's guests and customers (``domain.shoppers``): who they are, and which carts they reach.

A guest sends ``X-Anonymous-Customer-Unique-Id``, a customer the bearer token of the merchant's
identity provider (``TENDER_CUSTOMER_JWT_*``). Either reaches only the carts the merchant's
backend created for it (``anonymousId``, ``customerId``), and a cart it does not reach answers
exactly like one that does not exist. From a browser (a request with ``Origin``) they are
admitted from the service's ``TENDER_ALLOWED_ORIGINS`` only: a guest or customer has no session
that could name origins of its own.

Who they are is settled before the request's first unit of work, so a caller that names no
cart of its own never gets an idempotency record or any other row written."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import Headers

from tender.api.security import BearerError, bearer_token, customer_for, runtime_of
from tender.domain.cart import Cart, CartNotFound
from tender.domain.checkout_ports import CartStore
from tender.domain.errors import InvalidInput
from tender.domain.principals import Principal, PrincipalKind
from tender.domain.sessions import OriginNotAllowed
from tender.domain.shoppers import check_customer_id, usable_anonymous_id
from tender.runtime import Runtime

GUEST_HEADER = "x-anonymous-customer-unique-id"
GLUE_PATHS = frozenset({"/checkout-data", "/checkout", "/order-payments"})
"""The routes that speak Glue's JSON:API: their callers, errors and preflights."""
GLUE_MAX_BODY = 64 * 1024
"""A Glue document (an address or two, ten gift cards, a shipment) is a few KiB. Its caller
may be a guest, a customer or a session, known only once the body is parsed: a mebibyte of
``[[],[],…]`` costs 64 ms of parsing with the event loop blocked, a 64 KiB one 4 ms."""
BROWSER_HEADERS = "Authorization, X-Anonymous-Customer-Unique-Id"
"""What a Glue page sends besides a session's headers; preflights of Glue routes allow them."""


@dataclass(frozen=True, slots=True)
class Shopper:
    """A guest (``guest_hash``) or a customer (``customer_id``), as a Glue call names it."""

    principal: Principal
    guest_hash: bytes | None = None
    customer_id: str | None = None

    async def reaches_owned(self, carts: CartStore, cart: Cart | None) -> bool:
        """``reaches``, and the cart's owner may still act: a disabled client's carts are out
        of their shoppers' reach, as its sessions and tokens are."""
        return self.reaches(cart) and cart is not None and await carts.owner_active(cart.owner)

    def reaches(self, cart: Cart | None) -> bool:
        if cart is None:
            return False
        if self.guest_hash is not None:
            return cart.anonymous_id_hash is not None and hmac.compare_digest(
                cart.anonymous_id_hash, self.guest_hash
            )
        return self.customer_id is not None and cart.customer_id == self.customer_id


def guest_actor(runtime: Runtime, headers: Headers) -> str | None:
    """Whom a guest's idempotency keys belong to: the guest, never every guest at once."""
    value = headers.get(GUEST_HEADER)
    if value is None or not usable_anonymous_id(value):
        return None
    return "guest:" + runtime.carts.guest_hash(value).hex()


def guest(request: Request) -> Shopper:
    """The guest of the header. An id that could not be one answers like a cart nobody has."""
    runtime = runtime_of(request)
    value = request.headers.get(GUEST_HEADER, "")
    if not usable_anonymous_id(value):
        raise CartNotFound(field="idCart")
    digest = runtime.carts.guest_hash(value)
    _check_origin(request)
    return Shopper(Principal(PrincipalKind.GUEST, digest.hex(), frozenset()), guest_hash=digest)


async def customer(request: Request) -> Shopper | None:
    """The customer of a bearer token from the merchant's identity provider; ``None`` for a
    token of another issuer (the merchant's backend, an admin)."""
    runtime = runtime_of(request)
    token = bearer_token(request)
    if token is None:
        return None
    principal = await customer_for(runtime, token, request.scope.setdefault("state", {}))
    if principal is None:
        return None
    try:
        check_customer_id(principal.subject)
    except InvalidInput:
        raise BearerError(
            401, "invalid_token", "the token's subject is not a customer id"
        ) from None
    _check_origin(request)
    return Shopper(principal, customer_id=principal.subject)


SHOPPER_ORIGIN_REFUSED = "Requests from this origin are not allowed."
"""A guest or customer has no session: the service's origins are the ones allowed."""


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if (
        origin is not None
        and origin.rstrip("/") not in runtime_of(request).settings.allowed_origins
    ):
        raise OriginNotAllowed(SHOPPER_ORIGIN_REFUSED)


async def check_reaches(request: Request, shopper: Shopper, cart_id: str) -> str:
    """Before any unit of work: the cart is the shopper's, or it answers as unknown. Answers
    the API client the cart belongs to, within whose budgets the shopper's card lookups count."""
    runtime = runtime_of(request)

    async def read(conn: AsyncConnection) -> Cart | None:
        stored = runtime.work(conn, actor=None).carts
        cart = await stored.get_cart(cart_id)
        return cart if await shopper.reaches_owned(stored, cart) else None

    cart = await runtime.db.lookup(read)
    if cart is None:
        raise CartNotFound(field="idCart")
    return cart.owner
