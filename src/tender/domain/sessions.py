"""Browser sessions (the commercetools Session API's shape): one cart, an absolute expiry."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tender.domain.errors import Conflict, DomainError, InvalidInput
from tender.domain.principals import Principal, PrincipalKind

ALLOWED_METADATA = frozenset(
    {
        "processorUrl",
        "allowedPaymentMethods",
        "paymentInterface",
        "pspKey",
        "locale",
        "futureOrderNumber",
        "merchantReturnUrl",
        "allowedOrigins",
    }
)
MAX_PAYMENT_INTERFACE = 32
"""A payment's provider column holds this much; ``paymentInterface`` names the provider."""
DEFAULT_LOCALE = "en"
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")


class SessionState(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"


class BrowserUnauthorized(DomainError):
    """A browser call that cannot be authenticated (401)."""

    code = "Unauthorized"
    message = "The request is not authorized."


class SessionExpired(BrowserUnauthorized):
    code = "SessionExpired"
    message = "The session has expired."


class SessionInvalid(BrowserUnauthorized):
    code = "InvalidSession"
    message = "The session is not valid."


class OriginNotAllowed(BrowserUnauthorized):
    code = "OriginNotAllowed"
    message = "Requests from this origin are not allowed for this session."


class CredentialsInBrowser(BrowserUnauthorized):
    code = "CredentialsNotAllowed"
    message = (
        "Browser calls authenticate with X-Session-Id only; remove the server's credentials"
        " (Authorization, API-Authorization)."
    )


class OrderNumberTaken(Conflict):
    code = "DuplicateOrderNumber"
    message = "Another session already uses this futureOrderNumber."


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: bytes
    cart_id: str
    currency: str
    """The cart's, which never changes: read with the session, so that a balance check on
    the shopper's page need not read the cart."""
    owner: str
    metadata: dict[str, Any]
    future_order_number: str | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> SessionState:
        return SessionState.ACTIVE if now < self.expires_at else SessionState.EXPIRED

    @property
    def principal(self) -> Principal:
        """Who a browser call on this session acts as: its cart's shopper, with no scope."""
        return Principal(PrincipalKind.SESSION, self.cart_id, frozenset())

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        origins = self.metadata.get("allowedOrigins") or ()
        return tuple(str(o) for o in origins)

    @property
    def allowed_payment_methods(self) -> frozenset[str] | None:
        """The methods this session's page may select, place with and confirm (lower case);
        ``None`` when the merchant set no limit (then every method it offers)."""
        methods = self.metadata.get("allowedPaymentMethods")
        if methods is None:
            return None
        return frozenset(str(m).lower() for m in methods)

    @property
    def payment_interface(self) -> str | None:
        """What the merchant's checkout names the card provider (commercetools'
        ``paymentInterface``); the payments this session's page redeems carry it."""
        value = self.metadata.get("paymentInterface")
        return str(value) if value else None

    @property
    def locale(self) -> str:
        return str(self.metadata.get("locale") or DEFAULT_LOCALE)


MAX_ORIGINS = 20
"""A shop's page is served from one origin or a few (a storefront, a checkout domain, a
preview). Unbounded, a session named 40,000 of them: each became a row allowed in every
preflight, and the session's every request decoded and searched the list."""
MAX_METHODS = 10
MAX_METHOD_NAME = 50


_ORIGIN = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)


def origin(text: str) -> str | None:
    """``text`` as a browser's ``Origin`` header says it (``https://shop.example``, with a
    port if any, in lower case; one trailing ``/`` dropped), or ``None`` when it is none: a
    path, a query, a wildcard, ``null`` or a bare host name never equals what a browser sends,
    so an allow-list holding one would allow nothing its author meant."""
    candidate = text.removesuffix("/")
    found = _ORIGIN.fullmatch(candidate) if len(candidate) <= 200 else None
    if found is None or int(found["port"] or 0) > 65535:
        return None
    return candidate.lower()


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    unknown = set(metadata) - ALLOWED_METADATA
    if unknown:
        raise InvalidInput(f"unknown metadata: {', '.join(sorted(unknown))}", field="metadata")
    origins = metadata.get("allowedOrigins")
    if origins is not None:
        listed = isinstance(origins, list) and len(origins) <= MAX_ORIGINS  # before any regex
        found = [origin(o) if isinstance(o, str) else None for o in origins] if listed else [None]
        if None in found:
            raise InvalidInput(
                f"allowedOrigins is a list of at most {MAX_ORIGINS} origins such as "
                "https://shop.example (a scheme, a host and a port if any: no path)",
                field="metadata.allowedOrigins",
            )
        metadata["allowedOrigins"] = found
    number = metadata.get("futureOrderNumber")
    if number is not None and (not isinstance(number, str) or not 1 <= len(number) <= 100):
        raise InvalidInput(
            "futureOrderNumber is 1 to 100 characters", field="metadata.futureOrderNumber"
        )
    _check_text(metadata, "processorUrl", 500, lambda v: v.startswith(("https://", "http://")))
    _check_text(metadata, "merchantReturnUrl", 500, lambda v: v.startswith(("https://", "http://")))
    _check_text(metadata, "paymentInterface", MAX_PAYMENT_INTERFACE)
    _check_text(metadata, "pspKey", 100)
    _check_text(metadata, "locale", 35, lambda v: _LOCALE.match(v) is not None)
    methods = metadata.get("allowedPaymentMethods")
    if methods is not None and (
        not isinstance(methods, list)
        or len(methods) > MAX_METHODS
        or not all(isinstance(m, str) and len(m) <= MAX_METHOD_NAME for m in methods)
    ):
        raise InvalidInput(
            f"allowedPaymentMethods is a list of at most {MAX_METHODS} method names",
            field="metadata.allowedPaymentMethods",
        )
    return metadata


def _check_text(
    metadata: dict[str, Any],
    key: str,
    longest: int,
    fits: Callable[[str], bool] = lambda _: True,
) -> None:
    """Keys the processor reads back (a payment's provider, the enabler's locale) must be text
    it can store and show: a short string of the expected form."""
    value = metadata.get(key)
    if value is None:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= longest or not fits(value):
        raise InvalidInput(
            f"{key} is text of 1 to {longest} characters in its expected form",
            field=f"metadata.{key}",
        )
