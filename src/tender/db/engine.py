"""The engine and the one transaction boundary every request and job goes through.

SQLite runs in WAL mode and opens every transaction with ``BEGIN IMMEDIATE``: taking the write
lock up front means two transactions never both read and then deadlock upgrading to write, and
the busy timeout queues writers instead of failing them. PostgreSQL runs at READ COMMITTED with
conditional updates; deadlocks and serialization failures are retried (``tender.db.retries``).

A request that carries an ``Idempotency-Key`` runs all its units of work in one
``RequestTransaction``, each under a savepoint, and the idempotency middleware commits it
together with the stored answer: a crash anywhere leaves both or neither.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

from tender.db import direct, lease, sqlite_driver
from tender.db.retries import reachable, retrying
from tender.db.units import RequestTransaction, current_request, run_unit
from tender.db.writer_lock import WriterLock, turn
from tender.faults import crash_point

T = TypeVar("T")

READ_ONLY = "tender_read_only"
"""Execution option: a transaction that only reads; on SQLite it need not take the write lock."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


CONNECT_TIMEOUT_SECONDS = 10.0
"""How long opening a PostgreSQL connection may take. asyncpg's own limit is 60 s: a request
that found no connection free waited that long on a database host that accepts connections
and never answers (hung, or behind a black-holed failover address), twice the 30 s a request
waits for a connection at most (``lease.WAIT_LIMIT_SECONDS``). A reachable server answers in
milliseconds."""


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    idle_timeout_ms: int = 60_000,
    sqlite_synchronous: str = "FULL",
) -> AsyncEngine:
    if is_sqlite(url):
        path = make_url(url).database or ""
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=pool_size,  # as on PostgreSQL: the requests' leases take up to pool_size
            async_creator=lambda: _awaitable(
                sqlite_driver.connect(path, synchronous=sqlite_synchronous)
            ),
        )
        _begin_immediately(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,  # errors and logs show statements, never addresses or codes
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "server_settings": {
                "lock_timeout": "10s",
                "application_name": "tender",
                # A request stuck between two statements of its transaction (a hung worker)
                # is ended by the server: its locks and idempotency claim are freed, and it
                # can no longer commit.
                "idle_in_transaction_session_timeout": f"{idle_timeout_ms}",
            },
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_lost)
    return engine


