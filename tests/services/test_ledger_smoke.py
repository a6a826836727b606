from __future__ import annotations

from tender.db.engine import Database
from tender.services.ledger import Ledger
from tests.helpers import audit, card, issue_card, reserve


async def test_issue_reserve_keeps_books_balanced(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 1200)
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held, after.available) == (5000, 1200, 3800)
    assert hold.amount == 1200
    assert await audit(db) == []
