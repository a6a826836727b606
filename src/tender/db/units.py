"""Units of work: one transaction (or savepoint) whose queued rows are written before it
commits and whose kept writes survive its rollback; and the request transaction that a keyed
request's units share, so its changes and its idempotency record commit together."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct, kept, lease, pending
from tender.db.idempotency_store import claiming
from tender.db.retries import is_retryable
from tender.domain.errors import DomainError
from tender.faults import crash_point

if TYPE_CHECKING:
    from tender.db.engine import Database

T = TypeVar("T")


class UnitTransaction(Protocol):
    """What a unit of work ends: a transaction, or a savepoint of the request's."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


_SAVEPOINT_SQL = "SAVEPOINT tender_unit"
_SAVEPOINT = text(_SAVEPOINT_SQL)
_UNDO_UNIT = text("ROLLBACK TO SAVEPOINT tender_unit")


class UnitSavepoint:
    """A unit's savepoint in a keyed request's transaction, set and undone by prebuilt
    statements on the driver (``tender.db.direct``), and never released: the request's
    ``COMMIT`` takes it with the rest, so a unit that succeeds costs one statement for its
    savepoint instead of two, and none of SQLAlchemy's nested-transaction bookkeeping (on
    SQLite, where the write lock is held by then, no hand-off to the connection's thread
    either). The request's units run one after another, and ``ROLLBACK TO`` a name undoes to
    the latest savepoint of that name, the failing unit's."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    @classmethod
    async def set(cls, conn: AsyncConnection) -> UnitSavepoint:
        await direct.execute(conn, _SAVEPOINT)
        return cls(conn)

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        await direct.execute(self.conn, _UNDO_UNIT)


async def run_unit(
    conn: AsyncConnection, tx: UnitTransaction, work: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """Run ``work`` as the whole of ``tx`` (a transaction, or a savepoint of the request's): its
    queued rows are written before ``tx`` commits. Any failure, a ``DomainError`` too, undoes
    it whole; then its kept writes are made again on their own, still on this connection and
    so still under the locks it holds (SQLite's one writer)."""
    queued = pending.install(conn)
    kept_writes: list[kept.Write] = []
    kept.install(conn, kept_writes)
    try:
        result = await work(conn)
        crash_point("unit_ran")
        await queued.flush(conn)
        crash_point("unit_flushed")
    except BaseException:
        await tx.rollback()
        uninstall_queues(conn)  # the kept writes go out on their own, never queued behind the unit
        await kept.write_again(conn, kept_writes)
        raise
    finally:
        uninstall_queues(conn)
    await tx.commit()
    return result


def uninstall_queues(conn: AsyncConnection) -> None:
    """Drop the unit's queues, unless its connection was invalidated (a statement interrupted
    by a cancellation): the queues went with it, and touching ``info`` would try to reconnect
    and raise, hiding the cancellation from whoever awaits the unit."""
    if conn.invalidated:
        return
    pending.uninstall(conn)
    kept.uninstall(conn)


current_request: ContextVar[RequestTransaction | None] = ContextVar(
    "tender_request_tx", default=None
)
"""The request transaction the running task's units join (``Database.request_transaction``)."""


class RequestTransaction:
    """One database transaction for a whole request, so its changes and its idempotency record
    commit together.

    Each unit of work runs under a savepoint: a ``DomainError`` undoes that unit only (and
    makes its kept writes again, such as a counted wrong PIN), so what earlier units did (a
    counted attempt) still commits with the error's answer. The claim taken by ``on_begin``
    lives exactly as long as the transaction: a crash, a killed connection or a rollback frees
    it at once, and a request whose transaction the server ended can no longer commit
    anything, so there is no lease to wait out and nothing to fence.
    """

    def __init__(
        self,
        database: Database,
        on_begin: Callable[[AsyncConnection], Awaitable[None]],
        key: bytes | None = None,
    ) -> None:
        self.database = database
        self.conn: AsyncConnection | None = None
        self.failed = False
        """A unit failed unexpectedly: the transaction is only good for a rollback."""
        self._on_begin = on_begin
        self._key = key
        self._savepoint_set = False
        """The first unit's savepoint went out with the ``BEGIN``."""
        self._exit = contextlib.AsyncExitStack()
        self._after: list[Callable[[], Awaitable[None]]] = []

    async def begin(self) -> AsyncConnection:
        try:
            conn = await self._exit.enter_async_context(lease.connection(self.database.engine))
            await self._exit.enter_async_context(self.database.writer())  # then, as ``_once``
            await conn.begin()
            self.conn = conn
            if self._key is not None and not self.database.is_sqlite:
                # One round trip for the BEGIN, the key's claim and the first unit's savepoint,
                # in that order (undoing the savepoint would release a claim taken after it).
                # Until the first unit, the transaction only reads: the savepoint set now
                # undoes what one set right before the unit would.
                await direct.begin_with(conn, [claiming(self._key), _SAVEPOINT_SQL])
                self._savepoint_set = True
            await self._on_begin(conn)
        except BaseException:
            await self.close()  # a refused claim or a lost connection: begin again, or not
            raise
        return conn

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self.failed:
            raise RuntimeError("the request's transaction already failed")
        conn = self.conn or await self.begin()
        try:
            preset, self._savepoint_set = self._savepoint_set, False
            savepoint = UnitSavepoint(conn) if preset else await UnitSavepoint.set(conn)
            return await run_unit(conn, savepoint, work)
        except DomainError:
            raise
        except DBAPIError as error:
            self.failed = not is_retryable(error)  # else the caller retries the unit
            raise
        except BaseException:
            self.failed = True
            raise

    @property
    def active(self) -> bool:
        """Begun and still good to commit."""
        return self.conn is not None and not self.failed

    async def commit(self, last: Callable[[AsyncConnection], Awaitable[None]]) -> None:
        """Run ``last`` (the idempotency record) and commit, all or nothing."""
        assert self.conn is not None
        assert not self.failed
        try:
            await last(self.conn)
            crash_point("before_commit")
            await self.conn.commit()
        except BaseException:
            self.failed = True
            raise

    def after(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once the transaction has ended, however it ended, on the connection
        it hands back; ``action`` must not raise."""
        self._after.append(action)

    async def close(self) -> None:
        """Roll back whatever was not committed and hand the connection and locks back; then
        run what was to come after."""
        try:
            if self.conn is not None and self.conn.in_transaction():
                await self.conn.rollback()
        finally:
            self.conn = None
            self._savepoint_set = False  # it ended with the transaction
            try:
                await self._exit.aclose()
            finally:
                after, self._after = self._after, []
                for action in after:
                    await action()
