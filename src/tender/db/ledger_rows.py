"""The ledger's tables and how their rows become domain objects.

The PIN hash is selected with every card but never leaves ``tender.db``: ``card_of`` turns it
into ``pin_required`` only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from tender.db.models import ActivityRow, CardRow, HoldRow, LedgerEntryRow
from tender.domain.ledger import Activity, ActivityType, Card, CardStatus, Hold, HoldStatus

cards: Table = CardRow.__table__  # type: ignore[assignment]
holds: Table = HoldRow.__table__  # type: ignore[assignment]
activities: Table = ActivityRow.__table__  # type: ignore[assignment]
entries: Table = LedgerEntryRow.__table__  # type: ignore[assignment]

CARD_COLUMNS = [c for c in cards.c if c.name not in ("code_hash", "pin_hash")]


def card_select() -> list[Any]:
    # The hash itself, not ``pin_hash IS NOT NULL``: SQLite 3.40 evaluates that expression
    # wrongly inside RETURNING (it answered true for NULL). The hash never leaves this package.
    return [*CARD_COLUMNS, cards.c.pin_hash]


def card_of(row: Any) -> Card:
    m = row._mapping
    return Card(
        id=m["id"],
        code_last4=m["code_last4"],
        pin_required=m["pin_hash"] is not None,
        currency=m["currency"],
        status=CardStatus(m["status"]),
        posted=m["posted"],
        held=m["held"],
        version=m["version"],
        expires_at=m["expires_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        metadata=m["metadata"] or {},
        failed_pin_attempts=m["failed_pin_attempts"],
        pin_window_ends_at=m["pin_window_ends_at"],
    )


def hold_of(row: Any) -> Hold:
    m = row._mapping
    return Hold(
        id=m["id"],
        card_id=m["card_id"],
        amount=m["amount"],
        currency=m["currency"],
        reference=m["reference"],
        status=HoldStatus(m["status"]),
        expires_at=m["expires_at"],
        captured_amount=m["captured_amount"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def activity_of(row: Any) -> Activity:
    m = row._mapping
    return Activity(
        id=str(m["id"]),
        card_id=m["card_id"],
        type=ActivityType(m["type"]),
        amount=m["amount"],
        currency=m["currency"],
        posted_after=m["posted_after"],
        held_after=m["held_after"],
        reference=m["reference"],
        actor=m["actor"],
        hold_id=m["hold_id"],
        created_at=m["created_at"],
    )
