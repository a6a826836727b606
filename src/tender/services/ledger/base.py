"""What every part of the ledger shares: its hasher, policy and clock, the card lookup that
fails loudly, and the one shape of an activity row."""

from __future__ import annotations

from datetime import datetime

from tender.domain.codes import Hasher
from tender.domain.errors import CardNotFound
from tender.domain.ledger import ActivityType, Card, NewActivity
from tender.domain.policy import LedgerPolicy
from tender.domain.ports import Clock, LedgerStore, SystemClock


def activity(
    card: Card,
    kind: ActivityType,
    amount: int,
    now: datetime,
    *,
    reference: str | None = None,
    actor: str | None = None,
    hold_id: str | None = None,
) -> NewActivity:
    """An activity row that records the card's balances as they are after the movement."""
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


class LedgerBase:
    """The state every use case of the ledger reads; the use cases themselves are mixins, one
    module per concern, combined into ``Ledger``."""

    def __init__(
        self, hasher: Hasher, *, policy: LedgerPolicy | None = None, clock: Clock | None = None
    ) -> None:
        self.hasher = hasher
        self.policy = policy or LedgerPolicy()
        self.clock = clock or SystemClock()

    async def get(self, store: LedgerStore, *, card_id: str) -> Card:
        card = await store.get_card(card_id)
        if card is None:
            raise CardNotFound()
        return card
