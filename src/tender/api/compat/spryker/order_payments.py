"""``POST /order-payments``: the merchant's backend confirms an invoice; for a redirect payment
anyone may only acknowledge what the provider's signed callback already confirmed.

A guest or customer names an order, not a cart, so the order is found for it before the first
unit of work: one it does not reach (a customer with no cart at all, or another shopper's
order) is answered 404 with nothing written, not even the record of its ``Idempotency-Key``."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.api.checkout_deps import run
from tender.api.compat.spryker import jsonapi
from tender.api.compat.spryker.documents import OrderPaymentDocument
from tender.api.compat.spryker.openapi import glue_route
from tender.api.security import runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, NotFound
from tender.domain.payments import OrderNotFound, Payment, PaymentNotFound
from tender.runtime import Runtime
from tender.services.orders.base import order_by_reference

router = APIRouter()


@router.post(
    "/order-payments",
    status_code=201,
    summary="Confirm an invoice (backend), or acknowledge a provider-confirmed redirect payment",
    openapi_extra=glue_route(201, "The order payment, as Glue answers it."),
)
async def order_payments(request: Request, body: OrderPaymentDocument) -> Response:
    runtime = runtime_of(request)
    attributes = body.data.attributes
    try:
        who = await jsonapi.caller(request)
        jsonapi.check_query(request)  # nothing to include or sort
        if who.shopper is not None:
            await _check_reaches(runtime, attributes.paymentIdentifier, who)

        async def work(w: Work) -> Payment:
            payment_id = await _external_payment_id(w, attributes.paymentIdentifier, who)
            return await runtime.orders.confirm_external(
                w,
                payment_id=payment_id,
                owner=who.owner,
                payload=attributes.dataPayload,
                from_server=who.from_server,
                allowed=who.allowed,
            )

        payment = await run(request, who.principal, work)
    except PaymentNotFound as error:
        # The caller sees the order (``_external_payment_id``), so this is the seed's "order
        # payment is not updated": none waits for what the caller may confirm.
        return jsonapi.incorrect_data(request, error)
    except NotFound as error:
        # Whatever was not found (the order, a guest id that could not be one), this document
        # names an order: the answer is the seed's "order not found", the same for each.
        unknown = error if isinstance(error, OrderNotFound) else OrderNotFound()
        return jsonapi.jsonapi_error(request, unknown, 404)
    except DomainError as error:
        return jsonapi.incorrect_data(request, error)
    # tender's own payment route answers this id (for the merchant's backend).
    links = jsonapi.link(request, f"/payments/{payment.id}")
    resource = {
        "type": "order-payments",
        "id": payment.id,
        "attributes": {"paymentIdentifier": attributes.paymentIdentifier, "dataPayload": None},
        "links": links,
    }
    return jsonapi.respond(request, {"data": resource, "links": links}, 201)


async def _check_reaches(runtime: Runtime, identifier: str | None, who: jsonapi.Caller) -> None:
    """Before any unit of work: the shopper reaches the order it names, else ``OrderNotFound``.
    Finding no payment waiting there is the order's own answer, given by the unit of work."""

    async def find(conn: AsyncConnection) -> None:
        with contextlib.suppress(PaymentNotFound):
            await _external_payment_id(runtime.work(conn, actor=None), identifier, who)

    await runtime.db.read(find)


async def _external_payment_id(work: Work, identifier: str | None, who: jsonapi.Caller) -> str:
    """``paymentIdentifier`` is the payment's id or, as the seed suggests, the orderReference;
    without one, a browser means its own order."""

    # Another cart's payment or order looks exactly like one that does not exist.
    order = None
    if identifier:
        payment = await work.payments.payment(identifier)
        if (
            payment is not None
            and not payment.is_gift_card
            and await who.sees(work, payment.cart_id)
        ):
            return payment.id
        order = await order_by_reference(
            work, identifier, who.order_owner, lambda order: who.sees(work, order.cart_id)
        )
    elif who.session is not None:
        order = await work.orders.order_by_cart(who.session.cart_id)
    if order is None or not await who.sees(work, order.cart_id):
        raise OrderNotFound()
    for payment in await work.payments.payments(order.cart_id):
        if payment.active and not payment.is_gift_card:
            return payment.id
    raise PaymentNotFound("the order has no payment waiting for a confirmation")
