"""Carts for the merchant's backend (scope ``manage_orders``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tender.api import card_lookups
from tender.api.card_lookups import CartCardLookup
from tender.api.cart_schemas import (
    CartCreate,
    CartPublic,
    CartUpdate,
    GiftCardAdd,
    GiftCardAdded,
    ShippingMethods,
    cart_public,
)
from tender.api.checkout_deps import owner_of, run
from tender.api.checkout_schemas import payment_public, shipping_public
from tender.api.errors import error_response, responses
from tender.api.routing import AuthFirstRoute
from tender.api.security import require, runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.money import check_currency
from tender.domain.principals import Principal, Scope
from tender.domain.shipping import ShippingMethod
from tender.services.carts import CartView, StaleVersion

router = APIRouter(prefix="/carts", tags=["carts"], route_class=AuthFirstRoute)
Orders = Annotated[Principal, Depends(require(Scope.MANAGE_ORDERS))]


@router.post(
    "",
    status_code=201,
    response_model=CartPublic,
    responses=responses(400, 401, 403, 413),
    summary="Create a cart",
)
async def create_cart(request: Request, body: CartCreate, principal: Orders) -> CartPublic:
    currency = check_currency(body.currency)
    lines = [item.to_action(currency, f"lineItems.{i}") for i, item in enumerate(body.lineItems)]

    async def work(w: Work) -> CartView:
        runtime = runtime_of(request)
        return await runtime.carts.create(
            w,
            owner=principal.actor,
            currency=currency,
            country=body.country,
            customer_email=body.customerEmail,
            lines=lines,
            anonymous_id=body.anonymousId,
            customer_id=body.customerId,
        )

    return cart_public(await run(request, principal, work))


@router.get("/{cart_id}", response_model=CartPublic, responses=responses(401, 403, 404))
async def get_cart(request: Request, cart_id: str, principal: Orders) -> CartPublic:
    runtime = runtime_of(request)
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
async def update_cart(
    request: Request, cart_id: str, body: CartUpdate, principal: Orders
) -> CartPublic | JSONResponse:
    runtime = runtime_of(request)

    async def work(w: Work) -> CartView:
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
    response_model=ShippingMethods,
    responses=responses(401, 403, 404),
    summary="The shipping methods that fit the cart's currency and destination",
)
async def cart_shipping_methods(
    request: Request, cart_id: str, principal: Orders
) -> ShippingMethods:
    runtime = runtime_of(request)

    async def work(w: Work) -> list[ShippingMethod]:
        view = await runtime.carts.get(w, cart_id=cart_id, owner=owner_of(principal))
        return await runtime.carts.fitting_shipping_methods(w, view.cart)

    methods = await run(request, principal, work)
    return ShippingMethods(results=[shipping_public(m) for m in methods])


@router.post(
    "/{cart_id}/giftcards",
    status_code=201,
    response_model=GiftCardAdded,
    responses=responses(400, 401, 403, 404, 409, 422, 429),
    summary="Add a gift card: verifies code and PIN, answers what it covers",
)
async def add_gift_card(
    request: Request, cart_id: str, body: GiftCardAdd, principal: Orders, _: CartCardLookup
) -> GiftCardAdded:
    view, payment = await card_lookups.add_gift_card(
        request, principal, cart_id, body.code, body.pin
    )
    return GiftCardAdded(payment=payment_public(payment), cart=cart_public(view))


@router.post(
    "/{cart_id}/giftcards/{payment_id}/remove",
    response_model=CartPublic,
    responses=responses(401, 403, 404, 409),
    summary="Remove a gift card (soft delete)",
)
async def remove_gift_card(
    request: Request, cart_id: str, payment_id: str, principal: Orders
) -> CartPublic:
    runtime = runtime_of(request)
    view = await run(
        request,
        principal,
        lambda w: runtime.carts.remove_gift_card(
            w, cart_id=cart_id, owner=owner_of(principal), payment_id=payment_id
        ),
    )
    return cart_public(view)
