"""Norce Checkout's Awardit adapter routes, on a tender cart as the Norce "order".

``POST /api/checkout/v1/orders/{id}/payments {cardId, code}`` answers
``{cardId, code, amount, upperLimitAmount}`` with amounts as decimal numbers in major units,
exactly as the seed shows them (``149.5``, ``1000``), converted exactly from minor units.
As in the seed, an unknown card, a zero balance or a missing code answer 400 Bad Request.
Errors name fields as Norce does: the card number is ``cardId`` and its PIN is ``code``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, WithJsonSchema

from tender.api import card_lookups
from tender.api.card_lookups import server_card_lookup
from tender.api.checkout_deps import owner_of, run
from tender.api.errors import responses
from tender.api.rate_limits import CardLookup
from tender.api.routing import AuthFirstRoute
from tender.api.schemas import Strict
from tender.api.security import require, runtime_of
from tender.domain.errors import DomainError
from tender.domain.money import Money
from tender.domain.orders import PaymentStatus
from tender.domain.payments import Payment
from tender.domain.principals import Principal, Scope

router = APIRouter(
    prefix="/api/checkout/v1", tags=["compat: Norce / Awardit"], route_class=AuthFirstRoute
)
Orders = Annotated[Principal, Depends(require(Scope.MANAGE_ORDERS))]


class NorcePaymentCreate(Strict):
    cardId: str = Field(max_length=128, description="The gift card number.")
    code: str | None = Field(None, max_length=32, description="The card's PIN, if it has one.")


DecimalNumber = Annotated[Decimal, WithJsonSchema({"type": "number"})]
"""An amount in major units, sent as a JSON number (``149.5``) as the seed shows it."""


class NorcePaymentPublic(BaseModel):
    """The answer of both routes, for the OpenAPI document: ``_answer`` writes the body itself,
    so amounts stay exact decimal numbers and never pass through a float."""

    id: str = Field(description="The payment's id, for the remove route.")
    cardId: str = Field(description="The card number as sent; `****` and its last 4 once removed.")
    code: str | None = Field(description="The PIN as sent when adding; null when removing.")
    amount: DecimalNumber = Field(description="What the card covers; 0 once removed.")
    upperLimitAmount: DecimalNumber = Field(
        description="The card's balance: the most it can cover."
    )
    status: PaymentStatus = Field(description="`removed` after a remove, a soft delete.")


async def card_id(body: NorcePaymentCreate) -> str:
    return body.cardId


CardIdLookup = Annotated[
    CardLookup, Depends(server_card_lookup(card_id, Scope.MANAGE_ORDERS), scope="function")
]
NORCE_FIELDS = {"code": "cardId", "pin": "code"}
"""tender's names for the card number and PIN, and Norce's."""


def norce_fields(error: DomainError) -> None:
    for each in (error, *error.more):
        each.field = NORCE_FIELDS.get(each.field or "", each.field)


def decimal_number(minor: int, currency: str) -> str:
    """A JSON number for an amount in major units, exact and without trailing zeros."""
    value = Money(minor, currency).to_decimal().normalize()
    return format(value if value != 0 else Decimal(0), "f")


def _answer(payment: Payment, card_id: str, code: str | None, status: int) -> Response:
    body = (
        "{"
        f'"id": {json.dumps(payment.id)}, '
        f'"cardId": {json.dumps(card_id)}, '
        f'"code": {json.dumps(code)}, '
        f'"amount": {decimal_number(payment.amount_planned, payment.currency)}, '
        f'"upperLimitAmount": {decimal_number(payment.upper_limit or 0, payment.currency)}, '
        f'"status": {json.dumps(payment.status.value)}'
        "}"
    )
    return Response(body, status_code=status, media_type="application/json")


@router.post(
    "/orders/{order_id}/payments",
    status_code=201,
    response_model=NorcePaymentPublic,
    responses=responses(400, 401, 403, 404, 409, 429),
    summary="Add a gift card payment (Awardit adapter)",
)
async def add_payment(
    request: Request,
    order_id: str,
    body: NorcePaymentCreate,
    principal: Orders,
    _: CardIdLookup,
) -> Response:
    # An unknown card, a zero balance and a missing code raise InvalidCredentials or
    # GiftCardNotUsable, which answer 400 Bad Request, as the seed says.
    try:
        _view, payment = await card_lookups.add_gift_card(
            request, principal, order_id, body.cardId, body.code
        )
    except DomainError as error:
        norce_fields(error)
        raise
    return _answer(payment, body.cardId, body.code, 201)


@router.post(
    "/orders/{order_id}/payments/{payment_id}/remove",
    response_model=NorcePaymentPublic,
    responses=responses(401, 403, 404, 409),
    summary="Remove a gift card payment (soft delete, stays visible as removed)",
)
async def remove_payment(
    request: Request, order_id: str, payment_id: str, principal: Orders
) -> Response:
    runtime = runtime_of(request)
    view = await run(
        request,
        principal,
        lambda w: runtime.carts.remove_gift_card(
            w, cart_id=order_id, owner=owner_of(principal), payment_id=payment_id
        ),
    )
    payment = next(p for p in view.payments if p.id == payment_id)
    return _answer(payment, f"****{payment.card_last4}", None, 200)
