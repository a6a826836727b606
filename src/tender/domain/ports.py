"""The narrow interfaces services depend on; the database and the clock plug in behind them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
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
    NewActivity,
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

    async def capture_hold(
        self, hold_id: str, *, amount: Money | None, now: datetime
    ) -> Hold | None:
        """Mark an active, unexpired hold of at least ``amount`` in its currency (None: all of
        it) captured."""
        ...

    async def end_hold(self, hold_id: str, *, status: HoldStatus, now: datetime) -> Hold | None:
        """Mark an active hold released or expired."""
        ...

    async def overdue_holds(self, now: datetime, limit: int) -> list[Hold]:
        """Up to ``limit`` active holds past their expiry, the oldest first; none locked."""
        ...

    async def lock_cards(self, card_ids: Collection[str]) -> None: ...

    async def lock_overdue_holds(self, hold_ids: Collection[str], now: datetime) -> list[Hold]:
        """Those of the holds still active and overdue that no other transaction holds,
        locked without waiting for the others."""
        ...

    async def reference_totals(self, card_id: str, reference: str) -> dict[ActivityType, int]:
        """What the card's activities under ``reference`` moved, by type (types without any
        are missing)."""
        ...

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
class PinAttempt:
    """One PIN attempt on a card: counted in the open window if it holds fewer than
    ``max_attempts``, else in a new window ending at ``window_ends`` if the old one has closed."""

    card_id: str
    max_attempts: int
    now: datetime
    window_ends: datetime


class PinAttempts(Protocol):
    """Where PIN attempts are counted: in a short transaction of their own, never in the
    caller's, so that a wrong PIN stays counted while everything else its caller did is
    rolled back, and no error has to ask the boundary to commit the caller's work.

    No more than ``max_attempts`` PINs may be compared per card and window however many calls
    race, so an attempt is counted by one conditional update *before* its PIN is compared, and
    the count holds the card's row until the attempt is settled: a racing attempt waits, then
    sees it. On PostgreSQL the attempt is a transaction apart, on a connection of its own,
    committed at once. SQLite has one writer, the caller's transaction: there the attempt is
    counted in it, and if the caller's work is rolled back the count is written again on its
    own right after, before the writer lock is released (``tender.db.kept``).
    """

    async def compare(self, attempt: PinAttempt, matches: Callable[[], bool]) -> bool:
        """Count ``attempt``, then call ``matches``. A right PIN gives back its attempt, a
        wrong one stays counted. True only for a counted attempt whose PIN matched;
        ``matches`` is not called when the window is full."""
        ...

    async def count_nothing(self) -> None:
        """Write and wait for what counting an attempt does, and count nothing: a PIN sent
        with a code that is no card, or for a card that is locked, is compared with nothing,
        and its answer must take as long as a wrong PIN's, or the time would tell which codes
        are cards that have a PIN."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderCard:
    """A gift card as a provider describes it to checkout: a reference, never the code."""

    ref: str
    last4: str
    currency: str
    available: int
    pin_required: bool
    active: bool = True
    """``False`` while the provider has the card blocked (the ledger's disabled cards)."""
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def spendable(self, now: datetime) -> int:
        """What the card can pay now: nothing while blocked or once expired."""
        return self.available if self.active and not self.expired(now) else 0


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

    async def lock(self, *, refs: Sequence[str]) -> None:
        """Hold the cards for the rest of the caller's transaction, taken in their order: a
        unit that moves money on several cards in more than one pass (placing ends lapsed
        redemptions, then reserves) would otherwise take them out of order, and two such
        units sharing cards could wait on each other. A provider whose cards are not rows of
        the caller's database has nothing to hold."""
        ...

    async def reserve(
        self, *, ref: str, amount: Money, reference: str, expires_in: timedelta | None
    ) -> str:
        """Hold ``amount`` and return the hold's reference; raise a ``DomainError`` if refused."""
        ...

    async def capture(self, *, hold_ref: str, amount: Money) -> None: ...

    async def release(self, *, hold_ref: str) -> None: ...

    async def lapsed(self, *, hold_refs: Sequence[str]) -> set[str]:
        """The holds among ``hold_refs`` that no longer hold their money (expired, released):
        a redemption's hold that lapsed before its order was placed must be taken again."""
        ...

    async def refund(self, *, ref: str, amount: Money, reference: str) -> None: ...

    async def status(self) -> dict[str, str]:
        """Details of a working provider, for the status check; raises when it cannot serve
        (the check reports the error's type, never its text, which may name hosts or keys)."""
        ...
