"""The processor's browser routes; thin: translate the template's documents, call
``runtime.redemptions``, translate back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from tender.api.browser import browser_session
from tender.api.card_lookups import browser_card_lookup
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
from tender.api.rate_limits import CardLookup
from tender.api.routing import AuthFirstRoute
from tender.api.security import runtime_of
from tender.domain.errors import DomainError
from tender.domain.ledger import BalanceState
from tender.domain.sessions import Session

router = APIRouter(tags=["compat: commercetools gift card processor"], route_class=AuthFirstRoute)
Browser = Annotated[Session, Depends(browser_session)]


async def balance_code(body: BalanceRequest) -> str:
    return body.code


async def redeem_code(body: RedeemRequest) -> str:
    return body.code


BalanceLookup = Annotated[CardLookup, Depends(browser_card_lookup(balance_code), scope="function")]
RedeemLookup = Annotated[CardLookup, Depends(browser_card_lookup(redeem_code), scope="function")]
BALANCE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": BalanceType, "description": "NotFound: unknown code or wrong PIN"},
    400: {"model": BalanceType, "description": "Expired, CurrencyNotMatch, ZeroBalance, …"},
    **responses(401, 413, 422, 429),
}


@router.post(
    "/balance",
    response_model=BalanceType,
    response_model_exclude_none=True,
    responses=BALANCE_ANSWERS,
    summary="Browser: a gift card's balance for the session's cart (the connector's BalanceType)",
)
async def balance(
    request: Request,
    response: Response,
    body: BalanceRequest,
    session: Browser,
    lookup: BalanceLookup,
) -> BalanceType:
    runtime = runtime_of(request)
    result = await run(
        request,
        session.principal,
        lambda w: runtime.redemptions.balance(w, session=session, code=body.code, pin=body.pin),
        reads=True,
    )
    if result.state is BalanceState.NOT_FOUND:
        lookup.failed()
    response.status_code = BALANCE_STATUS[result.state]
    return BalanceType.of(result)


@router.post(
    "/redeem",
    response_model=RedeemResponse,
    responses=responses(400, 401, 409, 413, 422, 429),
    summary="Browser: redeem at most redeemAmount of a gift card on the session's cart",
)
async def redeem(
    request: Request, body: RedeemRequest, session: Browser, _: RedeemLookup
) -> RedeemResponse:
    runtime = runtime_of(request)
    amount = body.amount()
    try:
        redeemed = await run(
            request,
            session.principal,
            lambda w: runtime.redemptions.redeem(
                w, session=session, code=body.code, pin=body.pin, amount=amount
            ),
        )
    except DomainError as error:
        error.field = amount_field(error.field)
        raise
    return RedeemResponse.of(redeemed)


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
