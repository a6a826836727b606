"""Holds: reserve available money, then capture it, release it, or let the sweep expire it.

Locks are taken hold first, card second (see ``tender.db.ledger_store``), so two of these never
wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tender.domain.errors import (
    CardNotFound,
    CurrencyMismatch,
    DomainError,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
)
from tender.domain.ids import new_id
from tender.domain.ledger import (
    ActivityType,
    Card,
    Hold,
    HoldStatus,
    NewActivity,
    check_spendable,
    transfer,
)
from tender.domain.money import MAX_MINOR, Money
from tender.domain.ports import LedgerStore
from tender.faults import crash_point
from tender.services.ledger.base import LedgerBase, activity


class Holds(LedgerBase):
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
        crash_point("ledger_moved")
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
            [_of_hold(card, hold, ActivityType.HOLD, amount.minor, now, actor)]
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
        wanted = None if amount is None else Money.of(amount.minor, amount.currency)
        hold = await store.capture_hold(hold_id, amount=wanted, now=now)
        if hold is None:  # the write's own condition refused it: nothing was written
            raise await self._why_not_capturable(store, hold_id, wanted, now)
        captured = hold.captured_amount
        card = await _end_on_card(store, hold, posted=-captured, now=now)
        crash_point("ledger_moved")
        rows = [_of_hold(card, hold, ActivityType.CAPTURE, captured, now, actor)]
        if captured < hold.amount:
            rest = hold.amount - captured
            rows.append(_of_hold(card, hold, ActivityType.RELEASE, rest, now, actor))
        await store.insert_activities(rows)
        await store.insert_postings(
            transfer(ActivityType.CAPTURE, card.id, -captured, card.currency), now
        )
        return hold

    async def _why_not_capturable(
        self, store: LedgerStore, hold_id: str, wanted: Money | None, now: datetime
    ) -> DomainError:
        hold = await store.get_hold(hold_id)
        if hold is None:
            return HoldNotFound()
        if hold.status is not HoldStatus.ACTIVE:
            return HoldNotActive(f"the reservation is {hold.status.value}")
        if hold.expires_at <= now:
            return HoldNotActive("the reservation has expired")
        if wanted is not None and wanted.currency != hold.currency:
            return CurrencyMismatch(hold.currency, wanted.currency, field="amount.currency")
        minor = None if wanted is None else wanted.minor
        return InvalidAmount(
            f"cannot capture {minor}, the reservation is {hold.amount}", field="amount"
        )

    async def release(self, store: LedgerStore, *, hold_id: str, actor: str | None = None) -> Hold:
        now = self.clock.now()
        hold = await store.get_hold(hold_id)
        if hold is None:
            raise HoldNotFound()
        released = await _finish_without_capture(store, hold, HoldStatus.RELEASED, now, actor)
        if released is None:
            raise HoldNotActive(f"the reservation is {hold.status.value}")
        return released

    async def lapsed(
        self, store: LedgerStore, *, hold_ids: Sequence[str], actor: str | None = None
    ) -> set[str]:
        """The holds among ``hold_ids`` that no longer hold their money: released, expired, or
        past their time and not swept yet (expired here and now, so the money they held can
        be reserved again at once). A captured hold took its money and has not lapsed."""
        now = self.clock.now()
        lapsed = set()
        found = {hold_id: await store.get_hold(hold_id) for hold_id in sorted(hold_ids)}
        # An overdue hold is ended on its card: the cards are taken in their order.
        for hold_id, hold in sorted(found.items(), key=lambda f: f[1].card_id if f[1] else ""):
            if hold is None or hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
                lapsed.add(hold_id)
            elif hold.status is HoldStatus.ACTIVE and hold.expires_at <= now:
                await _finish_without_capture(store, hold, HoldStatus.EXPIRED, now, actor)
                lapsed.add(hold_id)
        return lapsed

    async def sweep_expired_holds(
        self, store: LedgerStore, *, limit: int = 500, actor: str = "system:sweep"
    ) -> int:
        """Expire up to ``limit`` overdue holds; any number of workers can run this at once.

        The cards are locked first, in their order, and the holds after them without waiting
        for any: so the sweep never waits for a card while it holds a hold. It did, and a
        request holding the card and wanting that hold (completing an order whose hold had
        just expired gives it back itself) waited for it in turn, until PostgreSQL failed one
        of them. A hold another transaction holds (another sweep, a capture) is left alone."""
        now = self.clock.now()
        overdue = await store.overdue_holds(now, limit)
        await store.lock_cards({hold.card_id for hold in overdue})
        locked = await store.lock_overdue_holds({hold.id for hold in overdue}, now)
        expired = 0
        for hold in sorted(locked, key=lambda h: h.card_id):
            if await _finish_without_capture(store, hold, HoldStatus.EXPIRED, now, actor):
                expired += 1
        return expired


def _of_hold(
    card: Card, hold: Hold, kind: ActivityType, amount: int, now: datetime, actor: str | None
) -> NewActivity:
    return activity(card, kind, amount, now, reference=hold.reference, actor=actor, hold_id=hold.id)


async def _end_on_card(store: LedgerStore, hold: Hold, *, posted: int, now: datetime) -> Card:
    """Take an ended hold off its card's held money (and ``posted`` off its posted money)."""
    card = await store.move_balance(
        hold.card_id, posted=posted, held=-hold.amount, max_posted=MAX_MINOR, now=now
    )
    if card is None:  # the CHECK constraints make this unreachable; never guess silently
        raise AssertionError(f"hold {hold.id} did not fit card {hold.card_id}")
    return card


async def _finish_without_capture(
    store: LedgerStore, hold: Hold, status: HoldStatus, now: datetime, actor: str | None
) -> Hold | None:
    finished = await store.end_hold(hold.id, status=status, now=now)
    if finished is None:
        return None
    card = await _end_on_card(store, hold, posted=0, now=now)
    crash_point("ledger_moved")
    kind = ActivityType.EXPIRE if status is HoldStatus.EXPIRED else ActivityType.RELEASE
    await store.insert_activities([_of_hold(card, hold, kind, hold.amount, now, actor)])
    return finished
