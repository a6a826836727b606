"""A load made once under its reference (the CLI's ``--reference``), raced: twenty at once on
one card and one reference, on PostgreSQL and SQLite. The reference is asked about once the
card is locked by the load itself, so exactly one of them loads the card."""

from __future__ import annotations

import asyncio

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.errors import ReferenceAlreadyPosted
from tender.domain.money import Money
from tender.services.ledger import LOAD, Ledger
from tests.helpers import card, issue_card

RACERS = 20


async def test_twenty_loads_at_once_under_one_reference_load_once(
    db: Database, ledger: Ledger
) -> None:
    issued = await issue_card(db, ledger, minor=1_000)
    card_id = issued.card.id

    async def load() -> bool:
        try:
            await db.transaction(
                lambda c: ledger.post(
                    SqlLedgerStore(c),
                    LOAD,
                    card_id=card_id,
                    amount=Money(250, "EUR"),
                    reference="INV-1",
                    once=True,
                )
            )
        except ReferenceAlreadyPosted:
            return False
        return True

    outcomes = await asyncio.gather(*(load() for _ in range(RACERS)))
    assert sum(outcomes) == 1
    assert (await card(db, ledger, card_id)).posted == 1_250
    assert await db.read(lambda c: SqlLedgerStore(c).audit()) == []
