"""Browser sessions (the commercetools Session API's shape): one cart, an absolute expiry."""

from __future__ import annotations

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
        "futureOrderNumber",
        "merchantReturnUrl",
        "allowedOrigins",
    }
)


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
    message = "Browser calls authenticate with X-Session-Id only; remove the Authorization header."


class OrderNumberTaken(Conflict):
    code = "DuplicateOrderNumber"
    message = "Another session already uses this futureOrderNumber."


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: bytes
    cart_id: str
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


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    unknown = set(metadata) - ALLOWED_METADATA
    if unknown:
        raise InvalidInput(f"unknown metadata: {', '.join(sorted(unknown))}", field="metadata")
    origins = metadata.get("allowedOrigins")
    if origins is not None:
        if not isinstance(origins, list) or not all(
            isinstance(o, str) and o.startswith(("https://", "http://")) and len(o) <= 200
            for o in origins
        ):
            raise InvalidInput(
                "allowedOrigins is a list of origins such as https://shop.example",
                field="metadata.allowedOrigins",
            )
        metadata["allowedOrigins"] = [o.rstrip("/") for o in origins]
    number = metadata.get("futureOrderNumber")
    if number is not None and (not isinstance(number, str) or not 1 <= len(number) <= 100):
        raise InvalidInput(
            "futureOrderNumber is 1 to 100 characters", field="metadata.futureOrderNumber"
        )
    methods = metadata.get("allowedPaymentMethods")
    if methods is not None and (
        not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
    ):
        raise InvalidInput(
            "allowedPaymentMethods is a list of method names",
            field="metadata.allowedPaymentMethods",
        )
    return metadata
