"""The built-in ledger as a ``GiftCardProvider``: every call runs in the caller's transaction,
so reserving several cards for one order is all-or-nothing by construction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from tender.domain.ledger import Card, CardStatus
from tender.domain.money import Money
from tender.domain.ports import LedgerStore, PinAttempts, ProviderCard
from tender.services.ledger import Ledger


def _describe(card: Card) -> ProviderCard:
    return ProviderCard(
        ref=card.id,
        last4=card.code_last4,
        currency=card.currency,
        available=card.available,
        pin_required=card.pin_required,
        active=card.status is CardStatus.ACTIVE,
        expires_at=card.expires_at,
    )


class LedgerProvider:
    name = "ledger"

    def __init__(
        self, ledger: Ledger, store: LedgerStore, pins: PinAttempts, *, actor: str | None = None
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.pins = pins
        self.actor = actor

    async def authenticate(self, *, code: str, pin: str | None) -> ProviderCard:
        card = await self.ledger.authenticate(self.store, pins=self.pins, code=code, pin=pin)
        return _describe(card)

    async def cards(self, *, refs: Sequence[str]) -> dict[str, ProviderCard]:
        return {card.id: _describe(card) for card in await self.store.get_cards(refs)}

    async def lock(self, *, refs: Sequence[str]) -> None:
        await self.store.lock_cards(refs)

    async def reserve(
        self, *, ref: str, amount: Money, reference: str, expires_in: timedelta | None
    ) -> str:
        hold = await self.ledger.reserve(
            self.store,
            card_id=ref,
            amount=amount,
            reference=reference,
            expires_in=expires_in,
            actor=self.actor,
        )
        return hold.id

    async def capture(self, *, hold_ref: str, amount: Money) -> None:
        await self.ledger.capture(self.store, hold_id=hold_ref, amount=amount, actor=self.actor)

    async def release(self, *, hold_ref: str) -> None:
        await self.ledger.release(self.store, hold_id=hold_ref, actor=self.actor)

    async def lapsed(self, *, hold_refs: Sequence[str]) -> set[str]:
        return await self.ledger.lapsed(self.store, hold_ids=hold_refs, actor=self.actor)

    async def refund(self, *, ref: str, amount: Money, reference: str) -> None:
        await self.ledger.refund(
            self.store, card_id=ref, amount=amount, reference=reference, actor=self.actor
        )

    async def status(self) -> dict[str, str]:
        """The ledger is the database: it serves if its cards can be read."""
        await self.store.list_cards(status=None, currency=None, after=None, limit=1)
        return {"provider": self.name}
