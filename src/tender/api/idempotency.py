"""``Idempotency-Key`` on every POST, for server and browser callers alike.

A key is scoped to the caller (the API client, admin or browser session behind the
credentials, not the credentials themselves, so a refreshed token keeps its keys), the method,
the path and the key. The request's units of work all run in one database transaction (see
``RequestTransaction``); its first unit claims the key, and this middleware commits the
transaction together with the answer, sealed, once the route has produced it. So:

- a crash before the commit leaves neither the change nor the answer, and frees the key at
  once; after it, a retry gets the first answer byte for byte (``Idempotent-Replayed: true``);
- a replay happens inside the route, after its authentication and scope checks, so a narrower
  token of the same client gets 403, not the stored answer;
- callers who are not authenticated never reach a claim: nothing is written for them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tender.api.browser import session_tokens
from tender.api.compat.spryker.shoppers import guest_actor
from tender.api.errors import OWN_STATUS, refusal
from tender.api.security import BearerError, customer_for, principal_for
from tender.auth.sealing import SealBroken, Sealer
from tender.domain.idempotency import (
    MAX_KEY_LENGTH,
    Replay,
    StoredResponse,
    check_reuse,
    worth_keeping,
)
from tender.domain.principals import PrincipalKind
from tender.faults import crash_point
from tender.runtime import Runtime
from tender.settings_checks import OWN_JWT_ISSUER

REPLAYED = b"idempotent-replayed"
_KEY = re.compile(rb"[\x20-\x7e]{1,%d}" % MAX_KEY_LENGTH)
"""The IETF draft's key is a structured-field string: printable ASCII, here at most 255."""


async def caller_of(runtime: Runtime, scope: Scope) -> str | None:
    """Who the key belongs to, or None for a caller whose credentials are not valid (nothing
    will be kept for them). ``Authorization`` comes first: a route that takes it authenticates
    by it and ignores a session id beside it, and a route that takes a session refuses a
    request that carries both. (Read first, a session id sent beside a client's token, which
    that route never checks, would let another client holding the same id and key be
    replayed the first one's answer.) Then a session, then a Glue guest's id; each guest and
    each customer has keys of its own. HTTP Basic callers (the token endpoint) are checked by
    the route before its first unit of work, which is where the key is claimed."""
    headers = Headers(scope=scope)
    scheme, _, value = headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return await _bearer_actor(runtime, value, scope.setdefault("state", {}))
    if scheme.lower() == "basic" and value:
        return "basic:" + runtime.hasher.secret(value).hex()
    sessions = session_tokens(headers, scope["method"])
    if sessions:
        # Two different ids are refused by the route; then nothing is kept.
        if len(sessions) > 1:
            return None
        return "session:" + runtime.hasher.secret(sessions.pop()).hex()
    return guest_actor(runtime, headers)


async def _bearer_actor(runtime: Runtime, token: str, state: dict[str, Any]) -> str | None:
    try:
        customer = await customer_for(runtime, token, state)
    except BearerError:
        return None
    if customer is not None:
        return customer.actor
    principal = await principal_for(runtime, token, state)
    if principal is None:
        return None
    issuer = runtime.jwt.issuer_of(token) if principal.kind is PrincipalKind.ADMIN else None
    if issuer is not None and issuer != OWN_JWT_ISSUER:
        # The trusted issuer's admin "alice" is not tender's own "alice": keys of its own.
        return f"{principal.actor}@{runtime.hasher.secret(issuer).hex()[:32]}"
    return principal.actor


