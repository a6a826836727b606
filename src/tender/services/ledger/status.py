"""Disabling and enabling cards: a disabled card keeps its money but cannot be spent or loaded."""

from __future__ import annotations

from tender.domain.errors import CardStatusUnchanged
from tender.domain.ledger import ActivityType, Card, CardStatus
from tender.domain.ports import LedgerStore
from tender.services.ledger.base import LedgerBase, activity


class Statuses(LedgerBase):
    async def set_status(
        self,
        store: LedgerStore,
        *,
        card_id: str,
        status: CardStatus,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Card:
        """Disable an active card or enable a disabled one; ``CardStatusUnchanged`` if it
        already has ``status``."""
        current = CardStatus.ACTIVE if status is CardStatus.DISABLED else CardStatus.DISABLED
        now = self.clock.now()
        card = await store.set_status(card_id, current=current, target=status, now=now)
        if card is None:
            await self.get(store, card_id=card_id)
            raise CardStatusUnchanged(f"the gift card is already {status.value}")
        kind = ActivityType.DISABLE if status is CardStatus.DISABLED else ActivityType.ENABLE
        await store.insert_activities([activity(card, kind, 0, now, reference=reason, actor=actor)])
        return card
