"""Gift card lookups from routes: the card budgets as declared dependencies, and the one path
by which every route adds a card to a cart.

A route that looks up a card declares a lookup dependency (``CartCardLookup``…), which guards
the lookup with ``tender.api.rate_limits.card_lookup``: 429 with ``Retry-After`` before the
route runs when a budget is spent, a failure claimed before it and given back unless it failed.
The dependency reads the code from the route's validated body (its parameter is called
``body``, like the route's, so FastAPI reads one body), so a malformed request counts nothing;
it is declared with ``scope="function"``, so the claim is settled as the route ends, before
the answer is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request

from tender.api.browser import browser_session
from tender.api.cart_schemas import GiftCardAdd
from tender.api.checkout_deps import owner_of, run
from tender.api.giftcard_schemas import BalanceCheck
from tender.api.rate_limits import CardLookup, card_lookup
from tender.api.security import require, runtime_of
from tender.domain.payments import GIFT_CARD, Payment, PaymentMethodNotAllowed, method_allowed
from tender.domain.principals import Principal, Scope
from tender.domain.sessions import Session
from tender.services.carts import CartView

CodeOf = Callable[..., str]
"""A dependency answering the card code of the route's body."""
Lookups = Callable[..., AsyncIterator[CardLookup]]


def server_card_lookup(code_of: CodeOf, scope: Scope) -> Lookups:
    """Lookups by the merchant's backend, counted against the API client (``scope`` is the
    route's own, so the caller is resolved once)."""
    principal_of = require(scope)

    async def lookup(
        request: Request,
        code: str = Depends(code_of),
        principal: Principal = Depends(principal_of),
    ) -> AsyncIterator[CardLookup]:
        async with card_lookup(request, code=code, principal=principal) as guarded:
            yield guarded

    return lookup


@asynccontextmanager
async def browser_lookup(
    request: Request, *, code: str, session: Session
) -> AsyncIterator[CardLookup]:
    """A lookup by a shopper's page, counted against its session. A session whose
    ``allowedPaymentMethods`` leave gift cards out is refused before anything is counted."""
    if not method_allowed(GIFT_CARD, session.allowed_payment_methods):
        raise PaymentMethodNotAllowed("this session does not allow gift cards", field="code")
    async with card_lookup(request, code=code, session=session) as guarded:
        yield guarded


def browser_card_lookup(code_of: CodeOf) -> Lookups:
    """``browser_lookup`` as a dependency."""

    async def lookup(
        request: Request,
        code: str = Depends(code_of),
        session: Session = Depends(browser_session),
    ) -> AsyncIterator[CardLookup]:
        async with browser_lookup(request, code=code, session=session) as guarded:
            yield guarded

    return lookup


async def gift_card_code(body: GiftCardAdd) -> str:
    """``async`` so FastAPI calls it in the loop: a plain ``def`` dependency would cost a
    hop to the thread pool on every request."""
    return body.code


async def balance_code(body: BalanceCheck) -> str:
    return body.code


CartCardLookup = Annotated[
    CardLookup,
    Depends(server_card_lookup(gift_card_code, Scope.MANAGE_ORDERS), scope="function"),
]
SessionCardLookup = Annotated[
    CardLookup, Depends(browser_card_lookup(gift_card_code), scope="function")
]
BalanceCardLookup = Annotated[
    CardLookup,
    Depends(server_card_lookup(balance_code, Scope.VIEW_GIFTCARDS), scope="function"),
]
"""For ``POST /giftcards/balance``; a check answering ``NotFound`` calls ``failed()``."""


async def add_gift_card(
    request: Request, caller: Principal | Session, cart_id: str, code: str, pin: str | None
) -> tuple[CartView, Payment]:
    """Add a card in one unit of work, for the merchant's backend (a principal, which sees
    its own carts) or a shopper's page (its session, which may use the methods it allows);
    the route has declared its card lookup."""
    runtime = runtime_of(request)
    if isinstance(caller, Session):
        principal, owner, allowed = caller.principal, None, caller.allowed_payment_methods
    else:
        principal, owner, allowed = caller, owner_of(caller), None
    return await run(
        request,
        principal,
        lambda w: runtime.carts.add_gift_card(
            w, cart_id=cart_id, owner=owner, code=code, pin=pin, allowed=allowed
        ),
    )
