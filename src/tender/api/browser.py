"""Who a browser request speaks for: the session named by ``X-Session-Id``, and only from an
origin that session (or the service) allows. A browser request carrying ``Authorization`` (or
Centra's ``API-Authorization``) is refused, so a server credential pasted into a page can never
work there (Centra's rule).

As in Centra's checkout API, the page may name its session as ``API-token`` too, and on a GET
as a parameter of ``Accept`` (``Accept: */*; api-token=…``): ``Accept`` is a header browsers
send cross-origin without a preflight, so a page's reads cost one request, not two. That is
safe because tender checks the ``Origin`` itself: a page of an origin the session does not
allow gets 401, with or without a preflight."""

from __future__ import annotations

import re

from fastapi import Request
from starlette.datastructures import Headers

from tender.api.security import gate, runtime_of
from tender.domain.sessions import (
    CredentialsInBrowser,
    OriginNotAllowed,
    Session,
    SessionInvalid,
)
from tender.runtime import Runtime

SESSION_HEADERS = ("x-session-id", "api-token")
READS = frozenset({"GET", "HEAD"})
_ACCEPT_TOKEN = re.compile(r";\s*api-token\s*=\s*\"?([^\s;,\"]*)\"?", re.IGNORECASE)


def session_tokens(headers: Headers, method: str) -> set[str]:
    """Every session id the request names: ``X-Session-Id``, ``API-token`` and, on reads,
    ``api-token`` parameters of ``Accept``. More than one different id is refused."""
    found = {value.strip() for name in SESSION_HEADERS for value in headers.getlist(name)}
    if method in READS:
        for accept in headers.getlist("accept"):
            found.update(token.strip() for token in _ACCEPT_TOKEN.findall(accept))
    return found


SERVER_CREDENTIALS = ("authorization", "api-authorization")
"""Headers that carry a server's secret (Centra's shared secret travels in
``API-Authorization``): a browser call sending one is refused, never run."""


def has_session(request: Request) -> bool:
    return bool(session_tokens(request.headers, request.method))


def origin_allowed(runtime: Runtime, session: Session, origin: str) -> bool:
    origin = origin.rstrip("/")
    return origin in session.allowed_origins or origin in runtime.settings.allowed_origins


@gate
async def browser_session(request: Request) -> Session:
    known: Session | None = getattr(request.state, "session", None)
    if known is not None:
        return known
    runtime = runtime_of(request)
    if any(name in request.headers for name in SERVER_CREDENTIALS):
        raise CredentialsInBrowser()
    tokens = session_tokens(request.headers, request.method)
    if len(tokens) > 1:
        raise SessionInvalid("the request names more than one session")
    token = tokens.pop() if tokens else None
    if not token:
        raise SessionInvalid("the X-Session-Id header is required")
    session = await runtime.db.lookup(
        lambda conn: runtime.sessions.resolve(runtime.work(conn, actor=None), token=token)
    )
    # What CORS answers from (``cors._allowed``): this session's origins, even when the
    # request's own origin is refused next.
    request.state.named_session = session
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(runtime, session, origin):
        raise OriginNotAllowed()
    request.state.session = session
    return session


async def origin_known(runtime: Runtime, origin: str) -> bool:
    """For CORS preflights, which carry no session: the service's origins or a live session's."""
    origin = origin.rstrip("/")
    if origin in runtime.settings.allowed_origins:
        return True
    return await runtime.db.lookup(
        lambda conn: runtime.work(conn, actor=None).sessions.origin_allowed(
            origin, runtime.clock.now()
        )
    )
