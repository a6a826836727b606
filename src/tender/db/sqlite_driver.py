"""aiosqlite with as few hand-offs to its thread as a transaction allows.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it, and aiosqlite
sends each of those to its worker thread separately: four thread hand-offs (~85 µs each on a
2-core VM) for every statement. This connection's cursor does all four in one hand-off, which
makes a reserve or capture transaction about three times faster on the embedded database.

The hot paths' prebuilt statements (``tender.db.direct``) go further: a transaction's ``BEGIN``
travels with its first statement, and once ``BEGIN IMMEDIATE`` holds the write lock, the
statements that follow run on the loop's thread (``OneHopConnection._here``): a write
transaction costs two hand-offs, its start and its commit, whatever it does in between.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

BUSY_SECONDS = 30.0
"""How long a statement waits for another process's writer before it fails "database is
locked"; tender's own writers queue apart from SQLite (``tender.db.writer_lock``), so this is
an outside writer: an operator's shell, a backup tool."""
BUSY_STEP_MS = 100
"""SQLite's busy handler sleeps out its timeout whatever happens, even past
``sqlite3_interrupt``: a hand-off waits in steps this long, and stops after the step in which
its task gave it up (``OneHopConnection._patiently``)."""
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_STEP_MS}",
)
"""WAL lets readers run beside the writer; the busy timeout queues writers of other processes
instead of failing them, one step at a time."""

SYNCHRONOUS = frozenset({"FULL", "NORMAL"})
"""``FULL`` (the default) syncs the WAL at every commit, so an acknowledged change survives a
power loss. ``NORMAL`` syncs only at checkpoints: commits are cheaper, and a power loss (not a
process crash) can lose the last transactions acknowledged, though never corrupt the file."""

