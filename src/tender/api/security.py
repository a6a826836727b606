"""Bearer authentication (RFC 6750) for server calls: OAuth2 client tokens or admin JWTs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tender.api.errors import error_response
from tender.auth.jwt import looks_like_jwt, verify_admin_token
from tender.auth.principals import Principal, Scope
from tender.db.client_store import SqlClientStore
from tender.runtime import Runtime

REALM = 'realm="tender"'


class BearerError(Exception):
    def __init__(self, status: int, error: str | None, description: str, scope: str = "") -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    def challenge(self) -> str:
        parts = [f"Bearer {REALM}"]
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)


async def _bearer_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BearerError)
    code = {401: "invalid_token", 403: "insufficient_scope"}[exc.status]
    return error_response(
        exc.status,
        exc.error or code,
        exc.description,
        headers={"WWW-Authenticate": exc.challenge()},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(BearerError, _bearer_error)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BearerError(401, "invalid_request", "use the Bearer authentication scheme")
    return token.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


async def authenticate(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise BearerError(401, None, "authentication is required")
    runtime = runtime_of(request)
    principal: Principal | None
    if looks_like_jwt(token):
        principal = verify_admin_token(
            token, key=runtime.jwt_key, issuer=runtime.settings.jwt_issuer, now=runtime.clock.now()
        )
    else:
        principal = await runtime.db.lookup(
            lambda conn: runtime.oauth.principal(SqlClientStore(conn), token)
        )
    if principal is None:
        raise BearerError(401, "invalid_token", "the access token is invalid or has expired")
    return principal


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers whose token carries ``scope``."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.has(scope):
            raise BearerError(403, "insufficient_scope", f"this call needs {scope.value}", scope)
        return principal

    return dependency
