"""Rows a transaction inserts and does not read back at once: written together at the end.

Placing an order appends ledger activities, payment transactions and events one at a time, and
each single-row ``INSERT`` costs a round trip plus SQLAlchemy's per-statement work, several
times what the row itself costs. Queued here, they go out just before commit, still inside the
transaction, so a failure rolls everything back as before: one ``executemany`` per table (on
SQLite all in one hand-off to its thread), or on PostgreSQL, when a few rows of several tables
wait (a redeem's), one statement for all.

A store that reads (or updates) one of these tables flushes first, so a transaction always
reads its own writes. Most are append-only (activities, transactions, events); a new payment is
queued too, and flushed before any read or update of payments. Writes are queued only inside
``Database.transaction``, which installs the queue and flushes it; a bare connection (a test,
a migration) writes immediately. Nothing here uses savepoints: rows queued inside one would
outlive its rollback.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from tender.db import direct
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
        batches = [(statement, self._rows.pop(statement)) for statement in order]
        if conn.dialect.name == "postgresql" and len(batches) > 1 and _small(batches):
            await _write_together(conn, batches)
            return
        await direct.execute_batches(conn, batches)


Batch = tuple[Insert, list[dict[str, Any]]]
ROWS_TOGETHER = 4
"""At most this many rows of one table go into the one statement (a redeem queues one row per
table); more go out as ``executemany``, and the statements' shapes stay few."""


def _small(batches: list[Batch]) -> bool:
    return all(
        len(rows) <= ROWS_TOGETHER and all(row.keys() == rows[0].keys() for row in rows)
        for _, rows in batches
    )


async def _write_together(conn: AsyncConnection, batches: list[Batch]) -> None:
    """PostgreSQL: every table's rows in one statement, each ``INSERT`` but the last in a
    ``WITH``: one round trip instead of one per table. Foreign keys are checked at the end of
    the statement, when every row is in."""
    shape = tuple((statement, tuple(rows[0]), len(rows)) for statement, rows in batches)
    params = {
        f"p{n}_{r}_{key}": value
        for n, (_, rows) in enumerate(batches)
        for r, row in enumerate(rows)
        for key, value in row.items()
    }
    await direct.execute(conn, _together(shape), params)


@functools.lru_cache(maxsize=128)
def _together(shape: tuple[tuple[Insert, tuple[str, ...], int], ...]) -> TextClause:
    inserts, binds = [], []
    for n, (statement, keys, count) in enumerate(shape):
        table = statement.table
        values = []
        for r in range(count):
            names = [f"p{n}_{r}_{key}" for key in keys]
            values.append("(" + ", ".join(f":{name}" for name in names) + ")")
            binds += [
                bindparam(name, type_=table.c[key].type)
                for name, key in zip(names, keys, strict=True)
            ]
        columns = ", ".join(f'"{key}"' for key in keys)
        inserts.append(f'INSERT INTO "{table.name}" ({columns}) VALUES {", ".join(values)}')
    withs = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(inserts[:-1]))
    return text(f"WITH {withs} {inserts[-1]}").bindparams(*binds)


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