Outcome = tuple[Any, list[Any], int, int | None]
T = TypeVar("T")
Work = Callable[[sqlite3.Cursor], T]
"""What runs on the connection, given a cursor of its own."""
IMMEDIATE = "BEGIN IMMEDIATE"
ROWS_HERE = 16
"""At most this many rows are written on the loop's thread at once (a redeem queues five)."""


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
        def run(cursor: sqlite3.Cursor) -> Outcome:
            cursor.execute(sql, parameters or ())
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, rows, cursor.rowcount, cursor.lastrowid

        connection = self._connection
        return self._store(await connection.hand_off(connection.opening(), run))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        def run(cursor: sqlite3.Cursor) -> Outcome:
            cursor.executemany(sql, parameters)
            return None, [], cursor.rowcount, cursor.lastrowid

        connection = self._connection
        return self._store(await connection.hand_off(connection.opening(), run))

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
    _begin: str | None = None
    _handed = 0
    """Hand-offs queued for the thread, counted here in the loop."""
    _finished = 0
    """Hand-offs the thread has finished, counted there."""
    _given_up = 0
    """The last hand-off (by its number in ``_handed``) whose task stopped waiting for it."""
    _holds_lock = False
    """The transaction began with ``BEGIN IMMEDIATE``, sent by a hand-off
    that returned: it holds SQLite's write lock until it ends."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    def begin_later(self, sql: str) -> None:
        """Send ``sql`` (a ``BEGIN``) with the next statement, in its hand-off: a transaction
        costs one hop less. Nothing is locked or read in between (the writer's turn is taken
        before; a deferred ``BEGIN`` takes its snapshot at the first read anyway), and a
        failing ``BEGIN`` fails that statement, which is retried as the ``BEGIN`` would be.
        A transaction that ends before any statement never began."""
        self._begin = sql

    def opening(self) -> str | None:
        """The ``BEGIN`` the next statement sends first, if any (taken: sent once)."""
        sql, self._begin = self._begin, None
        return sql

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection: on the worker thread, or on the loop's while the worker
        has nothing in hand (``_here``)."""
        return self._conn

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every hand-off to the thread, counted when the thread is done with it. An awaiting
        task cancelled (a request timed out) stops waiting, but its hand-off still runs,
        statement and ``BEGIN`` alike: until it has, the thread's connection may not yet be in
        the transaction it is about to begin."""

        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished += 1

        self._handed += 1
        return await super()._execute(counted)  # type: ignore[no-untyped-call]

    async def hand_off(self, opening: str | None, work: Work[T]) -> T:
        """``work`` on the thread, after ``opening``; a ``BEGIN IMMEDIATE`` sent so holds the
        write lock from then on."""
        number = self._handed + 1
        try:
            result: T = await self._execute(self._patiently(number, opening, work))
        except asyncio.CancelledError:
            self._given_up = number
            raise
        if opening == IMMEDIATE:
            self._holds_lock = True
        return result

    def _patiently(self, number: int, opening: str | None, work: Work[T]) -> Callable[[], T]:
        """``work`` (after ``opening``) run again while another process's writer holds the
        database, for ``BUSY_SECONDS`` at most, unless its task gave hand-off ``number`` up.
        Only a hand-off that began outside any transaction runs again: one that begins its own
        (``opening``) once that is rolled back, and statements standing alone if they changed
        nothing. Before, one wait of 30 s in SQLite's busy handler outlived a cancelled request,
        and its worker could not stop until that outside writer was done."""
        run = self._in_cursor(opening, work)

        def patient() -> T:
            raw, deadline = self.raw, None
            while True:
                outside, changes = not raw.in_transaction, raw.total_changes
                try:
                    return run()
                except sqlite3.OperationalError as error:
                    deadline = deadline or time.monotonic() + BUSY_SECONDS
                    if not (
                        outside
                        and (opening is not None or raw.total_changes == changes)
                        and error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                        and self._given_up < number
                        and time.monotonic() < deadline
                    ):
                        raise
                    if raw.in_transaction:
                        raw.rollback()

        return patient

    def _in_cursor(self, opening: str | None, work: Work[T]) -> Callable[[], T]:
        """``work`` on a cursor of its own, after ``opening`` (a ``BEGIN``) if any."""

        def run() -> T:
            cursor = self.raw.cursor()
            try:
                if opening is not None:
                    cursor.execute(opening)
                return work(cursor)
            finally:
                cursor.close()

        return run

    def _settled(self) -> bool:
        """No transaction open on the thread, and none about to be: ``commit`` and
        ``rollback`` may then skip their hand-off."""
        return self._handed == self._finished and not self.raw.in_transaction

    async def fetch(
        self, sql: str, parameters: Sequence[Any], *, writes: bool = True
    ) -> tuple[list[Any], int]:
        """One statement's rows and row count in one hand-off (``tender.db.direct``)."""
        (outcome,) = await self.fetch_each([(sql, parameters)], writes=writes)
        return outcome

    async def fetch_each(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, writes: bool = True
    ) -> list[tuple[list[Any], int]]:
        """Statements run in order in one hand-off, each one's rows and row count; the first
        that fails stops the rest. ``writes``: one of them may write."""
        opening = self.opening()

        def run(cursor: sqlite3.Cursor) -> list[tuple[list[Any], int]]:
            outcomes = []
            for sql, parameters in statements:
                cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                outcomes.append((rows, cursor.rowcount))
            return outcomes

        if self._here(opening, len(statements), writes=writes):
            return self._in_cursor(opening, run)()
        return await self.hand_off(opening, run)

    async def write_many(self, batches: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Several ``executemany`` in one hand-off, in order: the rows a unit queued for
        several tables (``tender.db.pending``) cost one hop, not one per table."""
        opening = self.opening()

        def run(cursor: sqlite3.Cursor) -> None:
            for sql, rows in batches:
                cursor.executemany(sql, rows)

        if self._here(opening, sum(len(rows) for _, rows in batches), writes=True):
            self._in_cursor(opening, run)()
            return
        await self.hand_off(opening, run)

    def _here(self, opening: str | None, rows: int, *, writes: bool) -> bool:
        """Whether the hot statements of ``fetch_each`` and ``write_many`` may run on the
        loop's thread, with no hand-off. A hand-off costs ~85 µs and, worse, a turn of a busy
        loop before the task goes on: inside a write transaction, a turn for each statement
        while every other writer waits for SQLite's one write lock. A prebuilt point lookup or
        update takes microseconds, and none waits on the spot: a ``BEGIN IMMEDIATE`` may wait
        for another process's writer, so it goes to the thread (with the statement it opens);
        in WAL mode reads never wait, and a write runs here only in a transaction that holds
        the lock already. Nothing may be in flight on the thread (order is kept), and a batch is
        a few rows, not an issuance (``ROWS_HERE``). A commit, which syncs to disk, stays a
        hand-off."""
        return (
            opening != IMMEDIATE
            and (self._holds_lock or not writes)
            and rows <= ROWS_HERE
            and self._handed == self._finished
        )

    async def commit(self) -> None:
        self._begin, self._holds_lock = None, False
        if not self._settled():
            await super().commit()

    async def rollback(self) -> None:
        # The pool rolls back every connection it takes back; after our explicit COMMIT or
        # ROLLBACK there is nothing to undo, so skip the thread hop.
        self._begin, self._holds_lock = None, False
        if not self._settled():
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
