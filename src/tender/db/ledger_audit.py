"""The ledger's books checked against themselves: ``tender ledger verify`` and the tests."""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, Subquery, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import pending
from tender.db.ledger_rows import cards, entries, holds
from tender.domain.ledger import Account, HoldStatus


async def audit(conn: AsyncConnection) -> list[str]:
    """Every broken invariant, described; empty when the books balance."""
    await pending.flush(conn)
    return [
        *await _unbalanced_currencies(conn),
        *await _posted_unlike_entries(conn),
        *await _held_unlike_holds(conn),
        *await _negative_available(conn),
    ]


async def _unbalanced_currencies(conn: AsyncConnection) -> list[str]:
    totals = await conn.execute(
        select(entries.c.currency, func.sum(entries.c.amount))
        .group_by(entries.c.currency)
        .having(func.sum(entries.c.amount) != 0)
    )
    return [f"{cur} entries sum to {total}, not 0" for cur, total in totals]


async def _posted_unlike_entries(conn: AsyncConnection) -> list[str]:
    per_card = _per_card(entries, entries.c.account == Account.CARD.value)
    return await _cards_unlike(conn, cards.c.posted, per_card, "its entries")


async def _held_unlike_holds(conn: AsyncConnection) -> list[str]:
    per_card = _per_card(holds, holds.c.status == HoldStatus.ACTIVE.value)
    return await _cards_unlike(conn, cards.c.held, per_card, "its active holds")


def _per_card(table: Table, condition: ColumnElement[bool]) -> Subquery:
    return (
        select(table.c.card_id, func.sum(table.c.amount).label("total"))
        .where(condition)
        .group_by(table.c.card_id)
        .subquery()
    )


async def _cards_unlike(
    conn: AsyncConnection, balance: Column[int], per_card: Subquery, what: str
) -> list[str]:
    """Cards whose ``balance`` column differs from the sum of ``what`` belongs to them."""
    rows = await conn.execute(
        select(cards.c.id, balance, per_card.c.total)
        .select_from(cards.outerjoin(per_card, per_card.c.card_id == cards.c.id))
        .where(balance != func.coalesce(per_card.c.total, 0))
    )
    return [f"card {i} {balance.name} {b} but {what} sum to {t}" for i, b, t in rows]


async def _negative_available(conn: AsyncConnection) -> list[str]:
    negative = await conn.execute(
        select(cards.c.id).where(or_(cards.c.held < 0, cards.c.posted < cards.c.held))
    )
    return [f"card {i} has a negative available balance" for (i,) in negative]
