"""The OpenAPI document as a generated client needs it: who may call each route, the headers
every call takes, and the error answers as they really are.

FastAPI sees none of tender's gates as security (they are plain dependencies, run before the
body is read), declares a 422 ``HTTPValidationError`` that tender never sends (a request that
does not validate is a 400 in the error shape), and knows nothing of the middleware's answers
(409 for a key in use, 413, 503). What is added here is derived from the routes themselves:
their gates, their methods and the responses they declare. A route that authenticates in its
body (OAuth, Glue) states its security in ``openapi_extra``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from tender.api.browser import browser_session
from tender.api.middleware import CORRELATION_PATTERN
from tender.api.routing import gates_of
from tender.api.security import require_jwt, scope_of
from tender.domain.principals import Scope

ERROR = {"$ref": "#/components/schemas/ErrorBody"}
BEARER = "oauth2"
ADMIN_JWT = "adminJwt"
SESSION = "session"
SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "oauth2",
        "description": "An API client's access token from `POST /oauth/token`.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {scope.value: scope.value.replace("_", " ") for scope in Scope},
            }
        },
    },
    ADMIN_JWT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A merchant admin's JWT (`tender admin token`, or the trusted "
        "issuer's); it carries its scopes as an access token does.",
    },
    SESSION: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Session-Id",
        "description": "A browser session's id (`POST /sessions`), bound to one cart and "
        "its allowed origins.",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "An API client's id and secret.",
    },
    "guest": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Anonymous-Customer-Unique-Id",
        "description": "A Glue guest: the anonymousId the merchant's backend gave its cart.",
    },
    "customer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Glue customer: a JWT of the merchant's identity provider.",
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Sent again with the same body, the first answer is replayed "
    "(`Idempotent-Replayed: true`); with another body, 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
CORRELATION_ID = {
    "name": "X-Correlation-ID",
    "in": "header",
    "required": False,
    "description": "Echoed on the answer and kept on events and logs; made if not sent.",
    "schema": {"type": "string", "pattern": f"^{CORRELATION_PATTERN}$"},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
WRITES = frozenset({"post", "put", "patch", "delete"})
LIVENESS = "/health"
"""Answers without the database: never 503."""


def routes_of(routers: Iterable[APIRouter]) -> Iterator[APIRoute]:
    """Every API route of ``routers``, of the routers they include too."""
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                yield route
            included = getattr(route, "original_router", None)
            if isinstance(included, APIRouter):
                yield from routes_of([included])


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Make ``app.openapi`` answer the completed document (built once, as FastAPI does)."""
    generate = app.openapi
    routes = list(routes_of(routers))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def security_of(route: APIRoute) -> list[dict[str, list[str]]] | None:
    """Who may call ``route``, from its gates; ``None`` if it has none."""
    requirements: list[dict[str, list[str]]] = []
    for gate in dict.fromkeys(gates_of(route.dependant)):
        scope = scope_of(gate)
        if scope is not None:
            requirements += [{BEARER: [scope.value]}, {ADMIN_JWT: []}]
        elif gate is require_jwt:
            requirements.append({ADMIN_JWT: []})
        elif gate is browser_session:
            requirements.append({SESSION: []})
    return requirements or None


def complete(document: dict[str, Any], routes: Sequence[APIRoute]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SCHEMES)
    securities = {
        (route.path_format, method.lower()): security_of(route)
        for route in routes
        for method in route.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            security = securities.get((path, method))
            _complete_operation(path, method, operation, security)
    schemas = components.get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _complete_operation(
    path: str, method: str, operation: dict[str, Any], security: list[dict[str, list[str]]] | None
) -> None:
    if "security" not in operation:  # a route that authenticates in its body says so itself
        operation["security"] = security or []
    parameters = operation.setdefault("parameters", [])
    if method in WRITES:
        parameters.append(IDEMPOTENCY_KEY)
    parameters.append(CORRELATION_ID)
    answers = operation.setdefault("responses", {})
    validation = answers.pop("422", None)
    fastapi_422 = validation is not None and "HTTPValidationError" in str(validation)
    if validation is not None and not fastapi_422:
        answers["422"] = validation
    if fastapi_422 or operation.get("requestBody") or len(parameters) > 1:
        answers.setdefault("400", _error("The request is malformed or a field is invalid."))
    if operation["security"]:
        answers.setdefault("401", _error("No credentials, or credentials that are not valid."))
    if any(BEARER in requirement for requirement in operation["security"]):
        answers.setdefault("403", _error("The token lacks the scope this call needs."))
    if method in WRITES:
        answers.setdefault("409", _error("A request with this Idempotency-Key is running."))
        answers.setdefault("413", _error("The body is larger than the service takes."))
        answers.setdefault("422", _error("The Idempotency-Key was used with another body."))
    if path != LIVENESS:
        answers.setdefault("503", _error("The database cannot be reached; send it again."))
    for status in ("429", "503"):
        if status in answers:
            answers[status].setdefault("headers", {}).update(RETRY_AFTER)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}
