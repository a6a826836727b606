"""The merchant's rules for the ledger, as the domain sees them: settings fill them in, the
ledger service obeys them, and neither needs to know the other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tender.domain.codes import CodeFormat


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    max_pin_attempts: int = 5
    """PINs compared per card and window; a full window locks the card until it closes."""
    pin_lockout: timedelta = timedelta(minutes=15)
    """The length of a PIN attempt window, which opens with the first attempt counted."""
    default_hold_ttl: timedelta = timedelta(days=7)
    max_hold_ttl: timedelta = timedelta(days=366)
    code_format: CodeFormat = field(default_factory=CodeFormat)
    pin_length: int = 6
