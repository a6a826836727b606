"""Merchant-admin JWTs (HS256): verified here, minted by ``tender admin token``.

The issuer's key never leaves the merchant's infrastructure; anyone holding it can act as an
admin, so tokens must expire (``exp`` is required) and carry their scopes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from tender.domain.principals import InvalidScope, Principal, PrincipalKind, Scope, parse_scopes

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify_admin_token(
    token: str,
    *,
    key: str,
    issuer: str | None,
    now: datetime,
    max_lifetime: timedelta | None = None,
) -> Principal | None:
    """The admin a token speaks for, or ``None`` if it is invalid, expired, unscoped, or valid
    for longer than ``max_lifetime`` from now (a token minted to last for years is as good as
    a leaked password).

    Expiry is checked against ``now`` (the service's clock) rather than PyJWT's own clock, so
    the whole service agrees on what time it is.
    """
    options = {"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False}
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options=options,  # type: ignore[arg-type]
        )
        expires = int(claims["exp"])
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError):  # int(1e400) overflows
        return None
    if expires + LEEWAY_SECONDS <= now.timestamp():
        return None
    if max_lifetime is not None and expires - now.timestamp() > max_lifetime.total_seconds():
        return None
    scope = claims.get("scope", "")
    if isinstance(scope, list):
        scope = " ".join(str(s) for s in scope)
    try:
        scopes = parse_scopes(str(scope))
    except InvalidScope:
        return None
    return Principal(PrincipalKind.ADMIN, str(claims["sub"]), scopes)


def mint_admin_token(
    *,
    key: str,
    subject: str,
    scopes: frozenset[Scope],
    ttl: timedelta,
    now: datetime,
    issuer: str | None = None,
) -> str:
    claims: dict[str, object] = {
        "sub": subject,
        "scope": " ".join(sorted(s.value for s in scopes)),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, key, algorithm=ALGORITHM)
