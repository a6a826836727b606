"""Issuing cards: fresh codes, optional PINs, the initial balance and its ledger entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tender.domain.codes import check_pin_format, generate_pin
from tender.domain.errors import InvalidAmount, InvalidInput
from tender.domain.ids import new_id
from tender.domain.ledger import (
    COUNTER_ACCOUNT,
    Account,
    ActivityType,
    Card,
    CardStatus,
    NewActivity,
    Posting,
)
from tender.domain.money import MAX_MINOR, Money
from tender.domain.ports import LedgerStore, NewCard
from tender.services.ledger.base import LedgerBase, activity

MAX_BATCH = 100_000
ISSUE = ActivityType.ISSUE


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """The only object that ever carries a full code and PIN: shown once, never stored."""

    card: Card
    code: str
    pin: str | None


@dataclass(frozen=True, slots=True)
class _Batch:
    """What every card of one issuing call shares."""

    amount: Money
    expires_at: datetime | None
    metadata: dict[str, Any]
    now: datetime


class Issuing(LedgerBase):
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
        now = self.clock.now()
        _check_request(amount, count, pin, expires_at, now)
        chosen_pin = check_pin_format(pin) if pin is not None else None
        batch = _Batch(amount, expires_at, metadata or {}, now)
        issued: list[IssuedCard] = []
        new_cards: list[NewCard] = []
        new_activities: list[NewActivity] = []
        for code, code_hash in await self._fresh_codes(store, count):
            card_pin = chosen_pin or (generate_pin(self.policy.pin_length) if with_pin else None)
            new, card = self._new_card(batch, code, code_hash, card_pin)
            new_cards.append(new)
            new_activities.append(activity(card, ISSUE, amount.minor, now, actor=actor))
            issued.append(IssuedCard(card, self.policy.code_format.display(code), card_pin))
        await store.insert_cards(new_cards, new_activities, _postings(new_cards, amount))
        return issued

    def _new_card(
        self, batch: _Batch, code: str, code_hash: bytes, pin: str | None
    ) -> tuple[NewCard, Card]:
        """The row to insert and the card it becomes, without reading it back."""
        card_id = new_id()
        amount, now = batch.amount, batch.now
        new = NewCard(
            id=card_id,
            code_hash=code_hash,
            code_last4=code[-4:],
            pin_hash=self.hasher.pin(card_id, pin) if pin else None,
            currency=amount.currency,
            posted=amount.minor,
            expires_at=batch.expires_at,
            metadata=batch.metadata,
            created_at=now,
        )
        card = Card(
            id=card_id,
            code_last4=new.code_last4,
            pin_required=pin is not None,
            currency=amount.currency,
            status=CardStatus.ACTIVE,
            posted=amount.minor,
            held=0,
            version=1,
            expires_at=batch.expires_at,
            created_at=now,
            updated_at=now,
            metadata=batch.metadata,
        )
        return new, card

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


def _check_request(
    amount: Money, count: int, pin: str | None, expires_at: datetime | None, now: datetime
) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput(f"count must be between 1 and {MAX_BATCH}", field="count")
    if not 0 <= amount.minor <= MAX_MINOR:
        raise InvalidAmount("the initial balance must be between 0 and the limit", field="amount")
    if pin is not None and count != 1:
        raise InvalidInput("a chosen PIN can only be given to a single card", field="pin")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("the expiry must be in the future", field="expiresAt")


def _postings(new_cards: list[NewCard], amount: Money) -> list[Posting]:
    """One entry per card, and one counter-entry for the whole batch: the books stay balanced
    at half the rows. A zero balance posts nothing."""
    if not amount.minor:
        return []
    postings = [Posting(Account.CARD, c.id, amount.minor, amount.currency) for c in new_cards]
    counter = COUNTER_ACCOUNT[ISSUE]
    postings.append(Posting(counter, None, -amount.minor * len(new_cards), amount.currency))
    return postings
