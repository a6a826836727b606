"""Orders, payments, shipping methods and the event feed for the merchant's backend."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from tender.api.checkout_deps import owner_of, page_url, run
from tender.api.checkout_schemas import (
    AmountBody,
    ShippingMethodCreate,
    non_negative,
    order_public,
)
from tender.api.errors import responses
from tender.api.order_schemas import (
    EventFeed,
    EventPublic,
    OrderPublic,
    PaymentInOrder,
    PaymentPublic,
    PlacedOrder,
    ShippingMethodList,
    ShippingMethodPublic,
)
from tender.api.routing import AuthFirstRoute
from tender.api.schemas import PageOut, Strict
from tender.api.security import require
from tender.domain.checkout_ports import Work
from tender.domain.errors import InvalidInput
from tender.domain.ids import is_uuid
from tender.domain.orders import OrderState
from tender.domain.ownership import visible
from tender.domain.payments import PaymentNotFound
from tender.domain.principals import Principal, Scope
from tender.domain.totals import parse_tax_rate
from tender.services.orders import OrderView, Placed
from tender.services.shipping import add_shipping_method, set_shipping_method_active

router = APIRouter(tags=["orders"], route_class=AuthFirstRoute)
MAX_BIGINT = 2**63 - 1
"""Event ids are 64-bit: a larger ``after`` is refused, not sent to the database."""
Orders = Annotated[Principal, Depends(require(Scope.MANAGE_ORDERS))]


class PlaceOrder(Strict):
    cartId: str = Field(max_length=36)
    orderReference: str | None = Field(None, min_length=1, max_length=100)


class Confirmation(Strict):
    dataPayload: list[dict[str, Any]] = Field(max_length=20)


class SettleForLess(Strict):
    reason: str = Field(min_length=1, max_length=500, description="Why, e.g. partial shipment.")


class CompleteOrder(Strict):
    settleForLess: SettleForLess | None = Field(
        None,
        description="Complete although the payments no longer cover the grand total (a "
        "cancelled or partly captured payment); the reason is kept on the order and its event.",
    )


@router.post(
    "/orders",
    status_code=201,
    response_model=PlacedOrder,
    responses=responses(400, 401, 403, 404, 409, 422),
    summary="Place the cart as an order: reserves every gift card, all or nothing",
)
async def place_order(request: Request, body: PlaceOrder, principal: Orders) -> PlacedOrder:
    runtime = request.app.state.runtime

    async def work(w: Work) -> Placed:
        placed: Placed = await runtime.orders.place(
            w, cart_id=body.cartId, owner=owner_of(principal), reference=body.orderReference
        )
        return placed

    placed = await run(request, principal, work)
    order = order_public(OrderView(placed.order, placed.view.payments))
    # The page placing made (``Placed.redirect``), as Glue's ``POST /checkout`` answers it:
    # the merchant's backend never fills in the provider's URL itself.
    return PlacedOrder.model_validate(
        {**order, "redirectUrl": page_url(request, placed.redirect.url)}
    )


def _public(view: OrderView) -> OrderPublic:
    return OrderPublic.model_validate(order_public(view))


@router.get(
    "/orders",
    response_model=PageOut[OrderPublic],
    responses=responses(400, 401, 403),
    summary="Orders, oldest first",
)
async def list_orders(
    request: Request,
    principal: Orders,
    state: OrderState | None = None,
    cursor: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageOut[OrderPublic]:
    if cursor is not None and not is_uuid(cursor):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")

    async def work(w: Work) -> PageOut[OrderPublic]:
        page = await w.orders.list_orders(
            owner=owner_of(principal), state=state, after=cursor, limit=limit
        )
        by_cart = await w.payments.payments_of([o.cart_id for o in page.items])
        views = [OrderView(o, tuple(by_cart[o.cart_id])) for o in page.items]
        return PageOut[OrderPublic](
            results=[_public(v) for v in views], limit=limit, nextCursor=page.next_cursor
        )

    return await run(request, principal, work)


@router.get(
    "/orders/{order_id}",
    response_model=OrderPublic,
    responses=responses(400, 401, 403, 404),
    summary="One order by id or by orderReference",
)
async def get_order(request: Request, order_id: str, principal: Orders) -> OrderPublic:
    runtime = request.app.state.runtime
    return _public(
        await run(
            request,
            principal,
            lambda w: runtime.orders.get(w, order_id=order_id, owner=owner_of(principal)),
        )
    )


def _transition(name: str, summary: str) -> None:
    @router.post(
        f"/orders/{{order_id}}/{name}",
        response_model=OrderPublic,
        responses=responses(400, 401, 403, 404, 409, 422),
        summary=summary,
        name=f"{name}_order",
    )
    async def transition(request: Request, order_id: str, principal: Orders) -> OrderPublic:
        runtime = request.app.state.runtime
        operation = getattr(runtime.orders, name)
        return _public(
            await run(
                request,
                principal,
                lambda w: operation(w, order_id=order_id, owner=owner_of(principal)),
            )
        )


@router.post(
    "/orders/{order_id}/complete",
    response_model=OrderPublic,
    responses=responses(400, 401, 403, 404, 409, 422),
    summary="Processing → Completed: captures every reservation (409 if payments fall short)",
    name="complete_order",
)
async def complete_order(
    request: Request, order_id: str, principal: Orders, body: CompleteOrder | None = None
) -> OrderPublic:
    runtime = request.app.state.runtime
    settle = body.settleForLess.reason if body and body.settleForLess else None
    return _public(
        await run(
            request,
            principal,
            lambda w: runtime.orders.complete(
                w, order_id=order_id, owner=owner_of(principal), settle_for_less=settle
            ),
        )
    )


_transition("reopen", "Processing → Checkout: releases every reservation, the cart is editable")
_transition("cancel", "Cancel: releases reservations, or refunds what was captured")


@router.get(
    "/payments/{payment_id}", response_model=PaymentInOrder, responses=responses(401, 403, 404)
)
async def get_payment(request: Request, payment_id: str, principal: Orders) -> PaymentInOrder:
    async def work(w: Work) -> PaymentInOrder:
        payment = await w.payments.payment(payment_id)
        order = await w.orders.order_by_cart(payment.cart_id) if payment else None
        cart = await w.carts.get_cart(payment.cart_id) if payment else None
        if payment is None or not visible(cart, owner_of(principal)):
            raise PaymentNotFound()
        return PaymentInOrder.of_order(payment, order.id if order else None)

    return await run(request, principal, work)


def _payment_operation(name: str, summary: str, with_amount: bool) -> None:
    async def operate(
        request: Request, payment_id: str, principal: Principal, body: AmountBody | None
    ) -> PaymentPublic:
        runtime = request.app.state.runtime
        operation = getattr(runtime.orders, f"{name}_payment")
        kwargs: dict[str, Any] = {}
        if with_amount:
            kwargs["amount"] = body.amount.money() if body and body.amount else None
        payment = await run(
            request,
            principal,
            lambda w: operation(w, payment_id=payment_id, owner=owner_of(principal), **kwargs),
        )
        return PaymentPublic.of(payment)

    if with_amount:

        @router.post(
            f"/payments/{{payment_id}}/{name}",
            response_model=PaymentPublic,
            responses=responses(400, 401, 403, 404, 409, 422),
            summary=summary,
            name=f"{name}_payment",
        )
        async def with_body(
            request: Request, payment_id: str, principal: Orders, body: AmountBody | None = None
        ) -> PaymentPublic:
            return await operate(request, payment_id, principal, body)
    else:

        @router.post(
            f"/payments/{{payment_id}}/{name}",
            response_model=PaymentPublic,
            responses=responses(401, 403, 404, 409),
            summary=summary,
            name=f"{name}_payment",
        )
        async def without_body(
            request: Request, payment_id: str, principal: Orders
        ) -> PaymentPublic:
            return await operate(request, payment_id, principal, None)


_payment_operation(
    "capture", "Capture an authorization, or part of it (the rest is released)", True
)
_payment_operation("refund", "Refund captured money, never more than was captured", True)
_payment_operation("cancel", "Release an open authorization", False)


@router.post(
    "/payments/{payment_id}/confirm",
    response_model=PaymentPublic,
    responses=responses(400, 401, 403, 404, 409, 422),
    summary="Confirm an external payment (invoice) from the merchant's backend",
)
async def confirm_payment(
    request: Request, payment_id: str, body: Confirmation, principal: Orders
) -> PaymentPublic:
    runtime = request.app.state.runtime
    payment = await run(
        request,
        principal,
        lambda w: runtime.orders.confirm_external(
            w,
            payment_id=payment_id,
            owner=owner_of(principal),
            payload=body.dataPayload,
            from_server=True,
        ),
    )
    return PaymentPublic.of(payment)


@router.post(
    "/shipping-methods",
    status_code=201,
    response_model=ShippingMethodPublic,
    responses=responses(400, 401, 403),
    summary="Configure a shipping method",
)
async def create_shipping_method(
    request: Request, body: ShippingMethodCreate, principal: Orders
) -> ShippingMethodPublic:
    runtime = request.app.state.runtime
    price = non_negative(body.price, "price")
    free_above = non_negative(body.freeAbove, "freeAbove") if body.freeAbove else None
    rate = parse_tax_rate(body.taxRate)
    method = await run(
        request,
        principal,
        lambda w: add_shipping_method(
            w.shipping,
            clock=runtime.clock,
            name=body.name,
            carrier_name=body.carrierName,
            price=price,
            tax_rate_bp=rate,
            free_above=free_above,
            countries=body.countries,
            delivery_time=body.deliveryTime,
            names=body.names,
        ),
    )
    return ShippingMethodPublic.of(method)


def _shipping_switch(name: str, active: bool, summary: str) -> None:
    @router.post(
        f"/shipping-methods/{{method_id}}/{name}",
        response_model=ShippingMethodPublic,
        responses=responses(401, 403, 404),
        summary=summary,
        name=f"{name}_shipping_method",
    )
    async def switch(request: Request, method_id: str, principal: Orders) -> ShippingMethodPublic:
        number = int(method_id)  # digits only (``inputs.PATH_ID_RULES``), else 404 before here
        method = await run(
            request,
            principal,
            lambda w: set_shipping_method_active(w.shipping, number, active=active),
        )
        return ShippingMethodPublic.of(method)


_shipping_switch(
    "deactivate", False, "Stop offering a shipping method (carts that chose it must choose another)"
)
_shipping_switch("activate", True, "Offer a deactivated shipping method again")


@router.get("/shipping-methods", response_model=ShippingMethodList, responses=responses(401, 403))
async def list_shipping_methods(request: Request, principal: Orders) -> ShippingMethodList:
    methods = await run(request, principal, lambda w: w.shipping.shipping_methods())
    return ShippingMethodList(results=[ShippingMethodPublic.of(m) for m in methods])


@router.get(
    "/events",
    response_model=EventFeed,
    responses=responses(400, 401, 403),
    summary="The outbox, read-only: every state change, oldest first",
)
async def list_events(
    request: Request,
    principal: Orders,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventFeed:
    runtime = request.app.state.runtime
    events = await runtime.db.read(
        lambda conn: runtime.work(conn, actor=principal.actor).events.events(
            owner=owner_of(principal), after=after, limit=limit
        )
    )
    return EventFeed(
        results=[EventPublic.of(e) for e in events], next=events[-1].id if events else after
    )
