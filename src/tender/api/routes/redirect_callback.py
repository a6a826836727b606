"""The redirect provider's server-to-server confirmation of a payment.

``POST /redirect-payments/{paymentId}/callback`` with ``X-Tender-Timestamp`` (Unix seconds)
and ``X-Tender-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` keyed with
``TENDER_REDIRECT_PROVIDER_SECRET``, a secret shared with the provider and never with a
browser. This is the only way a redirect payment becomes authorized outside development: the
shopper's browser can replay the return URL, read the order reference and post anything to
``/order-payments``, and none of it confirms a payment. Mounted only when a provider secret is
configured.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from tender.api.errors import error_response, responses
from tender.api.inputs import check_json, maybe_unstorable
from tender.api.middleware import correlation_id
from tender.api.schemas import MoneyIn, Strict
from tender.api.security import runtime_of
from tender.domain.errors import InvalidInput
from tender.domain.orders import TransactionType
from tender.services.external_payments import SignatureRefused, check_callback_signature

router = APIRouter(tags=["redirect payments"])
PROVIDER = "provider:redirect"
"""The actor recorded for what the provider confirms."""
TIMESTAMP_HEADER = "x-tender-timestamp"
SIGNATURE_HEADER = "x-tender-signature"


class ProviderCallback(Strict):
    paymentId: str = Field(max_length=36, description="The payment, as in the path.")
    status: Literal["authorized", "failed"]
    amount: MoneyIn = Field(description="What the provider authorized: the payment's amount.")
    providerReference: str | None = Field(None, max_length=100)


class CallbackAnswer(BaseModel):
    paymentId: str
    status: Literal["authorized", "failed"]
    """What the provider reported."""
    transactionState: str
    """The authorization's state now: what was reported, or what an earlier report settled."""


def _signed_body() -> dict[str, Any]:
    """``openapi_extra`` for the body this route reads itself, once its signature is checked:
    FastAPI sees no body parameter, so the document named neither the body nor the headers
    that sign it, and a provider's client generated from it had nothing to send."""
    schema = ProviderCallback.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # MoneyIn is one of the document's own schemas
    signing = {
        TIMESTAMP_HEADER: "Unix seconds; the signature covers it with the body.",
        SIGNATURE_HEADER: '``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``, '
        "keyed with the provider's secret.",
    }
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "parameters": [
            {
                "name": name.title(),
                "in": "header",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in signing.items()
        ],
    }


@router.post(
    "/redirect-payments/{payment_id}/callback",
    response_model=CallbackAnswer,
    responses=responses(400, 401, 404, 409, 422),
    openapi_extra=_signed_body(),
    summary="The redirect provider confirms a payment (signed, server to server)",
)
async def provider_callback(request: Request, payment_id: str) -> CallbackAnswer | JSONResponse:
    runtime = runtime_of(request)
    settings = runtime.settings
    secret = settings.redirect_provider_secret
    if secret is None:
        return error_response(404, "ResourceNotFound", "Not Found")
    body = await request.body()
    try:
        check_callback_signature(
            secret=secret.get_secret_value().encode(),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now=runtime.clock.now(),
            tolerance=timedelta(seconds=settings.redirect_callback_tolerance_seconds),
        )
    except SignatureRefused as error:
        return error_response(401, "InvalidSignature", str(error), field="X-Tender-Signature")
    if maybe_unstorable(body):  # this route reads its own body (it is signed as sent)
        with contextlib.suppress(ValueError, RecursionError):  # the model answers those
            check_json(json.loads(body))
    try:
        callback = ProviderCallback.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    if callback.paymentId != payment_id:
        raise InvalidInput("the body names another payment than the path", field="paymentId")
    amount = callback.amount.money()
    corr = correlation_id.get()
    payment = await runtime.db.transaction(
        lambda conn: runtime.orders.provider_confirmation(
            runtime.work(conn, actor=PROVIDER, correlation_id=corr),
            payment_id=payment_id,
            authorized=callback.status == "authorized",
            amount=amount,
            provider_reference=callback.providerReference,
        )
    )
    authorization = next(
        t for t in reversed(payment.transactions) if t.type is TransactionType.AUTHORIZATION
    )
    return CallbackAnswer(
        paymentId=payment.id, status=callback.status, transactionState=authorization.state.value
    )
