"""The one error shape of the whole service, and the one table from domain errors to HTTP.

``{"statusCode": 400, "message": "…", "errors": [{"code": "…", "message": "…", "field": "…"}]}``
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def domain_error_items(exc: e.DomainError) -> list[dict[str, Any]]:
    return [
        {"code": err.code, "message": err.detail, "field": err.field} for err in (exc, *exc.more)
    ]


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.DomainError)
    status = status_for(exc)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(
        error_body(status, domain_error_items(exc)), status_code=status, headers=headers
    )


JSONAPI_PATHS = frozenset({"/checkout-data", "/checkout", "/order-payments"})
"""Routes that speak JSON:API (the Spryker Glue seed)."""


def _once(errors: Sequence[Any]) -> list[Any]:
    """Each problem once: a body that a route and its card lookup dependency both read (see
    ``tender.api.card_lookups``) is validated, and found wrong, once for each."""
    seen: dict[tuple[str, tuple[Any, ...], str], Any] = {}
    for err in errors:
        seen.setdefault((err.get("type", ""), tuple(err.get("loc", ())), err.get("msg", "")), err)
    return list(seen.values())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items: list[dict[str, Any]] = []
    malformed = False
    for err in _once(exc.errors()):
        kind = err.get("type", "")
        if kind == "json_invalid":
            malformed = True
            items.append(
                {"code": "InvalidJsonInput", "message": "The request body is not valid JSON."}
            )
            continue
        message = str(err.get("msg", "invalid value"))
        ctx = err.get("ctx") or {}
        if kind == "value_error" and "error" in ctx:
            message = str(ctx["error"])
        code = "MissingField" if kind == "missing" else "InvalidField"
        items.append({"code": code, "message": message, "field": _field(tuple(err.get("loc", ())))})
    message = "Malformed JSON in the request body." if malformed else "The request is invalid."
    if request.url.path in JSONAPI_PATHS:
        # JSON:API clients read ``status`` and ``detail`` on each error object.
        items = [{**item, "status": "400", "detail": item["message"]} for item in items]
    return JSONResponse(error_body(400, items, message), status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
    code = codes.get(exc.status_code, "InvalidInput" if exc.status_code < 500 else "GeneralError")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def _oauth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    headers = {"WWW-Authenticate": 'Basic realm="tender"'} if exc.status == 401 else None
    # RFC 6749 §5.2 clients read error/error_description; everyone else reads the usual shape.
    extra = {"error": exc.error, "error_description": exc.description}
    return error_response(exc.status, exc.error, exc.description, headers=headers, extra=extra)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unavailable)
    return error_response(503, exc.code, exc.message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "GeneralError", "An unexpected error occurred.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(e.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
