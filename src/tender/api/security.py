"""Bearer authentication (RFC 6750) for server calls: OAuth2 client tokens or admin JWTs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope as ASGIScope

from tender.api.errors import refusal
from tender.auth.jwt import looks_like_jwt
from tender.domain.principals import Principal, PrincipalKind, Scope
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


async def _bearer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BearerError)
    return bearer_response(request.scope, exc)


def bearer_response(scope: ASGIScope, exc: BearerError) -> Response:
    code = {401: "invalid_token", 403: "insufficient_scope"}[exc.status]
    return refusal(
        scope,
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
    if scheme.lower() != "bearer":
        # RFC 6750 §3.1: a caller using another scheme gets the challenge, no error code
        raise BearerError(401, None, "use the Bearer authentication scheme")
    if not token.strip():
        raise BearerError(401, "invalid_request", "the Bearer token is missing")
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


RESOLVED = "tender.resolved_token"
"""Where a request keeps the principal its bearer token resolved to (in the ASGI scope's
state), so middleware that needs the caller first does not cost a second lookup."""


async def principal_for(runtime: Runtime, token: str, state: dict[str, Any]) -> Principal | None:
    """Who a bearer token speaks for: a merchant admin (JWT) or an API client (opaque token,
    looked up once per request)."""
    resolved = state.get(RESOLVED)
    if resolved is not None and resolved[0] == token:
        return cast(Principal | None, resolved[1])
    principal: Principal | None
    if looks_like_jwt(token):
        principal = await runtime.jwt.verify(token, now=runtime.clock.now())
    else:
        principal = await runtime.db.lookup(
            lambda conn: runtime.oauth.principal(runtime.clients(conn), token)
        )
    state[RESOLVED] = (token, principal)
    return principal


CUSTOMER = "tender.resolved_customer"


async def customer_for(runtime: Runtime, token: str, state: dict[str, Any]) -> Principal | None:
    """The Glue customer a bearer token of the merchant's identity provider speaks for, or
    ``None`` for a token of any other issuer. A token naming that issuer but not valid raises
    401: it is no server credential either, and must not be tried as one."""
    verifier = runtime.customer_jwt
    if verifier is None or not looks_like_jwt(token) or verifier.issuer_of(token) is None:
        return None
    resolved = state.get(CUSTOMER)
    if resolved is not None and resolved[0] == token:
        principal = cast(Principal | None, resolved[1])
    else:
        principal = await verifier.verify(token, now=runtime.clock.now())
        state[CUSTOMER] = (token, principal)
    if principal is None:
        raise BearerError(401, "invalid_token", "the access token is invalid or has expired")
    return principal


async def authenticate(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise BearerError(401, None, "authentication is required")
    principal = await principal_for(
        runtime_of(request), token, request.scope.setdefault("state", {})
    )
    if principal is None:
        raise BearerError(401, "invalid_token", "the access token is invalid or has expired")
    return principal


Gate = Callable[[Request], Awaitable[Any]]
GATES: set[Gate] = set()
"""Dependencies that decide who may call at all. ``AuthFirstRoute`` runs them before the body
is read, so a caller without valid credentials gets 401 even for a malformed body; they keep
what they resolved on the request, so running them again as dependencies costs nothing."""


def gate(dependency: Gate) -> Gate:
    GATES.add(dependency)
    return dependency


_SCOPES: dict[Gate, Scope] = {}


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers whose token carries ``scope``."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.has(scope):
            raise BearerError(403, "insufficient_scope", f"this call needs {scope.value}", scope)
        return principal

    gate(dependency)
    _SCOPES[dependency] = scope
    return dependency


def scope_of(dependency: Gate) -> Scope | None:
    """The scope a gate of ``require`` asks for (for the OpenAPI document)."""
    return _SCOPES.get(dependency)


@gate
async def require_jwt(request: Request) -> Principal:
    """A dependency that admits JWTs only (tender's own or the trusted issuer's), whatever
    their scopes: the seed's status check is called by the merchant center with its JWT, and
    an API client's opaque token is not that credential."""
    principal = await authenticate(request)
    if principal.kind is not PrincipalKind.ADMIN:
        raise BearerError(401, "invalid_token", "this call takes a JWT, not an API client's token")
    return principal
