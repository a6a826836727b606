"""The narrow interfaces services depend on; the database and the clock plug in behind them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from tender.domain.ledger import (
    Activity,
    ActivityType,
    Card,
    CardStatus,
    Hold,
    HoldStatus,
    Posting,
)
from tender.domain.money import Money

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewCard:
    id: str
    code_hash: bytes
    code_last4: str
    pin_hash: bytes | None
    currency: str
    posted: int
    expires_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewActivity:
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
class CardCredentials:
    card: Card
    pin_hash: bytes | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, fetched: list[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
        """A page from ``limit + 1`` fetched rows: the extra row only says there is more."""
        items = fetched[:limit]
        more = len(fetched) > limit
        return cls(items, cursor_of(items[-1]) if more else None)


class LedgerStore(Protocol):
    """Persistence of cards, holds, activities and ledger entries inside one open transaction.

    Methods that move balances are single conditional statements: they return ``None`` when
    the condition (enough available money, an active hold) no longer holds, and the caller
    turns that into the right error. Implementations never commit.
    """

    async def insert_cards(
        self,
        cards: Sequence[NewCard],
        activities: Sequence[NewActivity],
        postings: Sequence[Posting],
    ) -> None: ...

    async def get_card(self, card_id: str) -> Card | None: ...

    async def get_cards(self, card_ids: Sequence[str]) -> list[Card]: ...

    async def credentials_by_code_hash(self, code_hash: bytes) -> CardCredentials | None: ...

    async def code_hashes_exist(self, code_hashes: Sequence[bytes]) -> set[bytes]: ...

    async def claim_pin_attempt(
        self, card_id: str, *, max_attempts: int, now: datetime, window_ends: datetime
    ) -> int | None:
        """Count one PIN attempt, in one atomic conditional update, before the PIN is compared:
        in the open window if it holds fewer than ``max_attempts``, else in a new window ending
        at ``window_ends`` if the old one has closed. The window's count afterwards, or ``None``
        when the window is full (the card is locked). The row stays locked until commit."""
        ...

    async def return_pin_attempt(self, card_id: str) -> None:
        """Give back one attempt claimed earlier in the same transaction (a right PIN)."""
        ...

    async def try_hold(
        self, card_id: str, amount: int, currency: str, now: datetime
    ) -> Card | None: ...

    async def move_balance(
        self, card_id: str, *, posted: int, held: int, max_posted: int, now: datetime
    ) -> Card | None: ...

    async def set_status(
        self, card_id: str, *, current: CardStatus, target: CardStatus, now: datetime
    ) -> Card | None: ...

    async def insert_hold(self, hold: Hold) -> None: ...

    async def get_hold(self, hold_id: str) -> Hold | None: ...

    async def capture_hold(self, hold_id: str, *, amount: int | None, now: datetime) -> Hold | None:
        """Mark an active, unexpired hold of at least ``amount`` (None: all of it) captured."""
        ...

    async def end_hold(self, hold_id: str, *, status: HoldStatus, now: datetime) -> Hold | None:
        """Mark an active hold released or expired."""
        ...

    async def lock_expired_holds(self, now: datetime, limit: int) -> list[Hold]: ...

    async def reference_totals(self, card_id: str, reference: str) -> tuple[int, int]: ...

    async def insert_activities(self, activities: Sequence[NewActivity]) -> None: ...

    async def insert_postings(self, postings: Sequence[Posting], created_at: datetime) -> None: ...

    async def list_cards(
        self, *, status: CardStatus | None, currency: str | None, after: str | None, limit: int
    ) -> Page[Card]: ...

    async def list_activities(
        self, card_id: str, *, after: int | None, limit: int
    ) -> Page[Activity]: ...

    async def list_holds(self, card_id: str, *, status: HoldStatus | None) -> list[Hold]: ...

    async def audit(self) -> list[str]:
        """Every broken ledger invariant, described; empty when the books balance."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderCard:
    """A gift card as a provider describes it to checkout: a reference, never the code."""

    ref: str
    last4: str
    currency: str
    available: int
    pin_required: bool


class GiftCardProvider(Protocol):
    """The only way checkout touches gift card money. The built-in ledger implements it inside
    the caller's transaction; external providers implement it over HTTP."""

    name: str

    async def authenticate(self, *, code: str, pin: str | None) -> ProviderCard:
        """The card behind a code and PIN; ``InvalidCredentials`` for any failure."""
        ...

    async def cards(self, *, refs: Sequence[str]) -> dict[str, ProviderCard]:
        """Fresh balances and states of cards checkout already holds references to, by
        reference (one call for all of a cart's cards); a card that is gone is left out."""
        ...

    async def reserve(
        self, *, ref: str, amount: Money, reference: str, expires_in: timedelta | None
    ) -> str:
        """Hold ``amount`` and return the hold's reference; raise a ``DomainError`` if refused."""
        ...

    async def capture(self, *, hold_ref: str, amount: Money) -> None: ...

    async def release(self, *, hold_ref: str) -> None: ...

    async def refund(self, *, ref: str, amount: Money, reference: str) -> None: ...
