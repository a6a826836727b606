"""The ledger's persistence in SQLAlchemy Core: one statement per step, conditions in SQL.

Balance moves are conditional ``UPDATE … RETURNING`` statements (``ledger_statements``), so the
check and the write are one atomic step on both databases; the row lock they take serialises
writers of the same card. Locks are always taken hold first, card second, so no two ledger
operations wait on each other in a cycle; a unit that moves money on several cards (placing,
completing, releasing an order's holds) takes the cards in their order
(``tender.domain.payments.in_card_order``). The sweep, which ends many holds at once, locks
their cards first, in order, and then the holds without waiting for any. Bulk issuance is
``ledger_batches``, the books' check ``ledger_audit``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct, pending
from tender.db.ledger_audit import audit
from tender.db.ledger_batches import insert_batch
from tender.db.ledger_rows import (
    activities,
    activity_of,
    card_of,
    card_select,
    cards,
    entries,
    hold_of,
    holds,
)
from tender.db.ledger_statements import (
    CAPTURE_HOLD,
    CARD_BY_CODE_HASH,
    END_HOLD,
    GET_CARD,
    GET_CARDS,
    GET_HOLD,
    INSERT_ACTIVITIES,
    INSERT_ENTRIES,
    INSERT_HOLD,
    MOVE_BALANCE,
    TRY_HOLD,
)
from tender.domain.ids import new_id
from tender.domain.ledger import (
    Activity,
    ActivityType,
    Card,
    CardStatus,
    Hold,
    HoldStatus,
    NewActivity,
    Posting,
)
from tender.domain.money import Money
from tender.domain.ports import CardCredentials, NewCard, Page

__all__ = ["SqlLedgerStore", "activities", "cards", "entries", "holds"]


class SqlLedgerStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_cards(
        self,
        new_cards: Sequence[NewCard],
        new_activities: Sequence[NewActivity],
        postings: Sequence[Posting],
    ) -> None:
        await insert_batch(self.conn, new_cards, new_activities, postings)

    async def get_card(self, card_id: str) -> Card | None:
        row = (await direct.execute(self.conn, GET_CARD, {"card_id": card_id})).first()
        return card_of(row) if row else None

    async def get_cards(self, card_ids: Sequence[str]) -> list[Card]:
        rows = await self.conn.execute(GET_CARDS, {"ids": list(card_ids)})
        return [card_of(row) for row in rows]

    async def credentials_by_code_hash(self, code_hash: bytes) -> CardCredentials | None:
        row = (await direct.execute(self.conn, CARD_BY_CODE_HASH, {"code_hash": code_hash})).first()
        return CardCredentials(card_of(row), row._mapping["pin_hash"]) if row else None

    async def code_hashes_exist(self, code_hashes: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(code_hashes), 500):
            chunk = list(code_hashes[start : start + 500])
            result = await self.conn.execute(
                select(cards.c.code_hash).where(cards.c.code_hash.in_(chunk))
            )
            found.update(bytes(h) for h in result.scalars())
        return found

    async def try_hold(
        self, card_id: str, amount: int, currency: str, now: datetime
    ) -> Card | None:
        params = {"card_id": card_id, "amount": amount, "b_currency": currency, "now": now}
        row = (await direct.execute(self.conn, TRY_HOLD, params)).first()
        return card_of(row) if row else None

    async def move_balance(
        self, card_id: str, *, posted: int, held: int, max_posted: int, now: datetime
    ) -> Card | None:
        params = {"card_id": card_id, "dp": posted, "dh": held, "max": max_posted, "now": now}
        row = (await direct.execute(self.conn, MOVE_BALANCE, params)).first()
        return card_of(row) if row else None

    async def set_status(
        self, card_id: str, *, current: CardStatus, target: CardStatus, now: datetime
    ) -> Card | None:
        stmt = (
            update(cards)
            .where(cards.c.id == card_id, cards.c.status == current.value)
            .values(status=target.value, version=cards.c.version + 1, updated_at=now)
            .returning(*card_select())
        )
        row = (await self.conn.execute(stmt)).first()
        return card_of(row) if row else None

    async def insert_hold(self, hold: Hold) -> None:
        values = {
            "id": hold.id,
            "card_id": hold.card_id,
            "amount": hold.amount,
            "currency": hold.currency,
            "reference": hold.reference,
            "status": hold.status.value,
            "expires_at": hold.expires_at,
            "captured_amount": hold.captured_amount,
            "created_at": hold.created_at,
            "updated_at": hold.updated_at,
        }
        await pending.append(self.conn, INSERT_HOLD, [values])

    async def get_hold(self, hold_id: str) -> Hold | None:
        await pending.flush(self.conn, INSERT_HOLD)
        row = (await direct.execute(self.conn, GET_HOLD, {"hold_id": hold_id})).first()
        return hold_of(row) if row else None

    async def capture_hold(
        self, hold_id: str, *, amount: Money | None, now: datetime
    ) -> Hold | None:
        await pending.flush(self.conn, INSERT_HOLD)
        params = {
            "hold_id": hold_id,
            "captured": None if amount is None else amount.minor,
            "b_currency": None if amount is None else amount.currency,
            "now": now,
        }
        row = (await direct.execute(self.conn, CAPTURE_HOLD, params)).first()
        return hold_of(row) if row else None

    async def end_hold(self, hold_id: str, *, status: HoldStatus, now: datetime) -> Hold | None:
        await pending.flush(self.conn, INSERT_HOLD)
        params = {"hold_id": hold_id, "b_status": status.value, "now": now}
        row = (await direct.execute(self.conn, END_HOLD, params)).first()
        return hold_of(row) if row else None

    async def overdue_holds(self, now: datetime, limit: int) -> list[Hold]:
        await pending.flush(self.conn, INSERT_HOLD)
        stmt = (
            select(holds)
            .where(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= now)
            # The oldest first, along ``ix_holds_status_expires_at``: in id order PostgreSQL
            # walked every hold ever written on each sweep (the active ones all lie ahead).
            .order_by(holds.c.expires_at)
            .limit(limit)
        )
        return [hold_of(row) for row in await self.conn.execute(stmt)]

    async def lock_cards(self, card_ids: Collection[str]) -> None:
        """In the cards' order, waiting for each (SQLite's one writer holds them all)."""
        if card_ids:
            ids = sorted(card_ids)
            stmt = select(cards.c.id).where(cards.c.id.in_(ids)).order_by(cards.c.id)
            await self.conn.execute(stmt.with_for_update())

    async def lock_overdue_holds(self, hold_ids: Collection[str], now: datetime) -> list[Hold]:
        if not hold_ids:
            return []
        stmt = (
            select(holds)
            .where(
                holds.c.id.in_(sorted(hold_ids)),
                holds.c.status == HoldStatus.ACTIVE.value,
                holds.c.expires_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
        return [hold_of(row) for row in await self.conn.execute(stmt)]

    async def reference_totals(self, card_id: str, reference: str) -> dict[ActivityType, int]:
        stmt = (
            select(activities.c.type, func.sum(activities.c.amount))
            .where(activities.c.card_id == card_id, activities.c.reference == reference)
            .group_by(activities.c.type)
        )
        await pending.flush(self.conn, INSERT_ACTIVITIES)
        rows = await self.conn.execute(stmt)
        return {ActivityType(kind): int(total) for kind, total in rows}

    async def insert_activities(self, new_activities: Sequence[NewActivity]) -> None:
        if not new_activities:
            return
        rows = [
            {
                "card_id": a.card_id,
                "type": a.type.value,
                "amount": a.amount,
                "currency": a.currency,
                "posted_after": a.posted_after,
                "held_after": a.held_after,
                "reference": a.reference,
                "actor": a.actor,
                "hold_id": a.hold_id,
                "created_at": a.created_at,
            }
            for a in new_activities
        ]
        await pending.append(self.conn, INSERT_ACTIVITIES, rows)

    async def insert_postings(self, postings: Sequence[Posting], created_at: datetime) -> None:
        if not postings:
            return
        transfer_id = new_id()
        rows = [
            {
                "transfer_id": transfer_id,
                "account": p.account.value,
                "card_id": p.card_id,
                "amount": p.amount,
                "currency": p.currency,
                "created_at": created_at,
            }
            for p in postings
        ]
        await pending.append(self.conn, INSERT_ENTRIES, rows)

    async def list_cards(
        self, *, status: CardStatus | None, currency: str | None, after: str | None, limit: int
    ) -> Page[Card]:
        conditions = []
        if status is not None:
            conditions.append(cards.c.status == status.value)
        if currency is not None:
            conditions.append(cards.c.currency == currency)
        if after is not None:
            conditions.append(cards.c.id > after)
        stmt = (
            select(*card_select())
            .where(and_(True, *conditions))
            .order_by(cards.c.id)
            .limit(limit + 1)
        )
        items = [card_of(row) for row in await self.conn.execute(stmt)]
        return Page.of(items, limit, lambda card: card.id)

    async def list_activities(
        self, card_id: str, *, after: int | None, limit: int
    ) -> Page[Activity]:
        stmt = select(activities).where(activities.c.card_id == card_id)
        if after is not None:
            stmt = stmt.where(activities.c.id > after)
        stmt = stmt.order_by(activities.c.id).limit(limit + 1)
        await pending.flush(self.conn, INSERT_ACTIVITIES)
        items = [activity_of(row) for row in await self.conn.execute(stmt)]
        return Page.of(items, limit, lambda activity: activity.id)

    async def list_holds(self, card_id: str, *, status: HoldStatus | None) -> list[Hold]:
        await pending.flush(self.conn, INSERT_HOLD)
        stmt = select(holds).where(holds.c.card_id == card_id)
        if status is not None:
            stmt = stmt.where(holds.c.status == status.value)
        return [hold_of(row) for row in await self.conn.execute(stmt.order_by(holds.c.id))]

    async def audit(self) -> list[str]:
        return await audit(self.conn)
