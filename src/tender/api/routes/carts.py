"""Carts for the merchant's backend (scope ``manage_orders``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from tender.api.checkout_deps import owner_of, run
from tender.api.checkout_schemas import (
    CartCreate,
    CartPublic,
    CartUpdate,
    GiftCardAdd,
    cart_public,
    payment_public,
    shipping_public,
)
from tender.api.errors import error_response, responses
from tender.api.rate_limits import card_lookup
from tender.api.routing import AuthFirstRoute
from tender.api.security import require
from tender.domain.checkout_ports import Work
from tender.domain.money import check_currency
from tender.domain.principals import Principal, Scope
from tender.services.carts import StaleVersion

router = APIRouter(prefix="/carts", tags=["carts"], route_class=AuthFirstRoute)
Orders = Annotated[Principal, Depends(require(Scope.MANAGE_ORDERS))]


@router.post(
    "",
    status_code=201,
    response_model=CartPublic,
    responses=responses(400, 401, 403, 413),
    summary="Create a cart",
)
async def create_cart(request: Request, body: CartCreate, principal: Orders) -> Any:
    currency = check_currency(body.currency)
    lines = [item.to_action(currency, f"lineItems.{i}") for i, item in enumerate(body.lineItems)]

    async def work(w: Work) -> Any:
        runtime = request.app.state.runtime
        return await runtime.carts.create(
            w,
            owner=principal.actor,
            currency=currency,
            country=body.country,
            customer_email=body.customerEmail,
            lines=lines,
        )

    return cart_public(await run(request, principal, work))


@router.get("/{cart_id}", response_model=CartPublic, responses=responses(401, 403, 404))
async def get_cart(request: Request, cart_id: str, principal: Orders) -> Any:
    runtime = request.app.state.runtime
    view = await run(
        request,
        principal,
        lambda w: runtime.carts.get(w, cart_id=cart_id, owner=owner_of(principal)),
    )
    return cart_public(view)


@router.post(
    "/{cart_id}",
    response_model=CartPublic,
    responses=responses(400, 401, 403, 404, 409),
    summary="Apply update actions, all or none, at the cart's current version",
)
async def update_cart(request: Request, cart_id: str, body: CartUpdate, principal: Orders) -> Any:
    runtime = request.app.state.runtime

    async def work(w: Work) -> Any:
        cart = await runtime.carts.lock(w, cart_id=cart_id, owner=owner_of(principal))
        return await runtime.carts.update(
            w,
            cart_id=cart_id,
            owner=owner_of(principal),
            version=body.version,
            actions=body.domain_actions(cart.currency),
        )

    try:
        view = await run(request, principal, work)
    except StaleVersion as error:
        return error_response(
            409,
            error.code,
            error.detail,
            field="version",
            extra={"currentVersion": error.current_version},
        )
    return cart_public(view)


@router.get(
    "/{cart_id}/shipping-methods",
    responses=responses(401, 403, 404),
    summary="The shipping methods that fit the cart's currency and destination",
)
async def cart_shipping_methods(request: Request, cart_id: str, principal: Orders) -> Any:
    runtime = request.app.state.runtime

    async def work(w: Work) -> Any:
        view = await runtime.carts.get(w, cart_id=cart_id, owner=owner_of(principal))
        return await runtime.carts.fitting_shipping_methods(w, view.cart)

    return {"results": [shipping_public(m) for m in await run(request, principal, work)]}


@router.post(
    "/{cart_id}/giftcards",
    status_code=201,
    responses=responses(400, 401, 403, 404, 409, 422, 429),
    summary="Add a gift card: verifies code and PIN, answers what it covers",
)
async def add_gift_card(
    request: Request, cart_id: str, body: GiftCardAdd, principal: Orders
) -> Any:
    runtime = request.app.state.runtime
    async with card_lookup(request, code=body.code, principal=principal):
        view, payment = await run(
            request,
            principal,
            lambda w: runtime.carts.add_gift_card(
                w, cart_id=cart_id, owner=owner_of(principal), code=body.code, pin=body.pin
            ),
        )
    return {"payment": payment_public(payment), "cart": cart_public(view)}


@router.post(
    "/{cart_id}/giftcards/{payment_id}/remove",
    responses=responses(401, 403, 404, 409),
    summary="Remove a gift card (soft delete)",
)
async def remove_gift_card(
    request: Request, cart_id: str, payment_id: str, principal: Orders
) -> Any:
    runtime = request.app.state.runtime
    view = await run(
        request,
        principal,
        lambda w: runtime.carts.remove_gift_card(
            w, cart_id=cart_id, owner=owner_of(principal), payment_id=payment_id
        ),
    )
    return cart_public(view)
