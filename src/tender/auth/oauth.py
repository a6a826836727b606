"""OAuth2 client credentials (RFC 6749 §4.4) with opaque tokens and introspection (RFC 7662).

Tokens are random strings stored as keyed hashes, so they can be revoked and introspected, and a
copy of the database holds no usable token. Unknown clients cost the same hash as known ones.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from tender.domain.clients import ApiClient, ClientStore, StoredClient, StoredToken
from tender.domain.codes import Hasher
from tender.domain.errors import InvalidInput
from tender.domain.ids import new_id
from tender.domain.ports import Clock, SystemClock
from tender.domain.principals import InvalidScope, Principal, PrincipalKind, Scope, parse_scopes

TOKEN_PREFIX = "tnd_at_"
CLIENT_PREFIX = "tnd_"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: frozenset[Scope]
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class Introspection:
    active: bool
    scope: frozenset[Scope] = frozenset()
    client_id: str | None = None
    exp: int | None = None
    iat: int | None = None


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` is the registered code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class OAuth:
    def __init__(self, hasher: Hasher, *, token_ttl: timedelta, clock: Clock | None = None) -> None:
        self.hasher = hasher
        self.token_ttl = token_ttl
        self.clock = clock or SystemClock()
        self._dummy_hash = hasher.secret(secrets.token_urlsafe(32))

    async def create_client(
        self, store: ClientStore, *, name: str, scopes: str
    ) -> tuple[ApiClient, str]:
        """A new client and its secret; the secret is returned here once and never again."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("a client name is 1 to 200 characters", field="name")
        try:
            parsed = parse_scopes(scopes)
        except InvalidScope as error:
            raise InvalidInput(str(error), field="scopes") from None
        if not parsed:
            raise InvalidInput("a client needs at least one scope", field="scopes")
        client = ApiClient(
            id=new_id(),
            client_id=CLIENT_PREFIX + secrets.token_urlsafe(18),
            name=name,
            scopes=parsed,
            active=True,
            created_at=self.clock.now(),
        )
        secret = secrets.token_urlsafe(32)
        await store.insert_client(client, self.hasher.secret(secret))
        return client, secret

    async def rotate_secret(self, store: ClientStore, client_id: str) -> str | None:
        """A new secret for the client, returned here once; the old one and every token
        issued with it stop working when this commits. ``None`` for an unknown client."""
        secret = secrets.token_urlsafe(32)
        if not await store.replace_secret(client_id, self.hasher.secret(secret)):
            return None
        return secret

    async def verify_client(
        self, store: ClientStore, *, client_id: str, client_secret: str
    ) -> StoredClient:
        """The client, with the secret it was verified against: the token it is issued next
        is written only while that secret is still the client's (``issue_token``)."""
        stored = await store.client_by_client_id(client_id)
        expected = stored.secret_hash if stored else self._dummy_hash
        matches = hmac.compare_digest(self.hasher.secret(client_secret), expected)
        if stored is None or not matches or not stored.client.active:
            raise OAuthError("invalid_client", "client authentication failed", status=401)
        return stored

    async def issue_token(
        self, store: ClientStore, *, verified: StoredClient, scope: str | None
    ) -> IssuedToken:
        """A token for a client verified by its secret. Written only if that secret is still
        the client's and the client still active, checked by the insert itself under a share
        lock on the client: a token asked for with a secret that is being rotated or a client
        being disabled is either deleted by that change or never written."""
        client = verified.client
        try:
            requested = parse_scopes(scope) if scope else client.scopes
        except InvalidScope as error:
            raise OAuthError("invalid_scope", str(error)) from None
        # At most what the client may do: a scope its own imply too (``view_giftcards`` of
        # ``manage_giftcards``), so it can hand a job a token that only reads.
        holder = Principal(PrincipalKind.CLIENT, client.client_id, client.scopes)
        if not all(holder.has(s) for s in requested):
            raise OAuthError("invalid_scope", "the client is not allowed the requested scope")
        now = self.clock.now()
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        stored = StoredToken(client.client_id, requested, now, now + self.token_ttl)
        if not await store.insert_token(self.hasher.secret(raw), stored, verified.secret_hash):
            raise OAuthError("invalid_client", "client authentication failed", status=401)
        return IssuedToken(raw, int(self.token_ttl.total_seconds()), requested)

    async def principal(self, store: ClientStore, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        stored = await store.token(self.hasher.secret(token), self.clock.now())
        if stored is None:
            return None
        return Principal(PrincipalKind.CLIENT, stored.client_id, stored.scopes)

    async def introspect(self, store: ClientStore, token: str) -> Introspection:
        if not token.startswith(TOKEN_PREFIX):
            return Introspection(active=False)
        stored = await store.token(self.hasher.secret(token), self.clock.now())
        if stored is None:
            return Introspection(active=False)
        return Introspection(
            active=True,
            scope=stored.scopes,
            client_id=stored.client_id,
            exp=int(stored.expires_at.timestamp()),
            iat=int(stored.issued_at.timestamp()),
        )