def _refuse_lost(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the server ended while it waited (a restart, a failover) is not
    handed out: ``DisconnectionError`` makes the pool drop it and check out another. The
    driver saw the socket close, so this costs no round trip, unlike ``pool_pre_ping``."""
    if lease.closed(record.driver_connection):
        raise DisconnectionError("the server ended this connection")


async def _awaitable(connection: sqlite_driver.OneHopConnection) -> Any:
    return await connection


def _begin_immediately(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        direct.begin(conn, "BEGIN" if read_only else sqlite_driver.IMMEDIATE)


class Database:
    """Owns the engine; ``transaction`` runs one unit of work and commits it, or not, once."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        apart_pool_size: int | None = None,
        echo: bool = False,
        idle_timeout_ms: int = 60_000,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        self.url = url
        self.engine = create_engine(
            url,
            pool_size=pool_size,
            echo=echo,
            idle_timeout_ms=idle_timeout_ms,
            sqlite_synchronous=sqlite_synchronous,
        )
        self.is_sqlite = is_sqlite(url)
        self._apart_engine = self.engine
        """Where work ``apart`` from a request or unit takes its connection. On PostgreSQL a pool
        of its own: a unit of work that waits for an apart connection holds a connection of the
        main pool meanwhile (a PIN attempt is counted apart from the unit that checks it), so
        were both drawn from one pool, enough such units at once would hold every connection
        and wait for ever. Apart work never waits for the main pool, so its own always drains.
        Half the main pool's size (its overflow as much again): every card lookup counts its
        budgets apart, so a pool much smaller than the requests in flight queues lookups."""
        self.wait_limit = lease.WAIT_LIMIT_SECONDS
        """How long a request waits for a connection, or on SQLite for its turn to write."""
        self._idle = lease.Idle(pool_size, self.wait_limit)
        self._apart_idle: lease.Idle | None = None
        """Apart statements' connections between two statements, checked out of the apart
        pool up to its size (its overflow stays for apart transactions)."""
        if not self.is_sqlite:
            apart_size = apart_pool_size or max(2, pool_size // 2)
            self._apart_engine = create_engine(
                url, pool_size=apart_size, echo=echo, idle_timeout_ms=idle_timeout_ms
            )
            self._apart_idle = lease.Idle(apart_size, self.wait_limit)
        self._sqlite_writer = asyncio.Lock()
        """SQLite has one writer at a time. Queueing this process's writers here keeps them out
        of SQLite's busy handler, which sleeps up to 100 ms between tries (p99 spikes);
        other processes queue on ``WriterLock``."""
        self._writer_lock = self._sqlite_writer_lock(url) if self.is_sqlite else None

    @staticmethod
    def _sqlite_writer_lock(url: str) -> WriterLock | None:
        path = make_url(url).database or ""
        if path in ("", ":memory:") or path.startswith("file:"):
            return None
        return WriterLock(path)

    async def transaction(
        self,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        attempts: int = 8,
        apart: bool = False,
    ) -> T:
        """Run ``work`` in a transaction and commit; retry the whole of it on serialization
        failures and deadlocks, so ``work`` must do nothing outside the database it cannot redo.

        Any error rolls ``work`` back whole; only what it handed ``kept.keep`` is written again
        on its own (see ``tender.db.kept``). Inside a request transaction ``work`` joins it,
        unless ``apart``: then, on PostgreSQL, it commits on its own at once, on a connection
        of its own (a shared counter must stay counted whatever the request or the unit that
        asked does, and must not stay locked until they end). SQLite has one writer, which the
        request holds, so there it joins anyway.
        """
        if apart and not self.is_sqlite:
            return await retrying(lambda: self._once(work, self._apart_engine), attempts)
        request = current_request.get()
        if request is not None and request.database is self:
            return await retrying(lambda: request.run(work), attempts)
        return await retrying(lambda: self._once(work, self.engine), attempts)

    async def autocommit(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` whose statements each stand alone: reads that need no common snapshot,
        and writes made apart (a PIN attempt). On PostgreSQL in autocommit: no ``BEGIN`` and
        ``COMMIT`` round trips around them. On SQLite, and inside a request's transaction, it
        is a ``transaction``: there a PIN attempt is counted in the caller's transaction."""
        request = current_request.get()
        if self.is_sqlite or (request is not None and request.database is self):
            return await self.transaction(work)
        return await _standalone(self.engine, work)

    async def apart_statement(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` that is one writing statement (a shared counter) apart from any request
        or unit, as ``transaction(…, apart=True)`` does, in autocommit, since one statement is
        its own transaction: one round trip instead of three (on SQLite, one hand-off to its
        thread instead of two, in the writer's turn; inside a request's transaction, whose is
        SQLite's one writer, it joins that)."""
        if self.is_sqlite:
            request = current_request.get()
            if request is not None and request.database is self:
                return await self.transaction(work)  # its one writer is the request's
            # One statement commits on its own: no BEGIN and COMMIT hand-offs around it.
            return await _standalone(self.engine, work, turn=self.writer)
        # The request's own connection when free (a lookup before any unit): no pool waited for
        if lease.free(self.engine) or self._apart_idle is None:
            return await _standalone(self.engine, work)
        idle, engine = self._apart_idle, self._apart_engine
        return await _standalone(engine, work, source=lambda: lease.waiting_in(idle, engine))

    def request_lease(self) -> contextlib.AbstractAsyncContextManager[None]:
        return lease.held(self.engine, self._idle)  # one connection a request (db.lease)

    let_go = staticmethod(lease.let_go)

    @contextlib.asynccontextmanager
    async def request_transaction(
        self, on_begin: Callable[[AsyncConnection], Awaitable[None]], *, key: bytes | None = None
    ) -> AsyncIterator[RequestTransaction]:
        """Make every ``transaction`` (and ``read``) inside this block, in this task, share one
        transaction that only the block's owner commits; it is begun by the first unit of work,
        which first calls ``on_begin`` (the idempotency claim's read). ``key`` is the hash of
        the idempotency key the transaction claims as it begins. Left uncommitted, it rolls
        back."""
        request = RequestTransaction(self, on_begin, key)
        token = current_request.set(request)
        try:
            yield request
        finally:
            current_request.reset(token)
            await request.close()

    async def begin_request(self) -> None:
        """Begin this task's keyed request transaction now, claiming its key, before anything
        is counted apart from it: a retry already answered is replayed (``Replay``) for free."""
        request = current_request.get()
        if request and request.database is self and not (request.conn or request.failed):
            await retrying(request.begin, 1)  # a database out of reach is a 503, as in a unit

    async def after_request(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` (a statement apart, which must not raise) once this task's keyed
        request transaction has ended, or now if there is none. On PostgreSQL it then runs on
        the request's own connection instead of one of the apart pool's; SQLite's apart
        statements join the request's transaction (its one writer), so they run now."""
        request = current_request.get()
        if self.is_sqlite or request is None or request.database is not self or not request.conn:
            await action()
            return
        request.after(action)

    def request_failed(self) -> bool:
        """Whether this task's request transaction failed: it can only roll back now, and its
        request must not answer as if its work were done."""
        request = current_request.get()
        return request is not None and request.database is self and request.failed

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` that only reads; it sees one consistent snapshot and writes nothing."""
        request = current_request.get()
        if request is not None and request.database is self and request.conn is not None:
            return await work(request.conn)  # read this request's own uncommitted writes
        with reachable():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    return await work(conn)

    async def lookup(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` that is one read statement (a token on every request). A single
        statement is its own snapshot, so on PostgreSQL it runs in autocommit: no ``BEGIN`` and
        ``ROLLBACK`` round trips around it; on SQLite too (no hand-offs to its thread for them),
        and what SQLAlchemy would begin is a read-only ``BEGIN``."""
        return await _standalone(self.engine, work, read_only=self.is_sqlite)

    async def _once(
        self, work: Callable[[AsyncConnection], Awaitable[T]], engine: AsyncEngine
    ) -> T:
        # The connection first, then SQLite's writer's turn (``tender.db.lease`` says why).
        async with lease.connection(engine) as conn, self.writer():
            result = await run_unit(conn, await conn.begin(), work)
        crash_point("unit_committed")
        return result

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[None]:
        """SQLite's one writer: this process's queue, then the other processes' ``flock``."""
        if not self.is_sqlite:
            yield
            return
        async with turn(self._sqlite_writer, self._writer_lock, self.wait_limit):
            yield

    async def dispose(self) -> None:
        await self._idle.close()
        if self._apart_idle is not None:
            await self._apart_idle.close()
        await self.engine.dispose()
        if self._apart_engine is not self.engine:
            await self._apart_engine.dispose()


async def _standalone(
    engine: AsyncEngine,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    read_only: bool = False,
    turn: Callable[[], contextlib.AbstractAsyncContextManager[None]] = contextlib.nullcontext,
    source: Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]] | None = None,
) -> T:
    """``work`` on a connection of ``engine`` (the request's own if free) with no transaction
    around it, retried like one: its ``direct`` statements each stand alone (no ``BEGIN`` and
    ``COMMIT`` round trips); any other statement begins a transaction (``read_only``: one that
    only reads), committed when ``work`` returns and rolled back if it raises. ``turn`` is
    taken once the connection is (SQLite's writer's, for a write); ``source`` lends the
    connection instead of ``lease.connection``."""
    connect = source or (lambda: lease.connection(engine))

    async def once() -> T:
        async with connect() as conn, turn():
            if read_only:
                conn = await conn.execution_options(**{READ_ONLY: True})
            try:
                result = await work(conn)
            except BaseException:
                if conn.in_transaction() and not conn.invalidated:
                    await conn.rollback()
                raise
            finally:  # a leased connection goes on to the request's units, which write
                if read_only and not conn.invalidated:
                    await conn.execution_options(**{READ_ONLY: False})
            if conn.in_transaction():
                await conn.commit()
            return result

    return await retrying(once, 8)
