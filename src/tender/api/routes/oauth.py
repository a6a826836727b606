"""OAuth2 token endpoint (client credentials) and token introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from tender.api.errors import responses
from tender.api.security import BearerError, authenticate, basic_credentials, runtime_of
from tender.auth.oauth import OAuthError
from tender.domain.principals import Scope, format_scopes

router = APIRouter(prefix="/oauth", tags=["oauth"])


class AccessToken(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class TokenState(BaseModel):
    """RFC 7662 §2.2: an inactive token tells nothing but that."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SECRET_PARAMS = frozenset(
    {"client_secret", "password", "token", "access_token", "refresh_token", "client_assertion"}
)
"""Never accepted in a URL: proxies, browsers and access logs keep URLs (RFC 6749 §2.3.1 and
RFC 6750 §2.3 keep credentials out of them)."""


MAX_FORM_BYTES = 8192
"""A token or introspection form is a few short fields. Read before the caller is known, a
form of a mebibyte of ``%41`` cost 120 ms of percent-decoding, the loop blocked meanwhile."""


async def _params(request: Request) -> dict[str, str]:
    """Form fields (RFC 6749) with query parameters as a fallback (commercetools clients send
    ``grant_type`` and ``scope`` there), but never a credential: one in the query string is
    refused before anything is looked up or written, even if the form also carries it."""
    in_url = sorted(SECRET_PARAMS.intersection(request.query_params.keys()))
    if in_url:
        raise OAuthError(
            "invalid_request", f"send {', '.join(in_url)} in the request body, not in the URL"
        )
    params = dict(request.query_params.items())
    content_type = request.headers.get("content-type", "").lower()  # media types ignore case
    if content_type.startswith("application/x-www-form-urlencoded"):
        if len(await request.body()) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", f"the form is over {MAX_FORM_BYTES} bytes")
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif content_type and request.headers.get("content-length", "0") != "0":
        raise OAuthError("invalid_request", "send the parameters form-encoded")
    return params


def _one_method(request: Request, params: dict[str, str]) -> tuple[str, str] | None:
    """HTTP Basic's credentials, unless the form carries others too (RFC 6749 2.3: one
    method a request), which Basic would otherwise override unchecked. A form that repeats
    Basic's ``client_id`` alone is what some clients send, and says nothing else."""
    basic = basic_credentials(request)
    if basic is not None and (
        "client_secret" in params or params.get("client_id", basic[0]) != basic[0]
    ):
        raise OAuthError(
            "invalid_request", "send the client's credentials either as HTTP Basic or in the form"
        )
    return basic


def _form(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` for a form body this route reads itself (``_params``)."""
    schema = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in fields.items()
        },
        "required": required,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


TOKEN_FORM = _form(
    {
        "grant_type": "client_credentials",
        "scope": "Space-separated scopes, at most the client's or those they imply (all of the "
        "client's if left out).",
        "client_id": "The client's id, if not sent as HTTP Basic.",
        "client_secret": "The client's secret, if not sent as HTTP Basic.",
    },
    ["grant_type"],
)


@router.post(
    "/token",
    response_model=AccessToken,
    responses=responses(400, 401),
    openapi_extra={**TOKEN_FORM, "security": [{"basic": []}, {}]},
    summary="Client credentials grant: exchange a client id and secret for an access token",
)
async def token(request: Request, response: Response) -> AccessToken:
    params = await _params(request)
    grant = params.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    credentials = _one_method(request, params)
    if credentials is None and "client_id" in params:
        credentials = (params["client_id"], params.get("client_secret", ""))
    if credentials is None:
        raise OAuthError("invalid_client", "client authentication is required", status=401)
    runtime = runtime_of(request)
    client_id, secret = credentials

    # Credentials are checked by a read first: a caller who is not a client writes nothing.
    verified = await runtime.db.read(
        lambda conn: runtime.oauth.verify_client(
            runtime.clients(conn), client_id=client_id, client_secret=secret
        )
    )

    issued = await runtime.db.transaction(
        lambda conn: runtime.oauth.issue_token(
            runtime.clients(conn), verified=verified, scope=params.get("scope")
        )
    )
    response.headers.update(NO_STORE)
    return AccessToken(
        access_token=issued.access_token,
        token_type=issued.token_type,
        expires_in=issued.expires_in,
        scope=format_scopes(issued.scope),
    )


@router.post(
    "/introspect",
    response_model=TokenState,
    response_model_exclude_none=True,
    responses=responses(400, 401, 403),
    openapi_extra={
        **_form({"token": "The access token to look at."}, ["token"]),
        "security": [{"basic": []}, {"oauth2": [Scope.INTROSPECT_OAUTH_TOKENS.value]}],
    },
    summary="RFC 7662 introspection; the caller needs introspect_oauth_tokens",
)
async def introspect(request: Request, response: Response) -> TokenState:
    runtime = runtime_of(request)
    params = await _params(request)
    basic = _one_method(request, params)
    if basic is not None:
        verified = await runtime.db.read(
            lambda conn: runtime.oauth.verify_client(
                runtime.clients(conn), client_id=basic[0], client_secret=basic[1]
            )
        )
        allowed = Scope.INTROSPECT_OAUTH_TOKENS in verified.client.scopes
    else:
        allowed = (await authenticate(request)).has(Scope.INTROSPECT_OAUTH_TOKENS)
    if not allowed:
        raise BearerError(
            403,
            "insufficient_scope",
            "this call needs introspect_oauth_tokens",
            Scope.INTROSPECT_OAUTH_TOKENS.value,
        )
    raw = params.get("token")
    if not raw:
        raise OAuthError("invalid_request", "token is required")
    result = await runtime.db.read(
        lambda conn: runtime.oauth.introspect(runtime.clients(conn), raw)
    )
    response.headers.update(NO_STORE)
    if not result.active:
        return TokenState(active=False)
    return TokenState(
        active=True,
        scope=format_scopes(result.scope),
        client_id=result.client_id,
        token_type="Bearer",
        exp=result.exp,
        iat=result.iat,
    )
