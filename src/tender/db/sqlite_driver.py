"""aiosqlite with one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it, and aiosqlite
sends each of those to its worker thread separately: four thread hand-offs (~85 µs each on a
2-core VM) for every statement. This connection's cursor does all four in one hand-off, which
makes a reserve or capture transaction about three times faster on the embedded database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
"""WAL lets readers run beside the writer; the busy timeout queues writers of other processes
instead of failing them."""

SYNCHRONOUS = frozenset({"FULL", "NORMAL"})
"""``FULL`` (the default) syncs the WAL at every commit, so an acknowledged change survives a
power loss. ``NORMAL`` syncs only at checkpoints: commits are cheaper, and a power loss (not a
process crash) can lose the last transactions acknowledged, though never corrupt the file."""

Outcome = tuple[Any, list[Any], int, int | None]


class OneHopCursor:
    """The subset of aiosqlite's cursor SQLAlchemy uses, answered from one round trip."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _store(self, outcome: Outcome) -> OneHopCursor:
        self.description, self._rows, self.rowcount, self.lastrowid = outcome
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneHopCursor:
        def run() -> Outcome:
            cursor = self._connection.raw.cursor()
            try:
                cursor.execute(sql, parameters or ())
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        return self._store(await self._connection.run(run))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        def run() -> Outcome:
            cursor = self._connection.raw.cursor()
            try:
                cursor.executemany(sql, parameters)
                return None, [], cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        return self._store(await self._connection.run(run))

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self.arraysize
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection; only touched on the worker thread."""
        return self._conn

    async def run(self, function: Any) -> Any:
        return await self._execute(function)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        if self.raw.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        # The pool rolls back every connection it takes back; after our explicit COMMIT or
        # ROLLBACK there is nothing to undo, so skip the thread hop.
        if self.raw.in_transaction:
            await super().rollback()


def connect(path: str, *, synchronous: str = "FULL") -> OneHopConnection:
    """A connection in autocommit mode (we issue BEGIN IMMEDIATE ourselves) with the pragmas."""
    level = synchronous.upper()
    if level not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}, not {synchronous!r}")

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            connection.execute(pragma)
        connection.execute(f"PRAGMA synchronous={level}")
        return connection

    connection = OneHopConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True
    return connection
