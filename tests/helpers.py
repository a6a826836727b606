"""Small async factories and checks shared by the tests (keyword-only overrides)."""

from __future__ import annotations

from typing import Any

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.ledger import Card, Hold
from tender.domain.money import Money
from tender.services.ledger import IssuedCard, Ledger

ADDRESS = {
    "salutation": "Ms",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "streetName": "Main St",
    "streetNumber": "1",
    "postalCode": "10115",
    "city": "Berlin",
    "country": "DE",
}
"""A shipping and billing address every checkout test can use (tender's cart API names)."""
GLUE_ADDRESS = {
    "salutation": "Ms",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "Main St",
    "address2": "1",
    "zipCode": "10115",
    "city": "Berlin",
    "iso2Code": "DE",
}
"""The same address as a Spryker Glue client sends it."""


async def issue_card(
    db: Database, ledger: Ledger, *, minor: int = 10_000, currency: str = "EUR", **kw: Any
) -> IssuedCard:
    issued = await db.transaction(
        lambda c: ledger.issue(SqlLedgerStore(c), amount=Money(minor, currency), **kw)
    )
    return issued[0]


async def reserve(
    db: Database, ledger: Ledger, card_id: str, minor: int, currency: str = "EUR", **kw: Any
) -> Hold:
    return await db.transaction(
        lambda c: ledger.reserve(
            SqlLedgerStore(c), card_id=card_id, amount=Money(minor, currency), **kw
        )
    )


async def card(db: Database, ledger: Ledger, card_id: str) -> Card:
    return await db.read(lambda c: ledger.get(SqlLedgerStore(c), card_id=card_id))


async def audit(db: Database) -> list[str]:
    return await db.read(lambda c: SqlLedgerStore(c).audit())
