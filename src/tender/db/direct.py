"""The hot paths' prebuilt statements, run on the driver's connection directly.

A statement through SQLAlchemy's execution layer costs about 170 Python calls on top of the
driver's own 76: cache key, execution context, greenlet hop, cursor adapter, result metadata.
A card lookup, a balance check and a redemption run only prebuilt statements (module
constants), so their SQL, the order of their parameters, their bind and result conversions
can be worked out once per statement and parameter names (``tender.db.statement_plans``),
and each call is just asyncpg's ``fetch`` with the arguments in order (asyncpg prepares and
caches the statement per connection).

What stays SQLAlchemy's: the connection, its pool and transaction. A statement run here joins
the connection's transaction if one is begun, begun in the driver as SQLAlchemy's adapter would
have begun it, so ``commit`` and ``rollback`` cover it as any other; on a connection with no
transaction begun it stands alone and commits on its own (where SQLAlchemy would have begun
one): a lookup before a unit of work needs no ``BEGIN`` and ``COMMIT``. Its errors are raised as
SQLAlchemy's ``DBAPIError`` with the driver's SQLSTATE, as retries and conflicts expect, and a
lost connection is invalidated.

On SQLite the same plans run on ``tender.db.sqlite_driver``'s connection (in autocommit mode:
SQLAlchemy's ``BEGIN`` is tender's own), in one hand-off to its thread each: inside a
transaction they join it, outside one they stand alone, as on PostgreSQL. The rows a unit
queued for several tables, or statements that follow each other (``execute_in_turn``), go out
in one hand-off. For statements this cannot run (Python-side column defaults, expanding ``IN``
lists), ``execute`` is ``AsyncConnection.execute``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert

from tender.db.sqlite_driver import OneHopConnection
from tender.db.statement_plans import DirectResult, Params, Plan, plan


async def execute(
    conn: AsyncConnection, statement: Executable, params: Params | None = None
) -> DirectResult | Any:
    """``conn.execute(statement, params)``, directly on the driver."""
    params = params or {}
    sync = conn.sync_connection
    assert sync is not None
    found = _plan_on(sync, statement, params)
    if found is None:
        return await conn.execute(statement, params)
    adapter = await _begun(sync)
    arguments = found.arguments(params)
    if _watched(sync):
        _announce(sync, found.sql, arguments, many=False)
    driver = adapter._connection
    if sync.dialect.name == "sqlite":  # a ``OneHopConnection``, as ``_plan_on`` saw
        try:
            rows, rowcount = await driver.fetch(found.sql, arguments, writes=found.writes)
        except Exception as error:
            await _raise(conn, adapter, found.sql, arguments, error)
        return DirectResult([found.row(r) for r in rows], rowcount)
    try:
        asof = sync.dialect._invalidate_schema_cache_asof  # type: ignore[attr-defined]
        prepared, _ = await adapter._prepare(found.sql, asof)
        records = await prepared.fetch(*arguments)
        status = prepared.get_statusmsg()
    except Exception as error:
        await _raise(conn, adapter, found.sql, arguments, error)
    except BaseException:
        await _abandon(conn, adapter)
        raise
    return DirectResult([found.row(r) for r in records], status)


async def execute_in_turn(
    conn: AsyncConnection, statements: Sequence[tuple[Executable, Params]]
) -> list[DirectResult | Any]:
    """``execute`` for each statement in order, their results in order; on SQLite all in one
    hand-off to the thread, when every one of them can run directly."""
    sync = conn.sync_connection
    assert sync is not None
    plans = [_plan_on(sync, statement, params) for statement, params in statements]
    if sync.dialect.name != "sqlite" or None in plans:
        return [await execute(conn, statement, params) for statement, params in statements]
    adapter = await _begun(sync)
    driver: OneHopConnection = adapter._connection
    runs = [
        (found.sql, found.arguments(params))
        for found, (_, params) in zip(plans, statements, strict=True)
        if found is not None
    ]
    writes = any(found is not None and found.writes for found in plans)
    if _watched(sync):
        for sql, arguments in runs:
            _announce(sync, sql, arguments, many=False)
    try:
        outcomes = await driver.fetch_each(runs, writes=writes)
    except Exception as error:
        await _raise(conn, adapter, "; ".join(sql for sql, _ in runs), runs, error)
    return [
        DirectResult([found.row(r) for r in rows], rowcount)
        for found, (rows, rowcount) in zip(plans, outcomes, strict=True)
        if found is not None
    ]


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Params]
) -> None:
    """``conn.execute(statement, rows)`` for rows of the same names (an ``executemany``)."""
    sync = conn.sync_connection
    assert sync is not None
    found = _plan_on(sync, statement, rows[0]) if rows else None
    if found is None:
        await conn.execute(statement, list(rows))
        return
    adapter = await _begun(sync)
    arguments = [found.arguments(row) for row in rows]
    if _watched(sync):
        _announce(sync, found.sql, arguments, many=True)
    driver = adapter._connection
    sqlite = sync.dialect.name == "sqlite"  # a ``OneHopConnection``, as ``_plan_on`` saw
    try:
        if sqlite:
            await driver.write_many([(found.sql, arguments)])
        else:
            await driver.executemany(found.sql, arguments)
    except Exception as error:
        await _raise(conn, adapter, found.sql, arguments, error)
    except BaseException:
        if not sqlite:
            await _abandon(conn, adapter)
        raise


async def execute_batches(
    conn: AsyncConnection, batches: Sequence[tuple[Insert, Sequence[Params]]]
) -> None:
    """``execute_many`` for each batch in order; on SQLite all in one hand-off."""
    sync = conn.sync_connection
    assert sync is not None
    plans = [_plan_on(sync, statement, rows[0]) if rows else None for statement, rows in batches]
    if sync.dialect.name != "sqlite" or len(batches) < 2 or None in plans:
        for statement, rows in batches:
            await execute_many(conn, statement, rows)
        return
    adapter = await _begun(sync)
    driver = adapter._connection
    assert isinstance(driver, OneHopConnection)
    writes = [
        (found.sql, [found.arguments(row) for row in rows])
        for found, (_, rows) in zip(plans, batches, strict=True)
        if found is not None
    ]
    if _watched(sync):
        for sql, arguments in writes:
            _announce(sync, sql, arguments, many=True)
    try:
        await driver.write_many(writes)
    except Exception as error:
        await _raise(conn, adapter, "; ".join(sql for sql, _ in writes), writes, error)


def _plan_on(sync: Connection, statement: Executable, params: Params) -> Plan | None:
    """The plan for running ``statement`` directly, or ``None`` where SQLAlchemy runs it (a
    statement this cannot run, or a driver this does not know)."""
    dialect = sync.dialect
    if dialect.name == "sqlite":
        if not _one_hop(sync):
            return None
    elif dialect.name != "postgresql":
        return None
    return plan(statement, frozenset(params), dialect)


def _one_hop(sync: Connection) -> bool:
    return isinstance(sync.connection.dbapi_connection._connection, OneHopConnection)  # type: ignore[union-attr]


async def _begun(sync: Connection) -> Any:
    """The connection's driver adapter, its transaction begun if SQLAlchemy's is (the adapter
    begins lazily, before its first statement, which may be this one). With no transaction
    begun on the connection, the statement stands alone: it commits on its own."""
    adapter: Any = sync.connection.dbapi_connection
    if sync.dialect.name == "sqlite":
        return adapter  # SQLAlchemy's ``begin`` event began it (``begin`` below)
    if adapter._transaction is None and sync.in_transaction():
        await adapter._start_transaction()  # nothing in autocommit
    return adapter


async def begin_with(conn: AsyncConnection, statements: Sequence[str]) -> None:
    """Begin the transaction SQLAlchemy has begun on ``conn`` (PostgreSQL, before any statement
    of it ran) with ``statements`` sent in the same round trip as its ``BEGIN``: statements
    with nothing to bind and no rows to read, such as a key's claim and a savepoint. The
    driver gets the ``BEGIN`` the adapter would have sent; the adapter keeps a transaction
    that commits and rolls back as asyncpg's would (``_Begun``)."""
    sync = conn.sync_connection
    assert sync is not None
    assert sync.dialect.name == "postgresql"
    assert sync.in_transaction(), "SQLAlchemy's begin comes first"
    adapter: Any = sync.connection.dbapi_connection
    assert adapter._transaction is None, "the transaction already began"
    driver = adapter._connection
    script = " ".join([_begin_sql(adapter), *(f"{statement};" for statement in statements)])
    if _watched(sync):
        _announce(sync, script, (), many=False)
    # Kept before the round trip: whatever of the script ran, the adapter's rollback ends it.
    adapter._transaction = _Begun(driver)
    try:
        await driver.execute(script)
    except Exception as error:
        await _raise(conn, adapter, script, (), error)
    except BaseException:
        await _abandon(conn, adapter)
        raise


