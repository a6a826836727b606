"""The one error shape of the whole service, and the one table from domain errors to HTTP.

``{"statusCode": 400, "message": "…", "errors": [{"code": "…", "message": "…", "field": "…"}]}``

Every error answer, a route's, a handler's or a middleware's, is written by
``problem_response``; routes that speak a seed's dialect (JSON:API for Spryker Glue) register a
``Flavour`` that writes the same problems their way, chosen by the request's path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from tender.api.problems import Problem
from tender.api.validation_problems import validation_problems
from tender.auth.oauth import OAuthError
from tender.domain import errors as e
from tender.domain.errors import RateLimited
from tender.domain.sessions import BrowserUnauthorized

log = logging.getLogger(__name__)

STATUS: list[tuple[type[e.DomainError], int]] = [
    (e.InvalidInput, 400),
    (e.NotFound, 404),
    (e.InvalidCredentials, 400),
    (RateLimited, 429),
    (e.BusinessRuleViolation, 422),
    (e.IllegalTransition, 409),
    (BrowserUnauthorized, 401),
    (e.Conflict, 409),
    (e.DomainError, 400),
]
"""First match wins, so subclasses that need another status go above their parents."""


class Unavailable(Exception):
    """The service cannot answer for now (503): a readiness probe's refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status_for(error: e.DomainError) -> int:
    return next(code for cls, code in STATUS if isinstance(error, cls))


