"""The ledger's persistence in SQLAlchemy Core: one statement per step, conditions in SQL.

Balance moves are conditional ``UPDATE … RETURNING`` statements, so the check and the write are
one atomic step on both databases; the row lock they take serialises writers of the same card.
Locks are always taken hold first, card second, so no two ledger operations wait on each other
in a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import pending
from tender.db.models import ActivityRow, CardRow, HoldRow, LedgerEntryRow
from tender.db.types import UTCDateTime
from tender.domain.ids import new_id
from tender.domain.ledger import (
    Activity,
    ActivityType,
    Card,
    CardStatus,
    Hold,
    HoldStatus,
    Posting,
)
from tender.domain.ports import CardCredentials, NewActivity, NewCard, Page

cards: Table = CardRow.__table__  # type: ignore[assignment]
holds: Table = HoldRow.__table__  # type: ignore[assignment]
activities: Table = ActivityRow.__table__  # type: ignore[assignment]
entries: Table = LedgerEntryRow.__table__  # type: ignore[assignment]

CARD_COLUMNS = [c for c in cards.c if c.name not in ("code_hash", "pin_hash")]


def _card(row: Any) -> Card:
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


def _card_select() -> list[Any]:
    # The hash itself, not ``pin_hash IS NOT NULL``: SQLite 3.40 evaluates that expression
    # wrongly inside RETURNING (it answered true for NULL). The hash never leaves this module.
    return [*CARD_COLUMNS, cards.c.pin_hash]


# Hot-path statements are built once: building and hashing a statement per call cost more
# CPU than executing it.
_NOW = bindparam("now", type_=UTCDateTime())
_AMOUNT = bindparam("amount", type_=BigInteger())
_TRY_HOLD = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        cards.c.currency == bindparam("b_currency"),
        cards.c.status == CardStatus.ACTIVE.value,
        or_(cards.c.expires_at.is_(None), cards.c.expires_at > _NOW),
        cards.c.posted - cards.c.held >= _AMOUNT,
    )
    .values(held=cards.c.held + _AMOUNT, version=cards.c.version + 1, updated_at=_NOW)
    .returning(*_card_select())
)
_NEW_POSTED = cards.c.posted + bindparam("dp", type_=BigInteger())
_NEW_HELD = cards.c.held + bindparam("dh", type_=BigInteger())
_MOVE_BALANCE = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        _NEW_HELD >= 0,
        _NEW_POSTED - _NEW_HELD >= 0,
        _NEW_POSTED <= bindparam("max", type_=BigInteger()),
    )
    .values(posted=_NEW_POSTED, held=_NEW_HELD, version=cards.c.version + 1, updated_at=_NOW)
    .returning(*_card_select())
)
_GET_CARDS = select(*_card_select()).where(cards.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_HOLD = insert(holds)
_GET_HOLD = select(holds).where(holds.c.id == bindparam("hold_id"))
_CAPTURED = func.coalesce(bindparam("captured", type_=BigInteger()), holds.c.amount)
_CAPTURE_HOLD = (
    update(holds)
    .where(
        holds.c.id == bindparam("hold_id"),
        holds.c.status == HoldStatus.ACTIVE.value,
        holds.c.expires_at > _NOW,
        holds.c.amount >= _CAPTURED,
    )
    .values(status=HoldStatus.CAPTURED.value, captured_amount=_CAPTURED, updated_at=_NOW)
    .returning(holds)
)
_END_HOLD = (
    update(holds)
    .where(holds.c.id == bindparam("hold_id"), holds.c.status == HoldStatus.ACTIVE.value)
    .values(status=bindparam("b_status"), captured_amount=0, updated_at=_NOW)
    .returning(holds)
)
_INSERT_ACTIVITIES = insert(activities)
_INSERT_ENTRIES = insert(entries)
_WINDOW_CLOSED = or_(cards.c.pin_window_ends_at.is_(None), cards.c.pin_window_ends_at <= _NOW)
_CLAIM_PIN_ATTEMPT = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        or_(_WINDOW_CLOSED, cards.c.failed_pin_attempts < bindparam("max_attempts")),
    )
    .values(
        # Both sides of a SET read the row as it was, on SQLite as on PostgreSQL.
        failed_pin_attempts=case((_WINDOW_CLOSED, 1), else_=cards.c.failed_pin_attempts + 1),
        pin_window_ends_at=case(
            (_WINDOW_CLOSED, bindparam("window_ends", type_=UTCDateTime())),
            else_=cards.c.pin_window_ends_at,
        ),
    )
    .returning(cards.c.failed_pin_attempts)
)
_RETURN_PIN_ATTEMPT = (
    update(cards)
    .where(cards.c.id == bindparam("card_id"), cards.c.failed_pin_attempts > 0)
    .values(failed_pin_attempts=cards.c.failed_pin_attempts - 1)
)


def _hold(row: Any) -> Hold:
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


def _activity(row: Any) -> Activity:
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


class SqlLedgerStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_cards(
        self,
        new_cards: Sequence[NewCard],
        new_activities: Sequence[NewActivity],
        postings: Sequence[Posting],
    ) -> None:
        """Bulk issuance goes straight to the driver's ``executemany``: values are converted once
        per batch instead of once per row by SQLAlchemy's type processors (3x the throughput)."""
        if not new_cards:
            return
        created = self._timestamp(new_cards[0].created_at)
        json_cache: dict[int, str] = {}

        def metadata(value: dict[str, Any]) -> str:
            key = id(value)
            if key not in json_cache:
                json_cache[key] = json.dumps(value)
            return json_cache[key]

        active = CardStatus.ACTIVE.value
        await self._bulk(
            cards,
            (
                "id",
                "code_hash",
                "code_last4",
                "pin_hash",
                "currency",
                "status",
                "posted",
                "held",
                "version",
                "failed_pin_attempts",
                "pin_window_ends_at",
                "expires_at",
                "metadata",
                "created_at",
                "updated_at",
            ),
            [
                (
                    c.id,
                    c.code_hash,
                    c.code_last4,
                    c.pin_hash,
                    c.currency,
                    active,
                    c.posted,
                    0,
                    1,
                    0,
                    None,
                    self._timestamp(c.expires_at),
                    metadata(c.metadata),
                    created,
                    created,
                )
                for c in new_cards
            ],
        )
        await self._bulk(
            activities,
            (
                "card_id",
                "type",
                "amount",
                "currency",
                "posted_after",
                "held_after",
                "reference",
                "actor",
                "hold_id",
                "created_at",
            ),
            [
                (
                    a.card_id,
                    a.type.value,
                    a.amount,
                    a.currency,
                    a.posted_after,
                    a.held_after,
                    a.reference,
                    a.actor,
                    a.hold_id,
                    created,
                )
                for a in new_activities
            ],
        )
        if postings:
            transfer_id = new_id()
            await self._bulk(
                entries,
                ("transfer_id", "account", "card_id", "amount", "currency", "created_at"),
                [
                    (transfer_id, p.account.value, p.card_id, p.amount, p.currency, created)
                    for p in postings
                ],
            )

    def _timestamp(self, value: datetime | None) -> Any:
        """A datetime as ``UTCDateTime`` stores it, for statements that bypass its processor."""
        if value is None or self.conn.dialect.name != "sqlite":
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def _bulk(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        if self.conn.dialect.paramstyle == "qmark":
            marks = ", ".join("?" for _ in columns)
        else:
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
        await self.conn.exec_driver_sql(sql, rows)

    async def get_card(self, card_id: str) -> Card | None:
        row = (
            await self.conn.execute(select(*_card_select()).where(cards.c.id == card_id))
        ).first()
        return _card(row) if row else None

    async def get_cards(self, card_ids: Sequence[str]) -> list[Card]:
        rows = await self.conn.execute(_GET_CARDS, {"ids": list(card_ids)})
        return [_card(row) for row in rows]

    async def credentials_by_code_hash(self, code_hash: bytes) -> CardCredentials | None:
        stmt = select(*_card_select()).where(cards.c.code_hash == code_hash)
        row = (await self.conn.execute(stmt)).first()
        return CardCredentials(_card(row), row._mapping["pin_hash"]) if row else None

    async def code_hashes_exist(self, code_hashes: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(code_hashes), 500):
            chunk = list(code_hashes[start : start + 500])
            result = await self.conn.execute(
                select(cards.c.code_hash).where(cards.c.code_hash.in_(chunk))
            )
            found.update(bytes(h) for h in result.scalars())
        return found

    async def claim_pin_attempt(
        self, card_id: str, *, max_attempts: int, now: datetime, window_ends: datetime
    ) -> int | None:
        """On PostgreSQL a racing claim waits for this row's lock and then re-checks the
        condition against the committed count; on SQLite writers are serial. Either way no
        more than ``max_attempts`` claims fit in one window."""
        params = {
            "card_id": card_id,
            "max_attempts": max_attempts,
            "now": now,
            "window_ends": window_ends,
        }
        attempts = (await self.conn.execute(_CLAIM_PIN_ATTEMPT, params)).scalar()
        return None if attempts is None else int(attempts)

    async def return_pin_attempt(self, card_id: str) -> None:
        await self.conn.execute(_RETURN_PIN_ATTEMPT, {"card_id": card_id})

    async def try_hold(
        self, card_id: str, amount: int, currency: str, now: datetime
    ) -> Card | None:
        params = {"card_id": card_id, "amount": amount, "b_currency": currency, "now": now}
        row = (await self.conn.execute(_TRY_HOLD, params)).first()
        return _card(row) if row else None

    async def move_balance(
        self, card_id: str, *, posted: int, held: int, max_posted: int, now: datetime
    ) -> Card | None:
        params = {"card_id": card_id, "dp": posted, "dh": held, "max": max_posted, "now": now}
        row = (await self.conn.execute(_MOVE_BALANCE, params)).first()
        return _card(row) if row else None

    async def set_status(
        self, card_id: str, *, current: CardStatus, target: CardStatus, now: datetime
    ) -> Card | None:
        stmt = (
            update(cards)
            .where(cards.c.id == card_id, cards.c.status == current.value)
            .values(status=target.value, version=cards.c.version + 1, updated_at=now)
            .returning(*_card_select())
        )
        row = (await self.conn.execute(stmt)).first()
        return _card(row) if row else None

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
        await pending.append(self.conn, _INSERT_HOLD, [values])

    async def get_hold(self, hold_id: str) -> Hold | None:
        await pending.flush(self.conn, _INSERT_HOLD)
        row = (await self.conn.execute(_GET_HOLD, {"hold_id": hold_id})).first()
        return _hold(row) if row else None

    async def capture_hold(self, hold_id: str, *, amount: int | None, now: datetime) -> Hold | None:
        await pending.flush(self.conn, _INSERT_HOLD)
        params = {"hold_id": hold_id, "captured": amount, "now": now}
        row = (await self.conn.execute(_CAPTURE_HOLD, params)).first()
        return _hold(row) if row else None

    async def end_hold(self, hold_id: str, *, status: HoldStatus, now: datetime) -> Hold | None:
        await pending.flush(self.conn, _INSERT_HOLD)
        params = {"hold_id": hold_id, "b_status": status.value, "now": now}
        row = (await self.conn.execute(_END_HOLD, params)).first()
        return _hold(row) if row else None

    async def lock_expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        await pending.flush(self.conn, _INSERT_HOLD)
        stmt = (
            select(holds)
            .where(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= now)
            .order_by(holds.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_hold(row) for row in await self.conn.execute(stmt)]

    async def reference_totals(self, card_id: str, reference: str) -> tuple[int, int]:
        captured = func.coalesce(
            func.sum(activities.c.amount).filter(activities.c.type == ActivityType.CAPTURE.value),
            0,
        )
        refunded = func.coalesce(
            func.sum(activities.c.amount).filter(activities.c.type == ActivityType.REFUND.value),
            0,
        )
        stmt = select(captured, refunded).where(
            activities.c.card_id == card_id, activities.c.reference == reference
        )
        await pending.flush(self.conn, _INSERT_ACTIVITIES)
        row = (await self.conn.execute(stmt)).one()
        return int(row[0]), int(row[1])

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
        await pending.append(self.conn, _INSERT_ACTIVITIES, rows)

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
        await pending.append(self.conn, _INSERT_ENTRIES, rows)

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
            select(*_card_select())
            .where(and_(True, *conditions))
            .order_by(cards.c.id)
            .limit(limit + 1)
        )
        items = [_card(row) for row in await self.conn.execute(stmt)]
        return Page.of(items, limit, lambda card: card.id)

    async def list_activities(
        self, card_id: str, *, after: int | None, limit: int
    ) -> Page[Activity]:
        stmt = select(activities).where(activities.c.card_id == card_id)
        if after is not None:
            stmt = stmt.where(activities.c.id > after)
        stmt = stmt.order_by(activities.c.id).limit(limit + 1)
        await pending.flush(self.conn, _INSERT_ACTIVITIES)
        items = [_activity(row) for row in await self.conn.execute(stmt)]
        return Page.of(items, limit, lambda activity: activity.id)

    async def list_holds(self, card_id: str, *, status: HoldStatus | None) -> list[Hold]:
        await pending.flush(self.conn, _INSERT_HOLD)
        stmt = select(holds).where(holds.c.card_id == card_id)
        if status is not None:
            stmt = stmt.where(holds.c.status == status.value)
        return [_hold(row) for row in await self.conn.execute(stmt.order_by(holds.c.id))]

    async def audit(self) -> list[str]:
        await pending.flush(self.conn)
        problems: list[str] = []
        totals = await self.conn.execute(
            select(entries.c.currency, func.sum(entries.c.amount))
            .group_by(entries.c.currency)
            .having(func.sum(entries.c.amount) != 0)
        )
        problems += [f"{cur} entries sum to {total}, not 0" for cur, total in totals]
        card_sums = (
            select(entries.c.card_id, func.sum(entries.c.amount).label("total"))
            .where(entries.c.account == "card")
            .group_by(entries.c.card_id)
            .subquery()
        )
        posted = await self.conn.execute(
            select(cards.c.id, cards.c.posted, card_sums.c.total)
            .select_from(cards.outerjoin(card_sums, card_sums.c.card_id == cards.c.id))
            .where(cards.c.posted != func.coalesce(card_sums.c.total, 0))
        )
        problems += [f"card {i} posted {p} but its entries sum to {t}" for i, p, t in posted]
        hold_sums = (
            select(holds.c.card_id, func.sum(holds.c.amount).label("total"))
            .where(holds.c.status == HoldStatus.ACTIVE.value)
            .group_by(holds.c.card_id)
            .subquery()
        )
        held = await self.conn.execute(
            select(cards.c.id, cards.c.held, hold_sums.c.total)
            .select_from(cards.outerjoin(hold_sums, hold_sums.c.card_id == cards.c.id))
            .where(cards.c.held != func.coalesce(hold_sums.c.total, 0))
        )
        problems += [f"card {i} held {h} but its active holds sum to {t}" for i, h, t in held]
        negative = await self.conn.execute(
            select(cards.c.id).where(or_(cards.c.held < 0, cards.c.posted < cards.c.held))
        )
        problems += [f"card {i} has a negative available balance" for (i,) in negative]
        return problems
