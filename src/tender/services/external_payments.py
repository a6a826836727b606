"""Payment methods for what gift cards do not cover, behind one small interface.

``invoice`` needs no third party: the merchant's backend confirms it. ``redirect`` sends the
shopper to a payment page and back; the confirmation it returns carries an HMAC over the
payment, its amount and currency, so a shopper cannot forge or replay it for another payment.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from tender.domain.errors import BusinessRuleViolation
from tender.domain.payments import Payment


class ConfirmationRefused(BusinessRuleViolation):
    code = "PaymentConfirmationRefused"
    message = "The payment confirmation is not valid for this payment."


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str | None
    external: bool


class ExternalMethod(Protocol):
    name: str
    provider_name: str
    required_request_data: tuple[str, ...]
    server_confirms: bool
    """True when only the merchant's backend may confirm (never the browser)."""

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect: ...

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        """Raise ``ConfirmationRefused`` unless ``payload`` confirms ``payment``."""
        ...


class InvoiceMethod:
    name = "invoice"
    provider_name = "tender"
    required_request_data: tuple[str, ...] = ("paymentMethod", "paymentProvider")
    server_confirms = True

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect:
        return Redirect(None, False)

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        if not any(item.get("type") == "invoice-confirmation" for item in payload):
            raise ConfirmationRefused('send dataPayload [{"type": "invoice-confirmation"}]')


class RedirectMethod:
    name = "redirect"
    provider_name = "tender"
    required_request_data: tuple[str, ...] = ("paymentMethod", "paymentProvider")
    server_confirms = False

    def __init__(self, key: bytes, base_url: str = "") -> None:
        self._key = hmac.new(key, b"tender/redirect-payment", hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")

    def signature(self, payment: Payment) -> str:
        message = f"{payment.id}:{payment.amount_planned}:{payment.currency}:authorized"
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def start(self, payment: Payment, *, return_url: str | None) -> Redirect:
        return Redirect(f"{self.base_url}/redirect-payments/{payment.id}", True)

    def verify(self, payment: Payment, payload: list[dict[str, Any]]) -> None:
        expected = self.signature(payment)
        for item in payload:
            given = item.get("hash")
            if (
                item.get("type") == "payment-confirmation"
                and isinstance(given, str)
                and hmac.compare_digest(given, expected)
            ):
                return
        raise ConfirmationRefused()


def methods_by_name(methods: list[ExternalMethod]) -> dict[str, ExternalMethod]:
    return {m.name.lower(): m for m in methods}