class ErrorItem(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx answer of the service has this shape."""

    statusCode: int
    message: str
    errors: list[ErrorItem]


def error_body(
    status: int, items: list[dict[str, Any]], message: str | None = None
) -> dict[str, Any]:
    cleaned = [{k: v for k, v in item.items() if v is not None} for item in items]
    return {
        "statusCode": status,
        "message": message or (cleaned[0]["message"] if cleaned else "Error"),
        "errors": cleaned,
    }


class Flavour(Protocol):
    """How the errors of some routes are written for their clients (a seed's dialect), on
    top of the one shape: chosen by the request's path, so every error of those routes,
    middleware's included, is written the same way."""

    def applies(self, path: str) -> bool: ...

    def render(
        self,
        scope: Scope,
        status: int,
        problems: Sequence[Problem],
        message: str | None,
        headers: dict[str, str],
    ) -> Response: ...


FLAVOURS = "error_flavours"
"""The app's state attribute listing its flavours (set by ``install``)."""


def route_path(scope: Scope) -> str:
    """The path routes are matched on: behind a proxy that mounts tender under a prefix
    (``--root-path /shop``), the request's path carries the prefix and the routes do not."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _flavour(scope: Scope) -> Flavour | None:
    app = scope.get("app")
    flavours: Sequence[Flavour] = getattr(getattr(app, "state", None), FLAVOURS, ())
    path = route_path(scope)
    return next((f for f in flavours if f.applies(path)), None)


def problem_response(
    scope: Scope,
    status: int,
    problems: Sequence[Problem],
    *,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The one place an error answer is written: in the service's shape, or in the dialect
    of the route's flavour (which keeps that shape and adds to it)."""
    flavour = _flavour(scope)
    if flavour is not None:
        return flavour.render(scope, status, problems, message, dict(headers or {}))
    body = error_body(status, [p.item() for p in problems], message)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers)


def refusal(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    source: str = "body",
    headers: dict[str, str] | None = None,
    params: Mapping[str, object] | None = None,
) -> Response:
    """One error, answered from anywhere (middleware included); ``message`` is a template
    when ``params`` are given."""
    params = params or {}
    text = message.format(**params) if params else message
    problem = Problem(code, text, field, message, params, source)
    return problem_response(scope, status, [problem], headers=headers)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = error_body(status, [{"code": code, "message": message, "field": field}])
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route, so OpenAPI shows its error answers."""
    return {code: {"model": ErrorBody} for code in codes}


def domain_problems(exc: e.DomainError) -> list[Problem]:
    return [
        Problem(err.code, err.detail, err.field, err.template, err.params, err.source)
        for err in (exc, *exc.more)
    ]


def domain_error_items(exc: e.DomainError) -> list[dict[str, Any]]:
    return [problem.item() for problem in domain_problems(exc)]


def retry_headers(exc: e.DomainError) -> dict[str, str] | None:
    retry_after = getattr(exc, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else None


OWN_STATUS = "tender.own_status"
"""The status an answered domain error has of its own, where a seed's format answers it with
another (Glue's 422 for a conflict): whether a retry may find it resolved is the error's, not
the wire's, so ``IdempotencyKeys`` keeps the answer or not by this."""


def domain_response(scope: Scope, exc: e.DomainError, status: int | None = None) -> Response:
    own = status_for(exc)
    if status is not None and status != own:
        scope.setdefault("state", {})[OWN_STATUS] = own
    return problem_response(scope, status or own, domain_problems(exc), headers=retry_headers(exc))


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DomainError)
    return domain_response(request.scope, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems, malformed = validation_problems(exc.errors(), exc.body)
    message = "Malformed JSON in the request body." if malformed else "The request is invalid."
    return problem_response(request.scope, 400, problems, message=message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
    code = codes.get(exc.status_code, "InvalidInput" if exc.status_code < 500 else "GeneralError")
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    # An exception that carries its template (the body limit's) is translated like the rest.
    template = getattr(exc, "template", None)
    params: Mapping[str, object] | None = getattr(exc, "params", None)
    message = template if isinstance(template, str) and params else str(exc.detail)
    return refusal(request.scope, exc.status_code, code, message, headers=headers, params=params)


ROUTED_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the path takes (Starlette names the first route's only, and
    ``/orders`` is one route for ``GET`` and another for ``POST``); ``HEAD`` with ``GET``."""
    routes = request.app.router.routes
    methods = {
        method
        for method in ROUTED_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    headers = {"WWW-Authenticate": 'Basic realm="tender"'} if exc.status == 401 else None
    # RFC 6749 §5.2 clients read error/error_description; everyone else reads the usual shape.
    extra = {"error": exc.error, "error_description": exc.description}
    problem = Problem(exc.error, exc.description)
    return problem_response(request.scope, exc.status, [problem], headers=headers, extra=extra)


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unavailable)
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return refusal(request.scope, 503, exc.code, exc.message, headers=headers)


UNEXPECTED = "An unexpected error occurred."
DATABASE_UNAVAILABLE = (
    "The service's database cannot take the request for now. Send it again shortly, with the "
    "same Idempotency-Key if it had one."
)
RETRY_AFTER_SECONDS = "2"


def failure(scope: Scope, exc: Exception) -> Response:
    """The answer to an error no handler expected: 503 when the database cannot be reached or
    stayed too busy (nothing is wrong with the request or the code, and a client that sends it
    again once the database is back is answered, or with its Idempotency-Key replayed), else
    500."""
    if isinstance(exc, e.StoreUnavailable):
        log.error("database unavailable: %s", type(exc.__cause__).__name__)
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
        return refusal(scope, 503, "ServiceUnavailable", DATABASE_UNAVAILABLE, headers=headers)
    return refusal(scope, 500, "GeneralError", UNEXPECTED)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    return failure(request.scope, exc)


def log_unexpected(exc: Exception) -> None:
    log.error("unhandled error", exc_info=exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Reached outside tender's middleware (where the correlation id is unset) by an error
    raised outside it, or after an answer that broke off half-sent."""
    log_unexpected(exc)
    return refusal(request.scope, 500, "GeneralError", UNEXPECTED)


def install(app: FastAPI, flavours: Sequence[Flavour] = ()) -> None:
    """The handlers, and the flavours that write some routes' errors in a seed's dialect."""
    setattr(app.state, FLAVOURS, tuple(flavours))
    app.add_exception_handler(e.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(e.StoreUnavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
