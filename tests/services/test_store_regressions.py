"""Regressions found in the SQL store itself."""

from __future__ import annotations

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.ledger import CardStatus
from tender.domain.money import Money
from tender.services.ledger import LOAD, Ledger
from tests.helpers import issue_card


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
