"""CORS for the browser routes: preflights are answered for allowed origins only, with a long
``Access-Control-Max-Age`` so a page preflights once, not before every call (the cost the
Centra seed warns about). Actual responses name the origin and expose our headers for allowed
origins only, so a page on any other origin cannot read what tender answers (an order, a cart,
a balance), whatever credentials it makes the browser send."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from tender.api.browser import origin_allowed, origin_known, session_tokens
from tender.api.compat.spryker.shoppers import BROWSER_HEADERS as GLUE_BROWSER_HEADERS
from tender.api.compat.spryker.shoppers import GLUE_PATHS
from tender.api.errors import refusal, route_path
from tender.api.middleware import HttpMiddleware, answer_failure
from tender.domain.errors import StoreUnavailable
from tender.domain.sessions import Session
from tender.enabler import URL_PREFIX as ENABLER_FILES
from tender.runtime import Runtime

PREFLIGHT_MAX_AGE = "7200"
"""Chromium caps the cache at two hours; asking for more changes nothing."""
ALLOWED_HEADERS = (
    "Content-Type, X-Session-Id, API-token, Idempotency-Key, X-Correlation-ID, Accept-Language"
)
"""``API-token`` is Centra's name for the session id. ``Authorization`` is allowed on Glue's
routes only, where a customer sends its identity provider's token (a server credential sent
from a page is refused there by the route)."""
EXPOSED_HEADERS = "X-Correlation-ID, Idempotent-Replayed, Retry-After"
MAX_ORIGIN = 200


class BrowserCors(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        origin_raw = headers.get(b"origin")
        # The enabler's files are public code any origin may load: their route sends its own
        # ``Access-Control-Allow-Origin: *``, and a second header would make browsers refuse them.
        if origin_raw is None or route_path(scope).startswith(ENABLER_FILES):
            await self.app(scope, receive, send)
            return
        origin = origin_raw.decode("latin-1")
        runtime = scope["app"].state.runtime
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(scope, receive, send, origin, await _known(runtime, origin))
            return

        # The route's browser check keeps the session it resolved here, so the common case
        # (a session's own page) needs no second lookup.
        state = scope.setdefault("state", {})
        started = False

        async def with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), (b"vary", b"Origin")]
                if await _allowed(runtime, scope, origin, state):
                    headers += [
                        (b"access-control-allow-origin", origin_raw),
                        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                    ]
                message["headers"] = headers
            await send(message)

        # The route itself decides whether this origin may act (per session); the header
        # only lets a page of an allowed origin read the answer, including a 401 refusal, a
        # 413 (the body limit is inside this) and a 500 or 503 (answered here, not outside).
        try:
            await self.app(scope, receive, with_cors)
        except Exception as error:
            await answer_failure(scope, receive, with_cors, error, started=started)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool
    ) -> None:
        if not allowed:
            refused = refusal(
                scope,
                401,
                "OriginNotAllowed",
                "This origin is not allowed.",
                field="Origin",
                source="header",
                headers={"Vary": "Origin"},
            )
            await refused(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode()),
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", _allowed_headers(route_path(scope)).encode()),
                    (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _allowed_headers(path: str) -> str:
    if path in GLUE_PATHS:
        return f"{ALLOWED_HEADERS}, {GLUE_BROWSER_HEADERS}"
    return ALLOWED_HEADERS


async def _allowed(runtime: Runtime, scope: Scope, origin: str, state: dict[str, Any]) -> bool:
    """The service's origins, and the origins of the session the request names: its own once
    it is known, else (an expired or unknown one, whose page may read why it was refused) any
    live session's, as a preflight admits them. Never another session's for a session that
    is known, nor any session's for a request that names none: one client's session cannot
    make an origin readable on another client's sessions or on server routes."""
    named = state.get("named_session")
    if isinstance(named, Session):
        return origin_allowed(runtime, named, origin)
    if not session_tokens(Headers(scope=scope), scope["method"]):
        return origin.rstrip("/") in runtime.settings.allowed_origins
    try:
        return await _known(runtime, origin)
    except StoreUnavailable:  # the answer is a 503 then, for the service's own origins only
        return False
    finally:
        # The answer starts now: the request's connection, which the lookup took again after
        # ``RequestConnection`` let it go, is not held while a slow client reads it.
        await runtime.db.let_go()


async def _known(runtime: Runtime, origin: str) -> bool:
    """An origin no session can have allowed (a NUL, which PostgreSQL would refuse to compare,
    or more than the 200 characters an allowed origin has) is not looked up."""
    if "\x00" in origin or len(origin) > MAX_ORIGIN:
        return False
    return await origin_known(runtime, origin)
