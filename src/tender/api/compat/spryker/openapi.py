"""How the Glue routes are described in the OpenAPI document: JSON:API documents, Glue's
callers (a guest, a customer, a browser session, the merchant's backend) and Glue's errors,
which carry ``status``, ``detail`` and ``source`` besides tender's fields."""

from __future__ import annotations

from typing import Any

from tender.domain.principals import Scope

JSONAPI_TYPE = "application/vnd.api+json"
GLUE_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["statusCode", "message", "errors"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message", "status", "detail"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "status": {"type": "string"},
                    "detail": {"type": "string"},
                    "source": {"type": "object"},
                },
            },
        },
    },
}
REFUSALS = {
    "400": "A malformed document, an unknown include or sort, a field that is invalid; or no "
    "caller at all (no guest id, customer token, session or token).",
    "401": "A session, customer token or token that is not valid.",
    "403": "The token lacks manage_orders.",
    "404": "The cart or order is not the caller's, or does not exist.",
    "409": "The Idempotency-Key is in use by a request still running.",
    "413": "The body is larger than the service takes.",
    "422": "Checkout data the call cannot use (a currency, an amount, a gift card spent "
    "elsewhere, a cart being placed), or an order payment that was not updated.",
    "429": "Too many gift card lookups; see Retry-After.",
    "503": "The database cannot be reached; send it again.",
}


def glue_route(success: int, description: str, *queries: str) -> dict[str, Any]:
    """``openapi_extra`` for a Glue route answering ``success`` with a JSON:API document."""
    answers: dict[str, Any] = {
        str(success): {"description": description, "content": {JSONAPI_TYPE: {"schema": {}}}}
    }
    for status, text in REFUSALS.items():
        answers[status] = {
            "description": text,
            "content": {JSONAPI_TYPE: {"schema": GLUE_ERROR}},
        }
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": "Comma-separated, as JSON:API has it.",
            "schema": {"type": "string"},
        }
        for name in queries
    ]
    security = [
        {"guest": []},
        {"customer": []},
        {"session": []},
        {"oauth2": [Scope.MANAGE_ORDERS.value]},
        {"adminJwt": []},  # a merchant admin's JWT carrying manage_orders, as on every server route
    ]
    return {"responses": answers, "parameters": parameters, "security": security}