class _Begun:
    """A transaction begun by ``begin_with``, as SQLAlchemy's asyncpg adapter uses asyncpg's
    own (it only ever commits or rolls it back)."""

    __slots__ = ("_driver",)

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT;")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK;")


_ISOLATION = {
    "read_committed": " ISOLATION LEVEL READ COMMITTED",
    "read_uncommitted": " ISOLATION LEVEL READ UNCOMMITTED",
    "repeatable_read": " ISOLATION LEVEL REPEATABLE READ",
    "serializable": " ISOLATION LEVEL SERIALIZABLE",
}


def _begin_sql(adapter: Any) -> str:
    """The ``BEGIN`` asyncpg's ``Transaction.start`` sends for the adapter's settings."""
    assert adapter.isolation_level != "autocommit", "nothing to begin in autocommit"
    sql = "BEGIN" + _ISOLATION.get(adapter.isolation_level or "", "")
    if adapter.readonly:
        sql += " READ ONLY"
    if adapter.deferrable:
        sql += " DEFERRABLE"
    return sql + ";"


def begin(sync: Connection, sql: str) -> None:
    """SQLite's ``BEGIN`` (or ``BEGIN IMMEDIATE``), from SQLAlchemy's ``begin`` event: sent by
    the driver with the transaction's first statement (``OneHopConnection.begin_later``), where
    ``exec_driver_sql`` costs a hand-off of its own and about 120 Python calls more."""
    driver = sync.connection.dbapi_connection._connection  # type: ignore[union-attr]
    if not isinstance(driver, OneHopConnection):
        sync.exec_driver_sql(sql)
        return
    if _watched(sync):
        _announce(sync, sql, (), many=False)
    driver.begin_later(sql)


