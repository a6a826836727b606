"""One connection for a whole request, on PostgreSQL and SQLite.

A shopper's redeem looks its session up, counts the card lookup against its budgets and runs
its unit of work: three statements' worth of connections checked out of the pool and handed
back, about 220 Python calls each. A request holding a lease takes one connection at its first
statement and keeps it until it ends; each of those steps borrows it in turn. On SQLite a unit
takes its connection before the writer's turn (``Database._once``), so whoever holds the turn
already has every connection it needs.

Between requests the connection waits in ``Idle``, still checked out of SQLAlchemy's pool: the
next request takes it from there for a ``pop``, where a checkout and its return to the pool cost
about 160 calls. ``Idle`` lends at most the pool's own size to requests (the pool keeps as many
again for work done apart, nested or in the background), and requests that find none free wait
in order of arrival; ``Database.dispose`` closes the waiting connections.

The connection is not held while the request waits on its client: its body is read before
the first statement, and the connection is given back (``let_go``) as the answer starts, so a
client slow to send or to read cannot hold the pool (``api.middleware.RequestConnection``).

A lease is lent to one borrower at a time, and only to the task that took it: a step that runs
while another holds the connection (work nested in a unit, a check that ``asyncio.gather``
starts in other tasks) takes a connection of its own, as it did before leases. The request's
connection is never left in a transaction between two borrowers (each ends its own), and one
the driver lost is dropped and replaced at the next borrow. A background job has no lease.

A connection can also die while it waits: the server restarted or failed over, or ended it
(``idle_session_timeout``, an administrator). The driver sees its socket close as it happens,
so ``Idle`` looks before lending (no round trip) and opens another in its place; without that,
each connection waiting made one request fail after a database restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

WAIT_LIMIT_SECONDS = 30.0
"""How long a request waits for a connection at most: SQLAlchemy's pool's own limit."""


def closed(driver_connection: Any) -> bool:
    """Whether the driver knows its connection ended (asyncpg's ``is_closed``)."""
    is_closed = getattr(driver_connection, "is_closed", None)
    return bool(is_closed is not None and is_closed())


def lost(conn: AsyncConnection) -> bool:
    """Whether ``conn`` can no longer run a statement: invalidated, or ended by the server."""
    if conn.closed or conn.invalidated or conn.sync_connection is None:
        return True
    return closed(conn.sync_connection.connection.driver_connection)


async def discard(conn: AsyncConnection) -> None:
    """Drop a lost connection: invalidated, it goes back to no pool."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


class Idle:
    """The requests' connections: at most ``size`` are lent to requests or wait between two,
    checked out of the pool and started. A request that finds none waiting and ``size`` lent
    waits here, in order of arrival, and is handed the next one given back; only a request
    that finds nobody waiting may go ahead. Kept for whoever asked next, connections let
    newcomers overtake the requests waiting in the pool's queue (at 50 connections some balance
    checks waited over a second); handed back to the pool whenever anyone waited, each was
    checked out again at full cost (balance at 50 connections fell to half its rate).

    No request waits longer than ``timeout`` seconds, as none waits longer for SQLAlchemy's
    pool: past it, it gives up with the pool's ``TimeoutError`` (answered 503), so that an
    overloaded or stuck database sheds requests instead of queueing them without end."""

    def __init__(self, size: int, timeout: float = WAIT_LIMIT_SECONDS) -> None:
        self.size = size
        self.timeout = timeout
        self._connections: list[AsyncConnection] = []
        self._lent = 0
        self._waiting: deque[asyncio.Future[AsyncConnection | None]] = deque()

    async def connect(self, engine: AsyncEngine) -> AsyncConnection:
        if self._connections:
            self._lent += 1
            kept = self._connections.pop()
        elif self._lent < self.size and not self._waiting:
            self._lent += 1
            kept = None
        else:
            kept = await self._wait()
        if kept is not None and not lost(kept):
            return kept
        try:  # a place is ours: open a connection for it
            if kept is not None:
                await discard(kept)  # the server ended it while it waited
            return await engine.connect()
        except BaseException:
            self._free_place()
            raise

    async def _wait(self) -> AsyncConnection | None:
        """Wait for a connection given back (``None``: one was lost, open one in its place)."""
        waiter: asyncio.Future[AsyncConnection | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():  # handed over as it gave up
                self._hand_on(waiter.result())
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            if isinstance(error, TimeoutError):
                raise PoolTimeout(f"no connection was free within {self.timeout} s") from error
            raise

    async def put(self, conn: AsyncConnection) -> None:
        """Give ``conn`` back: to the first request waiting, else to wait for the next one. A
        connection lost or left in a transaction goes back to the pool (a waiting request then
        opens one in its place)."""
        if lost(conn):
            await discard(conn)
            self._hand_on(None)
        elif conn.in_transaction():
            await conn.close()
            self._hand_on(None)
        else:
            self._hand_on(conn)

    def _hand_on(self, conn: AsyncConnection | None) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)  # its place stays lent
                return
        self._lent -= 1
        if conn is not None:
            self._connections.append(conn)

    def _free_place(self) -> None:
        self._hand_on(None)

    async def close(self) -> None:
        while self._connections:
            await self._connections.pop().close()


class Lease:
    __slots__ = ("_busy", "_conn", "_engine", "_idle", "_task")

    def __init__(self, engine: AsyncEngine, idle: Idle) -> None:
        self._engine = engine
        self._idle = idle
        self._task = asyncio.current_task()
        self._conn: AsyncConnection | None = None
        self._busy = False

    def free(self, engine: AsyncEngine) -> bool:
        """Whether this task may borrow the request's connection of ``engine`` now."""
        return not self._busy and engine is self._engine and asyncio.current_task() is self._task

    async def borrow(self) -> AsyncConnection:
        self._busy = True
        try:
            if self._conn is None:
                self._conn = await self._idle.connect(self._engine)
        except BaseException:
            self._busy = False
            raise
        return self._conn

    async def give_back(self) -> None:
        """End the borrowing; a connection lost or left in a transaction (a borrower that
        could not end it) is closed, so the next borrower starts clean."""
        self._busy = False
        conn = self._conn
        if conn is not None and (conn.invalidated or conn.in_transaction()):
            self._conn = None
            await self._idle.put(conn)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._idle.put(conn)

    async def let_go(self) -> None:
        """Give the connection back now unless a step holds it (its owner task only)."""
        if not self._busy and asyncio.current_task() is self._task:
            await self.close()