class Claim:
    """The key of one request: claimed by its first unit of work, kept with its commit."""

    def __init__(
        self, runtime: Runtime, sealer: Sealer, key: bytes, scope_hash: bytes, body: bytes
    ) -> None:
        self.runtime = runtime
        self.sealer = sealer
        self.key = key
        self.scope_hash = scope_hash
        self.request_hash = sealer.request_fingerprint(body)
        self._body = body

    async def begin(self, conn: AsyncConnection) -> None:
        store = self.runtime.idempotency(conn)
        record = await store.claimed(self.scope_hash, self.runtime.clock.now())
        if record is None:
            return
        if record.request_hash != hashlib.sha256(self._body).digest():
            # Kept before bodies were fingerprinted with a key (a plain SHA-256): such a row
            # still answers its retry until it expires, a day after.
            check_reuse(record, self.request_hash)
        try:
            stored = self.sealer.open(record.sealed, idempotency_key=self.key, row=self.scope_hash)
        except SealBroken:
            return  # sealed under an older secret: it cannot be replayed, so run again
        raise Replay(stored)

    async def keep(self, conn: AsyncConnection, response: StoredResponse) -> None:
        sealed = self.sealer.seal(response, idempotency_key=self.key, row=self.scope_hash)
        await self.runtime.idempotency(conn).keep(
            self.scope_hash, self.request_hash, sealed, self.runtime.clock.now()
        )


class IdempotencyKeys:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._sealer: Sealer | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        sent = [value for name, value in scope["headers"] if name == b"idempotency-key"]
        if not sent:
            await self.app(scope, receive, send)
            return
        key = sent[0].strip()
        if len(sent) > 1 or not _KEY.fullmatch(key):
            refused = refusal(
                scope,
                400,
                "InvalidIdempotencyKey",
                "an Idempotency-Key is sent once, as 1 to {limit} printable ASCII characters",
                field="Idempotency-Key",
                source="header",
                params={"limit": MAX_KEY_LENGTH},
            )
            await refused(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client left before its body arrived: nothing to run, nobody to answer
        replay = _replaying(body)
        runtime: Runtime = scope["app"].state.runtime
        caller = await caller_of(runtime, scope)
        if caller is None:
            await self.app(scope, replay, send)
            return
        if self._sealer is None:
            self._sealer = Sealer(runtime.settings.secret_bytes())
        target = scope["path"] + "?" + scope.get("query_string", b"").decode("latin-1")
        scope_hash = self._sealer.lookup_hash(caller.encode(), b"POST", target.encode(), key)
        claim = Claim(runtime, self._sealer, key, scope_hash, body)
        replayed: bool | None = None
        async with runtime.db.request_transaction(claim.begin, key=scope_hash) as transaction:
            captured = await _capture(self.app, scope, replay)
            if captured is None:  # the route replayed a kept answer (see ``replay_handler``)
                response, replayed = scope["state"].pop(REPLAY_STATE), True
            else:
                response = captured
                keep = worth_keeping(scope.setdefault("state", {}).pop(OWN_STATUS, response.status))
                if transaction.active and response.status < 500:
                    await transaction.commit(
                        (lambda conn: claim.keep(conn, captured)) if keep else _nothing
                    )
                    crash_point("after_commit")
                    replayed = False if keep else None
        # Sent once the transaction has ended (or rolled back): a client slow to read its
        # answer holds neither the connection nor, on SQLite, the writer's turn.
        await _send(send, response, replayed=replayed)


REPLAY_STATE = "tender.idempotent_replay"


async def replay_handler(request: Request, exc: Exception) -> Response:
    """Hands the kept answer of ``Replay`` to the middleware, which sends it as it was."""
    assert isinstance(exc, Replay)
    request.scope.setdefault("state", {})[REPLAY_STATE] = exc.response
    return Response(status_code=204)  # never sent


async def _nothing(_: AsyncConnection) -> None:
    return None


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> StoredResponse | None:
    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    assert start is not None
    if REPLAY_STATE in scope.get("state", {}):
        return None
    return StoredResponse(
        start["status"],
        [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start.get("headers", [])],
        b"".join(chunks),
    )


async def _send(send: Send, response: StoredResponse, *, replayed: bool | None) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if replayed is not None:
        headers.append((REPLAYED, b"true" if replayed else b"false"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or ``None`` if the client disconnected before its end: a part of a body
    must never run as if it were all of it (a refund without its amount refunds everything)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