def _watched(sync: Connection) -> bool:
    """Whether anyone counts or logs statements (the first test is free, the second a call)."""
    return (sync._has_events or sync.engine._has_events) and bool(
        sync.dispatch.before_cursor_execute
    )


def _announce(sync: Connection, sql: str, arguments: Any, *, many: bool) -> None:
    """Tell the engine's ``before_cursor_execute`` listeners, as SQLAlchemy would: statement
    counters and logs see these statements too (there is no cursor or context to give them)."""
    sync.dispatch.before_cursor_execute(sync, None, sql, arguments, None, many)


async def _abandon(conn: AsyncConnection, adapter: Any) -> None:
    """A statement interrupted (a cancelled task) leaves the driver mid-conversation: the
    connection is closed and invalidated, as SQLAlchemy does, so that nobody uses it again."""
    adapter._connection.terminate()
    with contextlib.suppress(Exception):
        await conn.invalidate()


async def _raise(
    conn: AsyncConnection, adapter: Any, sql: str, arguments: Any, error: Exception
) -> None:
    """Raise ``error`` as SQLAlchemy would have: translated by the adapter, wrapped in
    ``DBAPIError``; the connection invalidated if the driver lost it."""
    try:
        adapter._handle_exception(error)
    except Exception as translated:
        dbapi_error = translated
    else:  # pragma: no cover - the adapter always raises
        dbapi_error = error
    driver = adapter._connection
    if not isinstance(driver, OneHopConnection) and driver.is_closed():
        await conn.invalidate(dbapi_error)
    raise DBAPIError.instance(
        sql, arguments, dbapi_error, type(dbapi_error), connection_invalidated=conn.invalidated
    ) from error
