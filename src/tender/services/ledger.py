"""The built-in gift card ledger: issue, check, reserve, capture, release, refund and correct.

Every method runs inside the caller's transaction and moves money with one conditional
statement, so two racing calls can never both spend the same available balance: the loser's
condition no longer holds and it gets a clear error instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tender.domain.codes import Hasher, check_pin_format, generate_pin, normalise_code
from tender.domain.errors import (
    BalanceLimitExceeded,
    CardNotFound,
    CardStatusUnchanged,
    CurrencyMismatch,
    DomainError,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidCardCode,
    InvalidCredentials,
    InvalidInput,
    RefundExceedsCapture,
)
from tender.domain.ids import new_id
from tender.domain.ledger import (
    COUNTER_ACCOUNT,
    NOT_FOUND_RESULT,
    Account,
    Activity,
    ActivityType,
    BalanceResult,
    Card,
    CardStatus,
    Hold,
    HoldStatus,
    Posting,
    balance_result,
    check_spendable,
    transfer,
)
from tender.domain.money import MAX_MINOR, Money, check_currency
from tender.domain.policy import LedgerPolicy
from tender.domain.ports import Clock, LedgerStore, NewActivity, NewCard, Page, SystemClock

MAX_BATCH = 100_000


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """The only object that ever carries a full code and PIN: shown once, never stored."""

    card: Card
    code: str
    pin: str | None


def _activity(
    card: Card,
    kind: ActivityType,
    amount: int,
    now: datetime,
    *,
    reference: str | None = None,
    actor: str | None = None,
    hold_id: str | None = None,
) -> NewActivity:
    return NewActivity(
        card_id=card.id,
        type=kind,
        amount=amount,
        currency=card.currency,
        posted_after=card.posted,
        held_after=card.held,
        reference=reference,
        actor=actor,
        hold_id=hold_id,
        created_at=now,
    )


class Ledger:
    def __init__(
        self, hasher: Hasher, *, policy: LedgerPolicy | None = None, clock: Clock | None = None
    ) -> None:
        self.hasher = hasher
        self.policy = policy or LedgerPolicy()
        self.clock = clock or SystemClock()

    # --- issuing -------------------------------------------------------------------------

    async def issue(
        self,
        store: LedgerStore,
        *,
        amount: Money,
        count: int = 1,
        with_pin: bool = False,
        pin: str | None = None,
        expires_at: datetime | None = None,
        metadata: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> list[IssuedCard]:
        """Issue ``count`` cards of ``amount`` each in one transaction: all of them or none."""
        if not 1 <= count <= MAX_BATCH:
            raise InvalidInput(f"count must be between 1 and {MAX_BATCH}", field="count")
        if not 0 <= amount.minor <= MAX_MINOR:
            raise InvalidAmount(
                "the initial balance must be between 0 and the limit", field="amount"
            )
        if pin is not None and count != 1:
            raise InvalidInput("a chosen PIN can only be given to a single card", field="pin")
        now = self.clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("the expiry must be in the future", field="expiresAt")
        chosen_pin = check_pin_format(pin) if pin is not None else None
        codes = await self._fresh_codes(store, count)
        fmt = self.policy.code_format
        issued: list[IssuedCard] = []
        new_cards: list[NewCard] = []
        new_activities: list[NewActivity] = []
        postings: list[Posting] = []
        meta = metadata or {}
        for code, code_hash in codes:
            card_id = new_id()
            card_pin = chosen_pin or (generate_pin(self.policy.pin_length) if with_pin else None)
            new = NewCard(
                id=card_id,
                code_hash=code_hash,
                code_last4=code[-4:],
                pin_hash=self.hasher.pin(card_id, card_pin) if card_pin else None,
                currency=amount.currency,
                posted=amount.minor,
                expires_at=expires_at,
                metadata=meta,
                created_at=now,
            )
            card = Card(
                id=card_id,
                code_last4=new.code_last4,
                pin_required=card_pin is not None,
                currency=amount.currency,
                status=CardStatus.ACTIVE,
                posted=amount.minor,
                held=0,
                version=1,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
                metadata=meta,
            )
            new_cards.append(new)
            new_activities.append(
                _activity(card, ActivityType.ISSUE, amount.minor, now, actor=actor)
            )
            if amount.minor:
                postings.append(Posting(Account.CARD, card_id, amount.minor, amount.currency))
            issued.append(IssuedCard(card, fmt.display(code), card_pin))
        if postings:
            # One counter-entry for the whole batch keeps the books balanced at half the rows.
            counter = COUNTER_ACCOUNT[ActivityType.ISSUE]
            postings.append(Posting(counter, None, -amount.minor * count, amount.currency))
        await store.insert_cards(new_cards, new_activities, postings)
        return issued

    async def _fresh_codes(self, store: LedgerStore, count: int) -> list[tuple[str, bytes]]:
        """Random codes unique in the batch and in the database: a clash is rare, not impossible."""
        fmt = self.policy.code_format
        chosen: dict[bytes, str] = {}
        while len(chosen) < count:
            wanted = count - len(chosen)
            batch: dict[bytes, str] = {}
            for _ in range(wanted):
                code = fmt.generate()
                digest = self.hasher.code(code)
                if digest not in chosen:
                    batch[digest] = code
            taken = await store.code_hashes_exist(list(batch))
            chosen.update((h, c) for h, c in batch.items() if h not in taken)
        return [(code, digest) for digest, code in chosen.items()]

    # --- reading -------------------------------------------------------------------------

    async def get(self, store: LedgerStore, *, card_id: str) -> Card:
        card = await store.get_card(card_id)
        if card is None:
            raise CardNotFound()
        return card

    async def find_by_code(self, store: LedgerStore, *, code: str) -> Card:
        """For trusted operators (the CLI): look a card up by code without its PIN."""
        found = await store.credentials_by_code_hash(self.hasher.code(normalise_code(code)))
        if found is None:
            raise CardNotFound()
        return found.card

    async def authenticate(self, store: LedgerStore, *, code: str, pin: str | None) -> Card:
        """The card behind a code and PIN, or ``InvalidCredentials`` whatever went wrong:
        unknown code, wrong PIN, missing PIN and locked card answer alike.

        PIN attempts are budgeted per card in windows of ``pin_lockout``, so that no more than
        ``max_pin_attempts`` PINs are ever compared in one window, however many calls race:

        - A PIN is compared only after one conditional update has counted it. The update
          succeeds while the card's window holds fewer than ``max_pin_attempts`` attempts, or
          opens a new window (count 1) once the last one has closed. It is one atomic statement
          on both databases, and the row stays locked until the transaction ends.
        - A wrong PIN stays counted: the error asks its transaction to be committed.
        - A right PIN gives back its own attempt and nothing more. It never clears the wrong
          ones, so an attacker who interleaves guesses with the card's owner gains no guess
          from the owner's success, and no guess still being compared is forgotten.
        - A full window locks the card: every PIN, the right one too, is refused uncompared
          until the window closes; then counting starts again.
        - No PIN for a card that has one is refused without counting: nothing was compared.

        The count is not durable before the comparison, but its result is: a transaction that
        dies after comparing (a crash, a retried deadlock) takes its attempt with it, yet no
        answer derived from that comparison ever left the process.
        """
        try:
            normalised = normalise_code(code)
        except InvalidCardCode:
            raise InvalidCredentials() from None
        found = await store.credentials_by_code_hash(self.hasher.code(normalised))
        if found is None:
            raise InvalidCredentials()
        card, pin_hash = found.card, found.pin_hash
        if pin_hash is None:
            return card
        candidate = pin.strip() if pin else ""
        if not candidate:
            raise InvalidCredentials()
        now = self.clock.now()
        limit = self.policy.max_pin_attempts
        if card.pin_locked(now, limit):  # no write for a card known to be locked
            raise InvalidCredentials()
        counted = await store.claim_pin_attempt(
            card.id, max_attempts=limit, now=now, window_ends=now + self.policy.pin_lockout
        )
        if counted is None:  # a racing attempt filled the window first
            raise InvalidCredentials()
        if not self.hasher.pin_matches(card.id, candidate, pin_hash):
            raise InvalidCredentials()
        await store.return_pin_attempt(card.id)
        return card

    async def balance(
        self, store: LedgerStore, *, code: str, pin: str | None, currency: str | None = None
    ) -> BalanceResult:
        """The seed's ``BalanceType`` states; never raises for a bad code, so a counted wrong
        PIN is committed with the answer."""
        if currency is not None:
            check_currency(currency)
        try:
            card = await self.authenticate(store, code=code, pin=pin)
        except InvalidCredentials:
            return NOT_FOUND_RESULT
        return balance_result(card, self.clock.now(), currency)

    async def balance_of(
        self, store: LedgerStore, *, card_id: str, currency: str | None = None
    ) -> BalanceResult:
        card = await store.get_card(card_id)
        if card is None:
            return NOT_FOUND_RESULT
        return balance_result(card, self.clock.now(), currency)

    async def history(
        self, store: LedgerStore, *, card_id: str, after: int | None = None, limit: int = 100
    ) -> Page[Activity]:
        await self.get(store, card_id=card_id)
        return await store.list_activities(card_id, after=after, limit=limit)

    async def list_cards(
        self,
        store: LedgerStore,
        *,
        status: CardStatus | None = None,
        currency: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[Card]:
        if currency is not None:
            check_currency(currency)
        return await store.list_cards(status=status, currency=currency, after=after, limit=limit)

    # --- holds ---------------------------------------------------------------------------

    async def reserve(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        amount: Money,
        reference: str | None = None,
        expires_in: timedelta | None = None,
        actor: str | None = None,
    ) -> Hold:
        amount = Money.of(amount.minor, amount.currency)
        ttl = self.policy.default_hold_ttl if expires_in is None else expires_in
        if not timedelta(seconds=1) <= ttl <= self.policy.max_hold_ttl:
            raise InvalidInput("the reservation's lifetime is out of range", field="expiresIn")
        now = self.clock.now()
        card = await store.try_hold(card_id, amount.minor, amount.currency, now)
        if card is None:
            raise await self._why_not_spendable(store, card_id, amount, now)
        hold = Hold(
            id=new_id(),
            card_id=card_id,
            amount=amount.minor,
            currency=amount.currency,
            reference=reference,
            status=HoldStatus.ACTIVE,
            expires_at=now + ttl,
            captured_amount=0,
            created_at=now,
            updated_at=now,
        )
        await store.insert_hold(hold)
        await store.insert_activities(
            [
                _activity(
                    card,
                    ActivityType.HOLD,
                    amount.minor,
                    now,
                    reference=reference,
                    actor=actor,
                    hold_id=hold.id,
                )
            ]
        )
        return hold

    async def _why_not_spendable(
        self, store: LedgerStore, card_id: str, amount: Money, now: datetime
    ) -> DomainError:
        card = await store.get_card(card_id)
        if card is None:
            return CardNotFound()
        if card.currency != amount.currency:
            return CurrencyMismatch(card.currency, amount.currency, field="amount.currency")
        try:
            check_spendable(card, now)
        except DomainError as error:
            return error
        return InsufficientFunds(
            f"available {Money(card.available, card.currency)}, requested {amount}"
        )

    async def capture(
        self,
        store: LedgerStore,
        *,
        hold_id: str,
        amount: Money | None = None,
        actor: str | None = None,
    ) -> Hold:
        """Take ``amount`` (default: all) of a hold; the rest is released in the same step."""
        now = self.clock.now()
        wanted = None if amount is None else Money.of(amount.minor, amount.currency).minor
        hold = await store.capture_hold(hold_id, amount=wanted, now=now)
        if hold is None:
            raise await self._why_not_capturable(store, hold_id, wanted, now)
        if amount is not None and amount.currency != hold.currency:
            raise CurrencyMismatch(hold.currency, amount.currency, field="amount.currency")
        captured = hold.captured_amount
        card = await store.move_balance(
            hold.card_id, posted=-captured, held=-hold.amount, max_posted=MAX_MINOR, now=now
        )
        if card is None:  # the CHECK constraints make this unreachable; never guess silently
            raise AssertionError(f"hold {hold_id} did not fit card {hold.card_id}")
        ref = hold.reference
        rows = [
            _activity(
                card,
                ActivityType.CAPTURE,
                captured,
                now,
                reference=ref,
                actor=actor,
                hold_id=hold_id,
            )
        ]
        if captured < hold.amount:
            rows.append(
                _activity(
                    card,
                    ActivityType.RELEASE,
                    hold.amount - captured,
                    now,
                    reference=ref,
                    actor=actor,
                    hold_id=hold_id,
                )
            )
        await store.insert_activities(rows)
        await store.insert_postings(
            transfer(ActivityType.CAPTURE, card.id, -captured, card.currency), now
        )
        return hold

    async def _why_not_capturable(
        self, store: LedgerStore, hold_id: str, wanted: int | None, now: datetime
    ) -> DomainError:
        hold = await store.get_hold(hold_id)
        if hold is None:
            return HoldNotFound()
        if hold.status is not HoldStatus.ACTIVE:
            return HoldNotActive(f"the reservation is {hold.status.value}")
        if hold.expires_at <= now:
            return HoldNotActive("the reservation has expired")
        return InvalidAmount(
            f"cannot capture {wanted}, the reservation is {hold.amount}", field="amount"
        )

    async def release(self, store: LedgerStore, *, hold_id: str, actor: str | None = None) -> Hold:
        now = self.clock.now()
        hold = await store.get_hold(hold_id)
        if hold is None:
            raise HoldNotFound()
        released = await self._finish_without_capture(store, hold, HoldStatus.RELEASED, now, actor)
        if released is None:
            raise HoldNotActive(f"the reservation is {hold.status.value}")
        return released

    async def _finish_without_capture(
        self, store: LedgerStore, hold: Hold, status: HoldStatus, now: datetime, actor: str | None
    ) -> Hold | None:
        finished = await store.end_hold(hold.id, status=status, now=now)
        if finished is None:
            return None
        card = await store.move_balance(
            hold.card_id, posted=0, held=-hold.amount, max_posted=MAX_MINOR, now=now
        )
        if card is None:
            raise AssertionError(f"hold {hold.id} did not fit card {hold.card_id}")
        kind = ActivityType.EXPIRE if status is HoldStatus.EXPIRED else ActivityType.RELEASE
        await store.insert_activities(
            [
                _activity(
                    card,
                    kind,
                    hold.amount,
                    now,
                    reference=hold.reference,
                    actor=actor,
                    hold_id=hold.id,
                )
            ]
        )
        return finished

    async def sweep_expired_holds(
        self, store: LedgerStore, *, limit: int = 500, actor: str = "system:sweep"
    ) -> int:
        """Expire up to ``limit`` overdue holds. Rows another worker is sweeping are skipped,
        so any number of workers can run this at once."""
        now = self.clock.now()
        expired = 0
        for hold in sorted(await store.lock_expired_holds(now, limit), key=lambda h: h.card_id):
            if await self._finish_without_capture(store, hold, HoldStatus.EXPIRED, now, actor):
                expired += 1
        return expired

    # --- posted money --------------------------------------------------------------------

    async def refund(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        amount: Money,
        reference: str,
        actor: str | None = None,
    ) -> Card:
        """Give back captured money; never more than was captured under ``reference``."""
        amount = Money.of(amount.minor, amount.currency)
        now = self.clock.now()
        card = await self._move(store, card_id, amount, amount.minor, now)
        captured, refunded = await store.reference_totals(card_id, reference)
        if refunded + amount.minor > captured:
            raise RefundExceedsCapture(
                f"captured {captured}, already refunded {refunded} under this reference"
            )
        await store.insert_activities(
            [
                _activity(
                    card, ActivityType.REFUND, amount.minor, now, reference=reference, actor=actor
                )
            ]
        )
        await store.insert_postings(
            transfer(ActivityType.REFUND, card_id, amount.minor, card.currency), now
        )
        return card

    async def load(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        amount: Money,
        reference: str | None = None,
        actor: str | None = None,
    ) -> Card:
        amount = Money.of(amount.minor, amount.currency)
        now = self.clock.now()
        check_spendable(await self.get(store, card_id=card_id), now)
        card = await self._move(store, card_id, amount, amount.minor, now)
        await store.insert_activities(
            [
                _activity(
                    card, ActivityType.LOAD, amount.minor, now, reference=reference, actor=actor
                )
            ]
        )
        await store.insert_postings(
            transfer(ActivityType.LOAD, card_id, amount.minor, card.currency), now
        )
        return card

    async def adjust(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        amount: Money,
        reference: str | None = None,
        actor: str | None = None,
    ) -> Card:
        """A signed manual correction of posted money; it may not dig into held money."""
        if amount.minor == 0 or abs(amount.minor) > MAX_MINOR:
            raise InvalidAmount("an adjustment is a non-zero amount within limits", field="amount")
        now = self.clock.now()
        card = await self._move(store, card_id, amount, amount.minor, now)
        await store.insert_activities(
            [
                _activity(
                    card, ActivityType.ADJUST, amount.minor, now, reference=reference, actor=actor
                )
            ]
        )
        await store.insert_postings(
            transfer(ActivityType.ADJUST, card_id, amount.minor, card.currency), now
        )
        return card

    async def _move(
        self, store: LedgerStore, card_id: str, amount: Money, delta: int, now: datetime
    ) -> Card:
        current = await self.get(store, card_id=card_id)
        if current.currency != amount.currency:
            raise CurrencyMismatch(current.currency, amount.currency, field="amount.currency")
        card = await store.move_balance(
            card_id, posted=delta, held=0, max_posted=MAX_MINOR, now=now
        )
        if card is not None:
            return card
        if delta > 0:
            raise BalanceLimitExceeded(f"a card may hold at most {MAX_MINOR} minor units")
        raise InsufficientFunds("the correction would take the available balance below zero")

    # --- status --------------------------------------------------------------------------

    async def disable(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Card:
        return await self._set_status(store, card_id, CardStatus.DISABLED, reason, actor)

    async def enable(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Card:
        return await self._set_status(store, card_id, CardStatus.ACTIVE, reason, actor)

    async def _set_status(
        self,
        store: LedgerStore,
        card_id: str,
        target: CardStatus,
        reason: str | None,
        actor: str | None,
    ) -> Card:
        current = CardStatus.ACTIVE if target is CardStatus.DISABLED else CardStatus.DISABLED
        now = self.clock.now()
        card = await store.set_status(card_id, current=current, target=target, now=now)
        if card is None:
            await self.get(store, card_id=card_id)
            raise CardStatusUnchanged(f"the gift card is already {target.value}")
        kind = ActivityType.DISABLE if target is CardStatus.DISABLED else ActivityType.ENABLE
        await store.insert_activities(
            [_activity(card, kind, 0, now, reference=reason, actor=actor)]
        )
        return card

    async def holds(
        self, store: LedgerStore, *, card_id: str, status: HoldStatus | None = None
    ) -> Sequence[Hold]:
        await self.get(store, card_id=card_id)
        return await store.list_holds(card_id, status=status)
