"""``Idempotency-Key`` on every POST, for server and browser callers alike.

A key is scoped to the caller (the API client, admin or browser session behind the
credentials, not the credentials themselves, so a refreshed token keeps its keys), the method,
the path and the key. The first answer is kept for 24 hours in the database (so every worker
and machine sees it) and replayed byte for byte, marked ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tender import faults
from tender.api.security import principal_for
from tender.db.idempotency_store import SqlIdempotencyStore
from tender.domain.idempotency import (
    MAX_KEY_LENGTH,
    Decision,
    StoredResponse,
    decide,
    worth_keeping,
)
from tender.runtime import Runtime

REPLAYED = b"idempotent-replayed"


def _digest(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


async def caller_of(runtime: Runtime, scope: Scope) -> str:
    headers = dict(scope["headers"])
    session = headers.get(b"x-session-id")
    if session:
        return "session:" + runtime.hasher.secret(session.decode("latin-1")).hex()
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        principal = await principal_for(runtime, value, scope.setdefault("state", {}))
        if principal is not None:
            return principal.actor
        return "unauthenticated:" + hashlib.sha256(value.encode()).hexdigest()
    if scheme.lower() == "basic":
        return "basic:" + hashlib.sha256(value.encode()).hexdigest()
    return "anonymous"


def _json(status: int, code: str, message: str) -> StoredResponse:
    body = json.dumps(
        {
            "statusCode": status,
            "message": message,
            "errors": [{"code": code, "message": message, "field": "Idempotency-Key"}],
        }
    ).encode()
    return StoredResponse(
        status, [["content-type", "application/json"], ["content-length", str(len(body))]], body
    )


async def _send(send: Send, response: StoredResponse, *, replayed: bool | None) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if replayed is not None:
        headers.append((REPLAYED, b"true" if replayed else b"false"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class IdempotencyKeys:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            await _send(
                send,
                _json(
                    400,
                    "InvalidIdempotencyKey",
                    f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters",
                ),
                replayed=None,
            )
            return
        body = await _read_body(receive)
        runtime: Runtime = scope["app"].state.runtime
        caller = await caller_of(runtime, scope)
        target = scope["path"] + "?" + scope.get("query_string", b"").decode("latin-1")
        scope_hash = _digest(caller.encode(), b"POST", target.encode(), key.encode())
        request_hash = _digest(body)
        decision, stored = await runtime.db.transaction(
            lambda conn: self._begin(SqlIdempotencyStore(conn), runtime, scope_hash, request_hash)
        )
        if decision is Decision.REPLAY and stored is not None:
            await _send(send, stored, replayed=True)
            return
        if decision is Decision.MISMATCH:
            await _send(
                send,
                _json(
                    422,
                    "IdempotencyKeyReused",
                    "this Idempotency-Key was used with a different request",
                ),
                replayed=None,
            )
            return
        if decision is Decision.BUSY:
            await _send(
                send,
                _json(
                    409,
                    "IdempotencyKeyInUse",
                    "a request with this Idempotency-Key is still running",
                ),
                replayed=None,
            )
            return
        await self._run(scope, body, send, runtime, scope_hash)

    async def _begin(
        self,
        store: SqlIdempotencyStore,
        runtime: Runtime,
        scope_hash: bytes,
        request_hash: bytes,
    ) -> tuple[Decision, StoredResponse | None]:
        now = runtime.clock.now()
        if await store.claim(scope_hash, request_hash, now):
            return Decision.PROCEED, None
        record = await store.get(scope_hash)
        if record is None:  # expired and swept between the two statements
            await store.claim(scope_hash, request_hash, now)
            return Decision.PROCEED, None
        decision = decide(record, request_hash, now)
        if decision is Decision.EXPIRED:
            await store.forget(scope_hash)
            await store.claim(scope_hash, request_hash, now)
            return Decision.PROCEED, None
        if decision is Decision.TAKE_OVER and not await store.take_over(
            scope_hash, record.locked_until, now
        ):
            return Decision.BUSY, None
        return decision, record.response

    async def _run(
        self, scope: Scope, body: bytes, send: Send, runtime: Runtime, scope_hash: bytes
    ) -> None:
        sent_body = False
        start: Message | None = None
        chunks: list[bytes] = []

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await runtime.db.transaction(lambda c: SqlIdempotencyStore(c).forget(scope_hash))
            raise
        assert start is not None
        response = StoredResponse(
            start["status"],
            [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start.get("headers", [])],
            b"".join(chunks),
        )
        keep = worth_keeping(response.status)

        async def record(conn: Any) -> None:
            store = SqlIdempotencyStore(conn)
            if keep:
                await store.finish(scope_hash, response)
            else:
                await store.forget(scope_hash)

        await runtime.db.transaction(record)
        faults.crash_point("after_commit")
        await _send(send, response, replayed=False if keep else None)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
