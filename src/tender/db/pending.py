"""Append-only rows a transaction writes but does not read back: written together at the end.

Placing an order appends ledger activities, payment transactions and events one at a time, and
each single-row ``INSERT`` costs a round trip plus SQLAlchemy's per-statement work, several
times what the row itself costs. Queued here, they go out as one ``executemany`` per table just
before commit, still inside the transaction, so a failure rolls everything back as before.

A store that reads one of these tables flushes first, so a transaction always reads its own
writes. Writes are queued only inside ``Database.transaction``, which installs the queue and
flushes it; a bare connection (a test, a migration) writes immediately.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

KEY = "tender.pending_rows"


class PendingRows:
    """Rows queued per prebuilt ``INSERT``, flushed in the order the statements were first used
    (a row never refers to a row queued after it)."""

    def __init__(self) -> None:
        self._rows: dict[Insert, list[dict[str, Any]]] = {}

    def add(self, statement: Insert, rows: list[dict[str, Any]]) -> None:
        self._rows.setdefault(statement, []).extend(rows)

    async def flush(self, conn: AsyncConnection, only: tuple[Insert, ...] = ()) -> None:
        """Write the queued rows, or only those of the ``only`` statements."""
        for statement in [s for s in self._rows if not only or s in only]:
            await conn.execute(statement, self._rows.pop(statement))


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
    """Write what is queued (for the ``only`` statements, if given); called before reading a
    table that may have queued rows. A queued row refers only to rows written immediately, so
    flushing one table early keeps every reference intact."""
    pending: PendingRows | None = conn.info.get(KEY)
    if pending is not None:
        await pending.flush(conn, only)
