"""Append-only rows a transaction writes but does not read back: written together at the end.

Placing an order appends ledger activities, payment transactions and events one at a time, and
each single-row ``INSERT`` costs a round trip plus SQLAlchemy's per-statement work, several
times what the row itself costs. Queued here, they go out as one ``executemany`` per table just
before commit, still inside the transaction, so a failure rolls everything back as before.

A store that reads one of these tables flushes first, so a transaction always reads its own
writes. Writes are queued only inside ``Database.transaction``, which installs the queue and
flushes it; a bare connection (a test, a migration) writes immediately. Nothing here uses
savepoints: rows queued inside one would outlive its rollback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from tender.db.models import Base

KEY = "tender.pending_rows"


def _foreign_key_order() -> tuple[dict[str, int], dict[str, set[str]]]:
    """Each table's place in an order foreign keys allow inserting in, and the tables each one
    refers to, directly or not."""
    tables = Base.metadata.sorted_tables
    refers: dict[str, set[str]] = {}
    for table in tables:  # sorted: a table's referents come before it
        direct = {fk.column.table.name for fk in table.foreign_keys} - {table.name}
        refers[table.name] = direct.union(*(refers[name] for name in direct))
    return {table.name: rank for rank, table in enumerate(tables)}, refers


RANK, REFERS = _foreign_key_order()


class PendingRows:
    """Rows queued per prebuilt ``INSERT``, flushed table by table in foreign key order, so a
    queued row never arrives before a queued row it refers to (an activity and its hold)."""

    def __init__(self) -> None:
        self._rows: dict[Insert, list[dict[str, Any]]] = {}

    def add(self, statement: Insert, rows: list[dict[str, Any]]) -> None:
        self._rows.setdefault(statement, []).extend(rows)

    async def flush(self, conn: AsyncConnection, only: tuple[Insert, ...] = ()) -> None:
        """Write the queued rows; with ``only``, those of these statements and of the tables
        they may refer to."""
        order = sorted(self._rows, key=_rank)
        if only:
            names = {_name(statement) for statement in only}
            wanted = names.union(*(REFERS[name] for name in names))
            order = [statement for statement in order if _name(statement) in wanted]
        for statement in order:
            await conn.execute(statement, self._rows.pop(statement))


def _name(statement: Insert) -> str:
    return str(statement.table.name)


def _rank(statement: Insert) -> int:
    return RANK[_name(statement)]


def install(conn: AsyncConnection) -> PendingRows:
    pending = PendingRows()
    conn.info[KEY] = pending
    return pending


def uninstall(conn: AsyncConnection) -> None:
    conn.info.pop(KEY, None)


async def append(conn: AsyncConnection, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """Queue ``rows`` if this connection runs a unit of work, else insert them now."""
    if not rows:
        return
    pending: PendingRows | None = conn.info.get(KEY)
    if pending is None:
        await conn.execute(statement, rows)
    else:
        pending.add(statement, rows)


async def flush(conn: AsyncConnection, *only: Insert) -> None:
    """Write what is queued (with ``only``: for those statements and the tables they refer
    to); called before reading a table that may have queued rows."""
    pending: PendingRows | None = conn.info.get(KEY)
    if pending is not None:
        await pending.flush(conn, only)
