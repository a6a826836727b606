"""Posted money moving on and off a card outside holds: loads, refunds and manual corrections.

The three differ only in a few rules, so they are one function with the differences as data
(``Movement``): each writes one activity and one double-entry transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tender.domain.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    ReferenceAlreadyPosted,
    RefundExceedsCapture,
)
from tender.domain.ledger import ActivityType, Card, check_spendable, transfer
from tender.domain.money import MAX_MINOR, Money
from tender.domain.ports import LedgerStore
from tender.faults import crash_point
from tender.services.ledger.base import LedgerBase, activity


@dataclass(frozen=True, slots=True)
class Movement:
    kind: ActivityType
    signed: bool = False
    """A correction may take money off; the others only put money on."""
    spendable_only: bool = False
    """A load needs an active card that has not expired."""
    capped_by_captures: bool = False
    """A refund gives back no more than was captured under its reference."""

    def checked(self, amount: Money) -> Money:
        if not self.signed:
            return Money.of(amount.minor, amount.currency)
        if amount.minor == 0 or abs(amount.minor) > MAX_MINOR:
            raise InvalidAmount("an adjustment is a non-zero amount within limits", field="amount")
        return amount


LOAD = Movement(ActivityType.LOAD, spendable_only=True)
REFUND = Movement(ActivityType.REFUND, capped_by_captures=True)
ADJUST = Movement(ActivityType.ADJUST, signed=True)


class Movements(LedgerBase):
    async def post(
        self,
        store: LedgerStore,
        movement: Movement,
        *,
        card_id: str,
        amount: Money,
        reference: str | None = None,
        actor: str | None = None,
        once: bool = False,
    ) -> Card:
        """Move posted money on or off a card: ``LOAD``, ``REFUND`` or ``ADJUST``. With
        ``once``, a movement of this kind already posted under ``reference`` is refused: a
        caller with no idempotency key (the CLI) makes its retry safe by its reference."""
        amount = movement.checked(amount)
        if movement.capped_by_captures and reference is None:
            raise InvalidInput("a refund needs the reference it refunds", field="reference")
        if once and reference is None:
            raise InvalidInput("a movement made once needs its reference", field="reference")
        now = self.clock.now()
        if movement.spendable_only:
            check_spendable(await self.get(store, card_id=card_id), now)
        card = await self._move(store, card_id, amount, now)
        if movement.spendable_only:
            # Again on the row the move locked: a disable that committed while the move waited
            # for the card was not there to see before it (the unit rolls the move back).
            check_spendable(card, now)
        # Asked once the card is locked (by the move), so two at once cannot both pass.
        if movement.capped_by_captures or once:
            assert reference is not None  # checked above
            totals = await store.reference_totals(card_id, reference)
            if once and totals.get(movement.kind, 0):
                posted = Money(totals[movement.kind], card.currency)
                raise ReferenceAlreadyPosted(
                    f"{posted} was posted as {movement.kind.value} under this reference already",
                    field="reference",
                )
            if movement.capped_by_captures:
                _check_refundable(totals, amount.minor)
        crash_point("ledger_moved")
        kind = movement.kind
        await store.insert_activities(
            [activity(card, kind, amount.minor, now, reference=reference, actor=actor)]
        )
        await store.insert_postings(transfer(kind, card_id, amount.minor, card.currency), now)
        return card

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
        return await self.post(
            store, REFUND, card_id=card_id, amount=amount, reference=reference, actor=actor
        )

    async def _move(self, store: LedgerStore, card_id: str, amount: Money, now: datetime) -> Card:
        current = await self.get(store, card_id=card_id)
        if current.currency != amount.currency:
            raise CurrencyMismatch(current.currency, amount.currency, field="amount.currency")
        delta = amount.minor
        card = await store.move_balance(
            card_id, posted=delta, held=0, max_posted=MAX_MINOR, now=now
        )
        if card is not None:
            return card
        if delta > 0:
            raise BalanceLimitExceeded(
                "a card may hold at most {limit}", limit=Money(MAX_MINOR, amount.currency)
            )
        raise InsufficientFunds("the correction would take the available balance below zero")


def _check_refundable(totals: dict[ActivityType, int], amount: int) -> None:
    captured = totals.get(ActivityType.CAPTURE, 0)
    refunded = totals.get(ActivityType.REFUND, 0)
    if refunded + amount > captured:
        raise RefundExceedsCapture(
            f"captured {captured}, already refunded {refunded} under this reference"
        )