_lease: ContextVar[Lease | None] = ContextVar("tender_lease", default=None)


@contextlib.asynccontextmanager
async def held(engine: AsyncEngine, idle: Idle) -> AsyncIterator[None]:
    """Hold a lease on ``engine`` for the block (a request): its connection waits in ``idle``
    for the next request when the block ends."""
    lease = Lease(engine, idle)
    token = _lease.set(lease)
    try:
        yield
    finally:
        _lease.reset(token)
        await lease.close()


async def let_go() -> None:
    """Give the request's connection back now, if no step holds it: before the request waits
    on its client (sending the answer), which may be slow to read or never read at all. A
    step after this takes a connection again."""
    lease = _lease.get()
    if lease is not None:
        await lease.let_go()


def free(engine: AsyncEngine) -> bool:
    """Whether a ``connection`` of ``engine`` would now be the request's own."""
    lease = _lease.get()
    return lease is not None and lease.free(engine)


@contextlib.asynccontextmanager
async def waiting_in(idle: Idle, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of ``engine`` that waits in ``idle`` between borrowers, as the requests'
    connections do: for statements apart from every request (a card lookup's counters in a
    keyed request), a ``pop`` instead of a checkout from the pool and its return."""
    conn = await idle.connect(engine)
    try:
        yield conn
    finally:
        await idle.put(conn)


@contextlib.asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of ``engine``: the request's own if it holds a lease that is free, else a
    new one from the pool. The borrower ends any transaction it begins on it."""
    lease = _lease.get()
    if lease is None or not lease.free(engine):
        async with engine.connect() as conn:
            yield conn
        return
    conn = await lease.borrow()
    try:
        yield conn
    finally:
        await lease.give_back()
