"""The gift card ledger's vocabulary and its pure rules.

A card holds ``posted`` money (the sum of its posted ledger entries) and ``held`` money (the sum
of its active holds); only ``available = posted - held`` can be reserved, and no operation may
take it below zero. Posted money moves by double-entry transfers between the card's account and
a system account, so the entries of every currency sum to zero; holds move no posted money and
are recorded as activities only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tender.domain.errors import CardDisabled, CardExpired, HoldNotActive
from tender.domain.money import Money


class CardStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    """Cannot be reserved or loaded; balance checks answer GenericError until enabled again."""


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"
    """Released by the sweep because nobody captured or released it in time."""


HOLD_TRANSITIONS: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.ACTIVE: frozenset({HoldStatus.CAPTURED, HoldStatus.RELEASED, HoldStatus.EXPIRED}),
    HoldStatus.CAPTURED: frozenset(),
    HoldStatus.RELEASED: frozenset(),
    HoldStatus.EXPIRED: frozenset(),
}


def check_hold_transition(current: HoldStatus, target: HoldStatus) -> None:
    if target not in HOLD_TRANSITIONS[current]:
        raise HoldNotActive(f"the reservation is {current.value}, it cannot become {target.value}")


class ActivityType(StrEnum):
    ISSUE = "issue"
    LOAD = "load"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    EXPIRE = "expire"
    REFUND = "refund"
    ADJUST = "adjust"
    DISABLE = "disable"
    ENABLE = "enable"


class Account(StrEnum):
    """The accounts posted money moves between; every system account exists once per currency."""

    CARD = "card"
    ISSUED = "issued"
    """Counterpart of money put on cards (issue, load): the merchant's liability to card holders."""
    REDEEMED = "redeemed"
    """Counterpart of money spent from cards (capture) and given back (refund)."""
    ADJUSTMENTS = "adjustments"
    """Counterpart of manual corrections."""


COUNTER_ACCOUNT: dict[ActivityType, Account] = {
    ActivityType.ISSUE: Account.ISSUED,
    ActivityType.LOAD: Account.ISSUED,
    ActivityType.CAPTURE: Account.REDEEMED,
    ActivityType.REFUND: Account.REDEEMED,
    ActivityType.ADJUST: Account.ADJUSTMENTS,
}
"""Which system account takes the other side of a posted movement. Activities missing here move
no posted money (holds, releases, status changes)."""


@dataclass(frozen=True, slots=True)
class Posting:
    """One side of a transfer: ``amount`` is signed, positive adds to the account."""

    account: Account
    card_id: str | None
    amount: int
    currency: str


def transfer(kind: ActivityType, card_id: str, signed_amount: int, currency: str) -> list[Posting]:
    """The two postings of a movement of posted money on a card; they always sum to zero."""
    counter = COUNTER_ACCOUNT[kind]
    return [
        Posting(Account.CARD, card_id, signed_amount, currency),
        Posting(counter, None, -signed_amount, currency),
    ]


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    code_last4: str
    pin_required: bool
    currency: str
    status: CardStatus
    posted: int
    held: int
    version: int
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    failed_pin_attempts: int = 0
    """PIN attempts counted in the current window (see ``Ledger.authenticate``)."""
    pin_window_ends_at: datetime | None = None

    @property
    def available(self) -> int:
        return self.posted - self.held

    def balance(self) -> Money:
        return Money(self.available, self.currency)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def pin_locked(self, now: datetime, max_attempts: int) -> bool:
        """Whether the current PIN window is full: no PIN is compared until it closes."""
        ends = self.pin_window_ends_at
        return ends is not None and ends > now and self.failed_pin_attempts >= max_attempts


def check_spendable(card: Card, now: datetime) -> None:
    """Money may be reserved or loaded only on an active card that has not expired."""
    if card.status is not CardStatus.ACTIVE:
        raise CardDisabled()
    if card.is_expired(now):
        raise CardExpired()


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    card_id: str
    amount: int
    currency: str
    reference: str | None
    status: HoldStatus
    expires_at: datetime
    captured_amount: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewActivity:
    """An activity as a use case writes it; the store gives it its id."""

    card_id: str
    type: ActivityType
    amount: int
    currency: str
    posted_after: int
    held_after: int
    reference: str | None
    actor: str | None
    hold_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Activity(NewActivity):
    id: str

    @property
    def available_after(self) -> int:
        return self.posted_after - self.held_after


class BalanceState(StrEnum):
    """The ``status.state`` values of the commercetools connector's ``BalanceType``."""

    VALID = "Valid"
    NOT_FOUND = "NotFound"
    EXPIRED = "Expired"
    CURRENCY_NOT_MATCH = "CurrencyNotMatch"
    ZERO_BALANCE = "ZeroBalance"
    GENERIC_ERROR = "GenericError"


@dataclass(frozen=True, slots=True)
class BalanceError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BalanceResult:
    state: BalanceState
    amount: Money | None = None
    errors: tuple[BalanceError, ...] = ()
    card_id: str | None = None
    """Known to server-side callers only; never sent to a browser."""


NOT_FOUND_RESULT = BalanceResult(
    BalanceState.NOT_FOUND,
    errors=(BalanceError("NotFound", "The gift card code or PIN is not valid."),),
)
"""The one answer for an unknown code, a wrong or missing PIN and a locked card, so that a caller
cannot learn whether a code exists without its PIN."""


def balance_result(card: Card, now: datetime, currency: str | None = None) -> BalanceResult:
    """Map a found card (credentials already verified) onto the seed's balance states."""
    if card.status is not CardStatus.ACTIVE:
        error = BalanceError(CardDisabled.code, CardDisabled.message)
        return BalanceResult(BalanceState.GENERIC_ERROR, errors=(error,), card_id=card.id)
    if card.is_expired(now):
        error = BalanceError(CardExpired.code, CardExpired.message)
        return BalanceResult(BalanceState.EXPIRED, errors=(error,), card_id=card.id)
    if currency is not None and currency != card.currency:
        error = BalanceError(
            "CurrencyNotMatch", f"The gift card is in {card.currency}, not in {currency}."
        )
        return BalanceResult(
            BalanceState.CURRENCY_NOT_MATCH, card.balance(), (error,), card_id=card.id
        )
    if card.available <= 0:
        return BalanceResult(BalanceState.ZERO_BALANCE, card.balance(), card_id=card.id)
    return BalanceResult(BalanceState.VALID, card.balance(), card_id=card.id)
