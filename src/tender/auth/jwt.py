"""JWTs of merchant admins and of the status endpoint: verified here, minted by ``tender admin
token`` with tender's own key (``tender.auth.keys``), or issued by an external issuer whose keys
tender fetches (``tender.auth.jwks``).

Nothing in a token chooses how it is verified: its ``iss`` picks one of the trusted issuers, its
``kid`` one of that issuer's keys, and the key fixes the one algorithm it verifies (Ed25519 only
``EdDSA``, and so on). A header saying ``none``, or ``HS256`` in the hope that the public key is
used as an HMAC secret, names an algorithm the key does not have, and the token is refused
before its signature is looked at. There is no shared secret at all any more (the HS256
``TENDER_JWT_SECRET`` is gone): anyone who could read one could mint admin tokens.

Tokens must expire (``exp``), name who they speak for (``sub``), their issuer and tender as
their audience (``aud``), and may not stay valid for longer than the configured maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt

from tender.auth.keys import ALGORITHM, SigningKey, SigningKeys
from tender.domain.principals import (
    MAX_ADMIN_SUBJECT,
    InvalidScope,
    Principal,
    PrincipalKind,
    Scope,
    parse_scopes,
    usable_admin_subject,
)

OWN_ISSUER = "tender"
"""``iss`` of the tokens tender mints itself."""
DEFAULT_AUDIENCE = "tender"
LEEWAY_SECONDS = 30
"""Clock skew forgiven on ``exp`` and ``nbf`` (at most 60 s)."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class KeySource(Protocol):
    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this ``kid``, pinned to its one algorithm, or ``None``."""
        ...


class LocalKeys:
    """tender's own public keys (the current one and, after a rotation, the one before), to
    verify what ``tender admin token`` minted."""

    def __init__(self, signing: SigningKeys) -> None:
        self._keys = {key.kid: jwt.PyJWK(key.public_jwk) for key in signing.verifying}

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    name: str
    keys: KeySource
    own: bool
    """tender's own tokens name only scopes tender knows; an external issuer names its own
    scopes too, which are ignored."""


@dataclass(frozen=True, slots=True)
class _Unverified:
    kid: str
    alg: str
    issuer: str


def _unverified(token: str) -> _Unverified | None:
    """What picks the key: read before the signature is checked, trusted for nothing else."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, TypeError, ValueError):
        return None
    kid, alg, issuer = header.get("kid"), header.get("alg"), claims.get("iss")
    if not (isinstance(kid, str) and isinstance(alg, str) and isinstance(issuer, str)):
        return None
    return _Unverified(kid, alg, issuer)


class JwtVerifier:
    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        audience: str,
        max_lifetime: timedelta | None = None,
        kind: PrincipalKind = PrincipalKind.ADMIN,
    ) -> None:
        """``kind``: whom the tokens speak for. Admins carry scopes; customers (of the
        merchant's identity provider) carry none, whatever their token says."""
        self.issuers = {issuer.name: issuer for issuer in issuers}
        self.audience = audience
        self.max_lifetime = max_lifetime
        self.kind = kind

    def issuer_of(self, token: str) -> str | None:
        """The ``iss`` a token claims, unverified: which verifier should look at it."""
        seen = _unverified(token)
        return seen.issuer if seen is not None and seen.issuer in self.issuers else None

    async def verify(self, token: str, *, now: datetime) -> Principal | None:
        """The admin a token speaks for, or ``None`` if it is invalid, expired, unscoped, or
        valid for longer than ``max_lifetime`` from now (a token minted to last for years is as
        good as a leaked password).

        Time is checked against ``now`` (the service's clock) rather than PyJWT's own, so the
        whole service agrees on what time it is."""
        seen = _unverified(token)
        issuer = self.issuers.get(seen.issuer) if seen else None
        if seen is None or issuer is None:
            return None
        key = await issuer.keys.key(seen.kid)
        if key is None or seen.alg != key.algorithm_name:
            return None
        claims = self._decode(token, key, issuer.name)
        if claims is None or not self._in_time(claims, now):
            return None
        if self.kind is not PrincipalKind.ADMIN:
            return Principal(self.kind, str(claims["sub"]), frozenset())
        scopes = _scopes(claims.get("scope", ""), strict=issuer.own)
        subject = str(claims["sub"])
        if scopes is None or not usable_admin_subject(subject):
            return None
        return Principal(PrincipalKind.ADMIN, subject, scopes)

    def _decode(self, token: str, key: jwt.PyJWK, issuer: str) -> dict[str, Any] | None:
        options = {
            "require": ["exp", "sub", "iss", "aud"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                issuer=issuer,
                audience=self.audience,
                options=options,  # type: ignore[arg-type]
            )
        except (jwt.PyJWTError, TypeError, ValueError):
            return None
        return claims

    def _in_time(self, claims: dict[str, Any], now: datetime) -> bool:
        try:
            expires = int(claims["exp"])
            not_before = int(claims.get("nbf", 0))
        except (TypeError, ValueError, OverflowError):  # int(1e400) overflows
            return False
        moment = now.timestamp()
        if expires + LEEWAY_SECONDS <= moment or not_before - LEEWAY_SECONDS > moment:
            return False
        limit = self.max_lifetime
        return limit is None or expires - moment <= limit.total_seconds()


def _scopes(claim: object, *, strict: bool) -> frozenset[Scope] | None:
    names = " ".join(str(s) for s in claim) if isinstance(claim, list) else str(claim)
    if not strict:
        return frozenset(s for s in Scope if s.value in {n.split(":")[0] for n in names.split()})
    try:
        return parse_scopes(names)
    except InvalidScope:
        return None


def mint_admin_token(
    *,
    key: SigningKey,
    subject: str,
    scopes: frozenset[Scope],
    ttl: timedelta,
    now: datetime,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    if not usable_admin_subject(subject):
        raise ValueError(
            f"an admin's subject is 1 to {MAX_ADMIN_SUBJECT} printable characters, "
            "with no space at either end"
        )
    claims: dict[str, object] = {
        "iss": OWN_ISSUER,
        "aud": audience,
        "sub": subject,
        "scope": " ".join(sorted(s.value for s in scopes)),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
