"""Payment methods for what gift cards do not cover, behind one small interface.

``invoice`` needs no third party: the merchant's backend confirms it. ``redirect`` sends the
shopper to a provider's payment page; only the provider confirms it, in a server-to-server
callback signed with a secret shared with tender alone. Nothing a browser can see or obtain
(the redirect URL, the order reference, whatever the provider appends to the return URL)
confirms a payment: the browser may only learn that the provider already did.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from tender.domain.errors import BusinessRuleViolation, IllegalTransition
from tender.domain.payments import Payment

SIGNATURE_SCHEME = "sha256="


class Confirmation(StrEnum):
    MERCHANT = "merchant"
    """The merchant's backend confirms (an invoice it accepts); never the browser."""
    PROVIDER = "provider"
    """Only the provider's signed callback confirms; the browser and the merchant may only
    acknowledge what it confirmed."""


class ConfirmationRefused(BusinessRuleViolation):
    code = "PaymentConfirmationRefused"
    message = "The payment confirmation is not valid for this payment."


class PaymentAwaitingProvider(IllegalTransition):
    code = "PaymentAwaitingProvider"
    message = "The payment is awaiting the provider's confirmation; try again shortly."


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str | None
    external: bool


class ExternalMethod(Protocol):
    name: str
    provider_name: str
    required_request_data: tuple[str, ...]
    confirmation: Confirmation

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect: ...

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        """Raise ``ConfirmationRefused`` unless ``payload`` confirms ``payment`` (merchant
        confirmation only)."""
        ...


class InvoiceMethod:
    name = "invoice"
    provider_name = "tender"
    required_request_data: tuple[str, ...] = ("paymentMethod", "paymentProvider")
    confirmation = Confirmation.MERCHANT

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect:
        return Redirect(None, False)

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        if not any(item.get("type") == "invoice-confirmation" for item in payload):
            raise ConfirmationRefused('send dataPayload [{"type": "invoice-confirmation"}]')


SIMULATOR_PAGE = "/redirect-payments/{paymentId}"
"""The development simulator's page (``tender.api.routes.redirect_page``)."""


class RedirectMethod:
    name = "redirect"
    provider_name = "tender"
    required_request_data: tuple[str, ...] = ("paymentMethod", "paymentProvider")
    confirmation = Confirmation.PROVIDER

    def __init__(self, page_url: str = SIMULATOR_PAGE) -> None:
        self.page_url = page_url
        """The provider's page for one payment; ``{paymentId}``, ``{centAmount}``,
        ``{currency}`` and ``{returnUrl}`` are filled in."""

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect:
        """``return_url`` is the session's ``merchantReturnUrl`` (an http(s) address the
        merchant's backend set), percent-encoded whole so it stays one query value; empty
        when the session has none."""
        url = (
            self.page_url.replace("{paymentId}", payment.id)
            .replace("{centAmount}", str(payment.amount_planned))
            .replace("{currency}", payment.currency)
            .replace("{returnUrl}", quote(return_url or "", safe=""))
        )
        return Redirect(url, True)

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        raise ConfirmationRefused("a redirect payment is confirmed by its provider's callback only")


def methods_by_name(methods: list[ExternalMethod]) -> dict[str, ExternalMethod]:
    return {m.name.lower(): m for m in methods}


# --- the provider's signed callback ---------------------------------------------------------


class SignatureRefused(Exception):
    """A callback that is not provably from the provider. Not a ``DomainError``: the caller is
    no shopper or merchant, and the answer (401) says only what is missing or wrong."""


def callback_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``: the timestamp is
    signed with the body, so an old callback cannot be replayed with a new time."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_SCHEME + digest.hexdigest()


def check_callback_signature(
    *,
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    tolerance: timedelta,
) -> None:
    """Raise ``SignatureRefused`` unless ``signature`` signs ``timestamp`` and ``body`` with
    ``secret`` and ``timestamp`` (Unix seconds) is within ``tolerance`` of ``now``."""
    if not timestamp or not signature:
        raise SignatureRefused("X-Tender-Timestamp and X-Tender-Signature are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureRefused("X-Tender-Timestamp is the time of signing in Unix seconds")
    if abs(now.timestamp() - int(timestamp)) > tolerance.total_seconds():
        raise SignatureRefused("the callback's timestamp is too old or in the future")
    expected = callback_signature(secret, timestamp, body)
    if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected.encode("ascii")):
        raise SignatureRefused("the signature does not match the body")
