"""Regressions found in the SQL store itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, cards
from tender.domain.ledger import CardStatus
from tender.domain.money import Money
from tender.services.ledger import LOAD, Ledger
from tests.helpers import audit, issue_card


async def test_pin_flag_survives_returning_statements(db: Database, ledger: Ledger) -> None:
    """SQLite 3.40 answered ``pin_hash IS NOT NULL`` wrongly in RETURNING; cards without a PIN
    must not turn into PIN cards after a balance change, nor the other way round."""
    plain = await issue_card(db, ledger, minor=1000)
    with_pin = await issue_card(db, ledger, minor=1000, with_pin=True)
    for issued, expected in ((plain, False), (with_pin, True)):
        loaded = await db.transaction(
            lambda c, i=issued: ledger.post(
                SqlLedgerStore(c), LOAD, card_id=i.card.id, amount=Money(500, "EUR")
            )
        )
        assert loaded.pin_required is expected
        hold = await db.transaction(
            lambda c, i=issued: ledger.reserve(
                SqlLedgerStore(c), card_id=i.card.id, amount=Money(100, "EUR")
            )
        )
        assert hold.amount == 100
        disabled = await db.transaction(
            lambda c, i=issued: ledger.set_status(
                SqlLedgerStore(c), card_id=i.card.id, status=CardStatus.DISABLED
            )
        )
        assert disabled.pin_required is expected


async def test_the_audit_names_every_broken_invariant(db: Database, ledger: Ledger) -> None:
    """Balances written behind the ledger's back: the audit reports each rule they break (the
    CHECK constraints keep the available balance from going negative even then)."""
    issued = await issue_card(db, ledger, minor=1000)
    card_id = issued.card.id
    assert await audit(db) == []

    async def tamper(conn: Any) -> None:
        await conn.execute(update(cards).where(cards.c.id == card_id).values(posted=50, held=30))

    await db.transaction(tamper)
    assert await audit(db) == [
        f"card {card_id} posted 50 but its entries sum to 1000",
        f"card {card_id} held 30 but its active holds sum to None",
    ]
