"""What one case left in the database, in a form two runs of the same case can be compared by.

Every case tags what it creates (card metadata, the cart's customer email), so its rows can be
found among every other case's. A case crashed and retried must leave exactly what the same
case left when nothing crashed: the same cards with the same balances, the same ledger
activities, holds, payments, transactions, order states and events, each as many times. Ids,
times and references differ between runs and are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.db.ledger_audit import audit
from tests.crash.audit import TABLES as JOURNEY_TABLES
from tests.rows import rows_of

TABLES = (*JOURNEY_TABLES, "ledger_entries")

Digest = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Effects:
    digest: Digest
    problems: list[str]
    """What the ledger audit (``tender ledger verify``) finds wrong with the whole ledger."""

    @property
    def held(self) -> int:
        """Money the case's cards still hold."""
        return sum(held for _, held, _ in self.digest["cards"])

    def count(self, table: str, *row: Any) -> int:
        return sum(n for *key, n in self.digest[table] if tuple(key) == row)


def email(tag: str) -> str:
    return f"{tag}@crash.example"


async def effects(database: Database, tag: str) -> Effects:
    async def work(conn: AsyncConnection) -> Effects:
        return Effects(_digest(await rows_of(conn, *TABLES), tag), await audit(conn))

    return await database.read(work)


def _digest(rows: dict[str, list[dict[str, Any]]], tag: str) -> Digest:
    cards = [c for c in rows["cards"] if (c["metadata"] or {}).get("case") == tag]
    card_ids = {c["id"] for c in cards}
    carts = {c["id"] for c in rows["carts"] if (c["customer"] or {}).get("email") == email(tag)}
    payments = [p for p in rows["payments"] if p["cart_id"] in carts]
    payment_ids = {p["id"] for p in payments}
    orders = [o for o in rows["orders"] if o["cart_id"] in carts]
    objects = card_ids | carts | payment_ids | {o["id"] for o in orders}

    def counted(items: list[tuple[Any, ...]]) -> list[Any]:
        return sorted((*key, n) for key, n in Counter(items).items())

    return {
        "cards": sorted((c["posted"], c["held"], c["status"]) for c in cards),
        "activities": counted(
            [(a["type"], a["amount"]) for a in rows["activities"] if a["card_id"] in card_ids]
        ),
        "entries": counted(
            [
                (e["account"], e["amount"])
                for e in rows["ledger_entries"]
                if e["card_id"] in card_ids
            ]
        ),
        "holds": counted(
            [
                (h["status"], h["amount"], h["captured_amount"])
                for h in rows["holds"]
                if h["card_id"] in card_ids
            ]
        ),
        "payments": counted([(p["status"], p["amount_planned"]) for p in payments]),
        "transactions": counted(
            [
                (t["type"], t["state"], t["amount"])
                for t in rows["payment_transactions"]
                if t["payment_id"] in payment_ids
            ]
        ),
        "orders": counted([(o["state"],) for o in orders]),
        "events": counted([(e["type"],) for e in rows["events"] if e["object_id"] in objects]),
    }
