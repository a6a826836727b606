"""Reading cards, their holds and their history: nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence

from tender.domain.ledger import (
    NOT_FOUND_RESULT,
    Activity,
    BalanceResult,
    Card,
    CardStatus,
    Hold,
    HoldStatus,
    balance_result,
)
from tender.domain.money import check_currency
from tender.domain.ports import LedgerStore, Page
from tender.services.ledger.base import LedgerBase


class Reads(LedgerBase):
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

    async def holds(
        self, store: LedgerStore, *, card_id: str, status: HoldStatus | None = None
    ) -> Sequence[Hold]:
        await self.get(store, card_id=card_id)
        return await store.list_holds(card_id, status=status)
