"""The connector's merchant-side routes: ``GET /operations/status`` (JWT) and
``POST /operations/payment-intents/{paymentId}`` (OAuth2 scope
``manage_checkout_payment_intents``), wire-compatible with the public commercetools gift card
connector template, without its defects: capture and cancel work, a refund moves exactly the
amount asked, a declined movement is recorded as a ``Failure`` (never a ``Success``), the status
answers 503 when it is an error.

Payment intents:
- One action, exactly; anything else (none, two, an unknown one) is 400 in the error shape.
- ``approved`` (200): the money moved and its transaction is recorded.
- ``rejected`` (200): the request was valid and the gift card provider declined the movement;
  nothing moved, and a ``Failure`` transaction naming the provider's error code records the
  attempt. 200, because the request was carried out (the decline is an answer the caller acts
  on, not a fault in what it sent), and because the error shape promises that nothing changed,
  which would not be true of the recorded failure.
- A request refused before the provider is asked changes nothing and answers the error shape:
  404 unknown payment (or another client's, or not a gift card payment), 409 wrong state (a
  second capture, a cancel after capture, a payment whose cart is not placed as an order yet),
  422 wrong currency or a refund over what was captured, 400 malformed input.
- A merchant-admin JWT that carries the scope is accepted, as on every route that takes a
  scope: an admin may do by hand what checkout does. A browser session id is not a bearer
  token and is refused (401).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request, Response

from tender import __version__
from tender.api.checkout_deps import owner_of, run
from tender.api.compat.commercetools.operations_schemas import (
    PaymentIntentRequest,
    PaymentIntentResponse,
    StatusCheck,
    StatusMetadata,
    StatusResponse,
)
from tender.api.errors import RETRY_AFTER_SECONDS, responses
from tender.api.routing import AuthFirstRoute
from tender.api.security import require, require_jwt, runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError
from tender.domain.principals import Principal, Scope
from tender.runtime import Runtime
from tender.services.status import Check, CheckFailed, Health, processor_client, run_checks

T = TypeVar("T")
router = APIRouter(
    prefix="/operations", tags=["compat: commercetools connector"], route_class=AuthFirstRoute
)
Intents = Annotated[Principal, Depends(require(Scope.MANAGE_CHECKOUT_PAYMENT_INTENTS))]
Jwt = Annotated[Principal, Depends(require_jwt)]

HEALTH: dict[Health, Literal["OK", "Partially Available", "Error"]] = {
    Health.OK: "OK",
    Health.PARTIAL: "Partially Available",
    Health.ERROR: "Error",
}


@router.post(
    "/payment-intents/{payment_id}",
    response_model=PaymentIntentResponse,
    responses=responses(400, 401, 403, 404, 409, 422),
    summary="Capture, refund, cancel or reverse a gift card payment (one action)",
)
async def payment_intent(
    request: Request, payment_id: str, body: PaymentIntentRequest, principal: Intents
) -> PaymentIntentResponse:
    runtime = runtime_of(request)
    try:
        intent = body.intent()

        async def units(work: Callable[[Work], Awaitable[T]]) -> T:
            return await run(request, principal, work)

        outcome = await runtime.orders.perform(
            units, payment_id=payment_id, owner=owner_of(principal), intent=intent
        )
    except DomainError as error:
        raise in_wire_names(error) from None
    return PaymentIntentResponse(outcome=outcome)


FIELDS = {
    "amount": "actions.0.amount",
    "amount.currency": "actions.0.amount.currencyCode",
    "transactionId": "actions.0.transactionId",
}
"""Fields the services name, as the request names them."""


def in_wire_names(error: DomainError) -> DomainError:
    for each in (error, *error.more):
        if each.field is not None:
            each.field = FIELDS.get(each.field, each.field)
    return error


@router.get(
    "/status",
    response_model=StatusResponse,
    responses={**responses(401), 503: {"model": StatusResponse}},
    summary="Whether the processor can serve: database, gift card provider, API client",
)
async def status(request: Request, response: Response, _: Jwt) -> StatusResponse:
    runtime = runtime_of(request)
    health, results = await run_checks(
        _checks(runtime), seconds=runtime.settings.operations_status_timeout_seconds
    )
    if health is Health.ERROR:
        response.status_code = 503
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    now = runtime.clock.now().astimezone(UTC)
    return StatusResponse(
        status=HEALTH[health],
        timestamp=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        version=__version__,
        metadata=StatusMetadata(
            name="tender",
            description="tender's gift card processor for commercetools Checkout",
            provider=runtime.settings.gift_card_provider,
        ),
        checks=[
            StatusCheck(name=r.name, status="UP" if r.up else "DOWN", details=r.details)
            for r in results
        ],
    )


def _checks(runtime: Runtime) -> list[Check]:
    async def database() -> dict[str, Any]:
        current = await runtime.schema.current()
        problem = runtime.schema.problem(current)
        if problem is not None:
            raise CheckFailed("MigrationsPending", problem)
        return {"schemaRevision": current}

    async def provider() -> dict[str, Any]:
        return await runtime.db.read(lambda conn: runtime.work(conn, actor=None).provider.status())

    async def permissions() -> dict[str, Any]:
        clients = await runtime.db.read(lambda conn: runtime.clients(conn).list_clients())
        return processor_client(clients)

    return [
        Check("Database", database, essential=True),
        Check("Giftcard provider status check", provider, essential=True),
        Check("CoCo Permissions", permissions, essential=False),
    ]
