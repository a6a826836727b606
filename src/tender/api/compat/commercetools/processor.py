"""The processor's browser routes; thin: translate the template's documents, call
``runtime.redemptions``, translate back.

They are the busiest routes a shop has (every keystroke of a card number may end in a balance
check), so they cost FastAPI as little as they can: the card lookup is guarded in the route
itself (``browser_lookup``, as the lookup dependencies do, once the body is valid) rather than by
a dependency with an exit, and the answer goes out as JSON rendered here, which FastAPI sends as
it is; ``response_model`` still documents it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from tender.api.browser import browser_session
from tender.api.card_lookups import browser_lookup
from tender.api.checkout_deps import run
from tender.api.compat.commercetools.wire import (
    BALANCE_STATUS,
    BalanceRequest,
    BalanceType,
    ProcessorConfig,
    RedeemRequest,
    RedeemResponse,
    amount_field,
)
from tender.api.errors import responses
from tender.api.routing import LeanJsonRoute
from tender.api.security import runtime_of
from tender.domain.errors import DomainError
from tender.domain.ledger import BalanceState
from tender.domain.sessions import Session

router = APIRouter(tags=["compat: commercetools gift card processor"], route_class=LeanJsonRoute)
Browser = Annotated[Session, Depends(browser_session)]


def rendered(answer: BaseModel, status_code: int = 200, *, exclude_none: bool = False) -> Response:
    return Response(
        answer.model_dump_json(exclude_none=exclude_none).encode(),
        status_code=status_code,
        media_type="application/json",
    )


BALANCE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": BalanceType, "description": "NotFound: unknown code or wrong PIN"},
    400: {
        "description": "Expired, CurrencyNotMatch, ZeroBalance, … (a BalanceType); or a request "
        "that is malformed (the error shape)",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/BalanceType"},
                        {"$ref": "#/components/schemas/ErrorBody"},
                    ]
                }
            }
        },
    },
    **responses(401, 413, 422, 429),
}


@router.post(
    "/balance",
    response_model=BalanceType,
    response_model_exclude_none=True,
    responses=BALANCE_ANSWERS,
    summary="Browser: a gift card's balance for the session's cart (the connector's BalanceType)",
)
async def balance(request: Request, body: BalanceRequest, session: Browser) -> Response:
    runtime = runtime_of(request)
    async with browser_lookup(request, code=body.code, session=session) as lookup:
        result = await run(
            request,
            session.principal,
            lambda w: runtime.redemptions.balance(w, session=session, code=body.code, pin=body.pin),
            reads=True,
        )
        if result.state is BalanceState.NOT_FOUND:
            lookup.failed()
    return rendered(BalanceType.of(result), BALANCE_STATUS[result.state], exclude_none=True)


@router.post(
    "/redeem",
    response_model=RedeemResponse,
    responses=responses(400, 401, 409, 413, 422, 429),
    summary="Browser: redeem at most redeemAmount of a gift card on the session's cart",
)
async def redeem(request: Request, body: RedeemRequest, session: Browser) -> Response:
    runtime = runtime_of(request)
    amount = body.amount()
    try:
        async with browser_lookup(request, code=body.code, session=session):
            redeemed = await run(
                request,
                session.principal,
                lambda w: runtime.redemptions.redeem(
                    w, session=session, code=body.code, pin=body.pin, amount=amount
                ),
            )
    except DomainError as error:
        error.field = amount_field(error.field, body.redeemAmount)
        raise
    return rendered(RedeemResponse.of(redeemed), exclude_none=True)


@router.get(
    "/operations/config",
    response_model=ProcessorConfig,
    responses=responses(401),
    summary="Browser: what the enabler needs for the session's cart",
)
async def config(request: Request, session: Browser) -> ProcessorConfig:
    runtime = runtime_of(request)
    settings = await run(
        request, session.principal, lambda w: runtime.redemptions.settings(w, session=session)
    )
    return ProcessorConfig.of(settings)
