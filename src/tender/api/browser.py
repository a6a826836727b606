"""Who a browser request speaks for: the session named by ``X-Session-Id``, and only from an
origin that session (or the service) allows. A browser request carrying ``Authorization`` is
refused, so a server credential pasted into a page can never work there (Centra's rule)."""

from __future__ import annotations

from fastapi import Request

from tender.api.security import gate, runtime_of
from tender.domain.sessions import (
    CredentialsInBrowser,
    OriginNotAllowed,
    Session,
    SessionInvalid,
)
from tender.runtime import Runtime


def origin_allowed(runtime: Runtime, session: Session, origin: str) -> bool:
    origin = origin.rstrip("/")
    return origin in session.allowed_origins or origin in runtime.settings.allowed_origins


@gate
async def browser_session(request: Request) -> Session:
    known: Session | None = getattr(request.state, "session", None)
    if known is not None:
        return known
    runtime = runtime_of(request)
    if "authorization" in request.headers:
        raise CredentialsInBrowser()
    token = request.headers.get("x-session-id")
    if not token:
        raise SessionInvalid("the X-Session-Id header is required")
    session = await runtime.db.lookup(
        lambda conn: runtime.sessions.resolve(runtime.work(conn, actor=None), token=token)
    )
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
