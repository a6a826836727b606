"""Plain ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tender.api.errors import RETRY_AFTER_SECONDS, failure, log_unexpected, refusal, route_path
from tender.domain.errors import StoreUnavailable

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
CORRELATION_PATTERN = r"[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?"
"""Printable ASCII, spaces inside only, up to 128 characters (what events keep): the request ids
callers use (braced GUIDs, base64, ``shop/req/42``) are reflected as they came, as Centra's API
does; the JSON logs escape what they carry. Control characters, other encodings and longer
values are not."""
_VALID_CORRELATION = re.compile(CORRELATION_PATTERN)
log = logging.getLogger("tender.correlation")
shutdown_log = logging.getLogger("tender.shutdown")


class HttpMiddleware:
    """Pure ASGI middleware that acts on HTTP requests only: lifespan and other scopes pass
    straight through, so each middleware states just what it does to a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class CorrelationId(HttpMiddleware):
    """Accept ``X-Correlation-ID`` (or make one), keep it for logs, echo it on the response."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = None
        refused = None
        for name, raw in scope["headers"]:
            if name == b"x-correlation-id":
                text = raw.decode("latin-1")
                value = text if _VALID_CORRELATION.fullmatch(text) else None
                refused = None if value else len(text)
                break
        value = value or str(uuid.uuid4())
        token = correlation_id.set(value)
        if refused is not None:
            # The refused value is not logged: it could carry anything (a secret, a log
            # injection); its length and the new id are enough to find the caller.
            log.warning("refused X-Correlation-ID", extra={"refusedLength": refused})
        header = (b"x-correlation-id", value.encode())
        started = finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            elif message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                extra = [header]
                if not any(name == b"cache-control" for name, _ in headers):
                    # Answers carry codes, PINs, session ids and balances: no cache keeps
                    # one unless its route says so (the enabler's files, the keys).
                    extra.append(NO_STORE)
                message["headers"] = [*headers, *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            # Starlette and uvicorn log and answer unhandled errors outside every middleware,
            # so without the id; a 500 is when a caller and the operator most need it. It is
            # logged and answered here, once; only an answer that broke off half-sent goes on
            # up, for the server to drop the connection.
            if not isinstance(error, StoreUnavailable):  # ``failure`` logs those
                log_unexpected(error)
            if finished:  # answered whole by the CORS middleware
                return
            if started:
                raise
            await failure(scope, error)(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)


NO_STORE = (b"cache-control", b"no-store")


class HeadAsGet(HttpMiddleware):
    """``HEAD`` is answered as ``GET`` is, without the body (RFC 9110 §9.3.2): load balancers
    and uptime checks probe with it. The server sees ``HEAD`` still (its own scope), so the
    answer keeps the ``Content-Length`` a ``GET`` would have."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, without_body)
        finally:
            if "route" in as_get:  # for the access log
                scope["route"] = as_get["route"]


async def answer_failure(
    scope: Scope, receive: Receive, send: Send, error: Exception, *, started: bool
) -> None:
    """Answer an error no handler took, unless the answer has started (nothing is sent twice),
    then let it propagate to be logged. A database out of reach is answered (503) and logged
    by ``failure``, and that is all."""
    if started:
        raise error
    await failure(scope, error)(scope, receive, send)
    if not isinstance(error, StoreUnavailable):
        raise error


class CancelledAnswer(HttpMiddleware):
    """A request the server cancels (at shutdown, once ``TENDER_SHUTDOWN_GRACE_SECONDS`` have
    passed) is answered 503 in the error shape, as a database out of reach is, and logged as
    one line. uvicorn would answer a plain-text 500 and log a traceback of the cancellation,
    which looks like a defect of tender and tells the client nothing of what to do.

    Its work has rolled back by the time the cancellation reaches here (the transactions and
    the connection's lease unwound on the way), unless it was cancelled during its commit,
    whose outcome is unknown as after a crash: the answer asks for the request again, with its
    Idempotency-Key, which covers both. Only a cancellation of the request's own task is
    answered; an answer already begun goes on up, for the server to drop the connection."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if started or task is None or not task.cancelling():
                raise
            task.uncancel()  # answered: the request's task ends as any other
            shutdown_log.warning("request cancelled before its answer: the service is stopping")
            headers = {"Retry-After": RETRY_AFTER_SECONDS, "Connection": "close"}
            refused = refusal(scope, 503, "ServiceUnavailable", STOPPING, headers=headers)
            await refused(scope, receive, send)


STOPPING = (
    "The service stopped before it could finish this request. Send it again shortly, with the "
    "same Idempotency-Key if it had one."
)
TOO_LARGE = "The request body exceeds {limit} bytes."


class RequestConnection(HttpMiddleware):
    """The request's statements share one database connection (``tender.db.lease``), taken
    at its first statement and given back as the answer starts.

    Nothing waits on the client while it is held: the body (at most the size limit) is read
    before the request runs, and ``let_go`` gives the connection back before the answer is
    sent. A client that sends its body slowly, or never reads its answer, ties up a task and
    a socket, never one of the pool's few connections, which every other shopper needs."""

    def __init__(
        self,
        app: ASGIApp,
        lease: Callable[[], contextlib.AbstractAsyncContextManager[None]],
        let_go: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(app)
        self.lease = lease
        self.let_go = let_go

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = await _whole_body(receive)
        if received[-1]["type"] == "http.disconnect":
            # The client left before its body arrived: nobody is there to answer, and a body
            # cut short must not run as if it were whole (nor end as a 500 with a traceback).
            log.info("the client left before its request body arrived")
            return
        let_go = self.let_go

        async def send_apart(message: Message) -> None:
            if message["type"] == "http.response.start":
                await let_go()
            await send(message)

        async with self.lease():
            await self.app(scope, _replaying(received, receive), send_apart)


async def _whole_body(receive: Receive) -> list[Message]:
    """The request's messages up to the end of its body (or the client leaving)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``messages`` again, then the client's own ``receive`` (which tells of a disconnect)."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, TOO_LARGE.format(limit=limit))
        self.template = TOO_LARGE
        self.params = {"limit": limit}


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes with 413, by header up front or while streaming;
    the paths in ``smaller`` have a smaller limit of their own."""

    def __init__(self, app: ASGIApp, limit: int, smaller: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.smaller = dict(smaller or {})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        answer = refusal(
            scope,
            413,
            "PayloadTooLarge",
            TOO_LARGE,
            headers={"Connection": "close"},
            params={"limit": limit},
        )
        await answer(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.smaller.get(route_path(scope), self.limit)
        for name, raw in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(raw)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(scope, receive, send, limit)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)
