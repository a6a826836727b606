"""Small async factories and checks shared by the tests (keyword-only overrides)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, cards
from tender.db.pin_attempts import SqlPinAttempts
from tender.domain.codes import Hasher
from tender.domain.errors import InvalidCredentials
from tender.domain.ledger import ActivityType, Card, Hold
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
GLUE_GERMANY = {
    "id_country": 276,
    "iso2_code": "DE",
    "iso3_code": "DEU",
    "name": "Germany",
    "postal_code_mandatory": True,
    "postal_code_regex": "\\d{5}",
    "regions": [],
}
"""Germany as a Glue address's ``country`` object."""
SEED_GLUE_ADDRESS = {
    "salutation": "Mr",
    "email": "spencor@example.com",
    "firstName": "spencor",
    "lastName": "hopkin",
    "address1": "West road",
    "address2": "212",
    "address3": "",
    "zipCode": "61000",
    "city": "Berlin",
    "iso2Code": "DE",
    "company": "Spryker",
    "phone": "+380669455897",
    "isDefaultShipping": True,
    "isDefaultBilling": True,
}
"""The address of the Glue checkout seed's own request sample."""


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


async def history(db: Database, ledger: Ledger, card_id: str) -> list[ActivityType]:
    """The kinds of a card's activities, oldest first."""
    page = await db.read(lambda c: ledger.history(SqlLedgerStore(c), card_id=card_id))
    return [a.type for a in page.items]


# --- PINs --------------------------------------------------------------------------------


class CountingHasher(Hasher):
    """Counts the PINs actually compared, per card, wrong and right apart."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.wrong: Counter[str] = Counter()
        self.right: Counter[str] = Counter()

    def pin_matches(self, card_id: str, pin: str, stored: bytes) -> bool:
        matched = super().pin_matches(card_id, pin, stored)
        (self.right if matched else self.wrong)[card_id] += 1
        return matched

    @property
    def compared(self) -> Counter[str]:
        return self.wrong + self.right


async def authenticated(db: Database, ledger: Ledger, code: str, pin: str | None) -> bool:
    """Whether ``code`` and ``pin`` open the card, each call its own transaction."""
    try:
        await db.transaction(
            lambda c: ledger.authenticate(
                SqlLedgerStore(c), pins=SqlPinAttempts(db, c), code=code, pin=pin
            )
        )
    except InvalidCredentials:
        return False
    return True


async def pin_state(db: Database, card_id: str) -> Any:
    """The card's PIN attempts in its window, and when the window ends."""

    async def read(conn: Any) -> Any:
        stmt = select(cards.c.failed_pin_attempts, cards.c.pin_window_ends_at)
        return (await conn.execute(stmt.where(cards.c.id == card_id))).one()

    return await db.read(read)
