"""Sessions in the shape of the commercetools Session API, and the browser's own routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tender.api import card_lookups
from tender.api.browser import browser_session
from tender.api.card_lookups import SessionCardLookup
from tender.api.cart_schemas import CartPublic, GiftCardAdd, GiftCardAdded, cart_public
from tender.api.checkout_deps import owner_of, run
from tender.api.checkout_schemas import payment_public
from tender.api.errors import responses
from tender.api.routing import AuthFirstRoute
from tender.api.schemas import Strict
from tender.api.security import require, runtime_of
from tender.domain.principals import Principal, Scope
from tender.domain.sessions import Session

router = APIRouter(tags=["sessions"], route_class=AuthFirstRoute)
Payments = Annotated[Principal, Depends(require(Scope.MANAGE_PAYMENTS))]
Viewer = Annotated[Principal, Depends(require(Scope.VIEW_SESSIONS))]
Browser = Annotated[Session, Depends(browser_session)]


class CartRef(Strict):
    id: str = Field(max_length=36)


class SessionCart(Strict):
    cartRef: CartRef


class SessionCreate(Strict):
    cart: SessionCart
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionPublic(BaseModel):
    id: str
    state: str
    expiryAt: str
    createdAt: str
    lastModifiedAt: str
    metadata: dict[str, Any]
    activeCart: dict[str, Any]


def session_public(token: str, session: Session, request: Request) -> SessionPublic:
    now = runtime_of(request).clock.now()
    return SessionPublic(
        id=token,
        state=session.state(now).value,
        expiryAt=session.expires_at.isoformat(),
        createdAt=session.created_at.isoformat(),
        lastModifiedAt=session.updated_at.isoformat(),
        metadata=session.metadata,
        activeCart={"cartRef": {"id": session.cart_id}},
    )


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionPublic,
    responses=responses(400, 401, 403, 404, 409),
    summary="Open a browser session for a cart (the id is shown here only)",
)
async def create_session(
    request: Request, body: SessionCreate, principal: Payments
) -> SessionPublic:
    runtime = runtime_of(request)
    token, session = await run(
        request,
        principal,
        lambda w: runtime.sessions.create(
            w,
            owner=owner_of(principal),
            cart_id=body.cart.cartRef.id,
            metadata=body.metadata,
            creator=principal.actor,
        ),
    )
    return session_public(token, session, request)


@router.get(
    "/sessions/{session_id}", response_model=SessionPublic, responses=responses(401, 403, 404)
)
async def get_session(request: Request, session_id: str, principal: Viewer) -> SessionPublic:
    runtime = runtime_of(request)
    session = await run(
        request,
        principal,
        lambda w: runtime.sessions.get(w, token=session_id, owner=owner_of(principal)),
    )
    return session_public(session_id, session, request)


@router.get(
    "/session/cart",
    response_model=CartPublic,
    responses=responses(401),
    summary="Browser: the session's cart, as the page draws it",
)
async def session_cart(request: Request, session: Browser) -> CartPublic:
    runtime = runtime_of(request)
    view = await run(
        request,
        session.principal,
        lambda w: runtime.carts.get(w, cart_id=session.cart_id, owner=None),
    )
    return cart_public(view)


@router.post(
    "/session/giftcards",
    status_code=201,
    response_model=GiftCardAdded,
    responses=responses(400, 401, 409, 422, 429),
    summary="Browser: add a gift card to the session's cart (if its session allows giftcard)",
)
async def session_add_gift_card(
    request: Request, body: GiftCardAdd, session: Browser, _: SessionCardLookup
) -> GiftCardAdded:
    view, payment = await card_lookups.add_gift_card(
        request, session, session.cart_id, body.code, body.pin
    )
    return GiftCardAdded(payment=payment_public(payment), cart=cart_public(view))


@router.post(
    "/session/giftcards/{payment_id}/remove",
    response_model=CartPublic,
    responses=responses(401, 404, 409),
    summary="Browser: remove a gift card from the session's cart",
)
async def session_remove_gift_card(
    request: Request, payment_id: str, session: Browser
) -> CartPublic:
    runtime = runtime_of(request)
    view = await run(
        request,
        session.principal,
        lambda w: runtime.carts.remove_gift_card(
            w, cart_id=session.cart_id, owner=None, payment_id=payment_id
        ),
    )
    return cart_public(view)
