"""Idempotency keys in the database, so every worker and machine sees the same keys.

Rows hold only answers already given (sealed), written in the transaction of the change they
answer. A key being worked on has no row: its claim is a transaction-scoped lock.

Every keyed request (each redemption a shopper's page submits) runs the claim, the read and
the keep, so they cost as few round trips as they can: on PostgreSQL the claim goes out with
the transaction's ``BEGIN`` (``claiming``) and its outcome comes back with the read
(``claimed``); the read and the keep are prebuilt statements run on the driver
(``tender.db.direct``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from tender.db import direct
from tender.db.models import IdempotencyKeyRow
from tender.domain.idempotency import KEEP_FOR, IdempotencyKeyInUse, KeyRecord, KeyStatus

keys: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]

CLAIMED = "tender.key_claimed"
"""The setting, local to the transaction, in which ``claiming`` leaves whether it took the key."""
_KEPT_WHERE = (
    keys.c.scope_hash == bindparam("b_hash"),
    keys.c.status == KeyStatus.DONE.value,
    keys.c.expires_at > bindparam("b_now"),
)
_KEPT = select(keys.c.request_hash, keys.c.response_body, keys.c.expires_at).where(*_KEPT_WHERE)
_one = select(literal(1).label("one")).subquery("one")
_CLAIMED_AND_KEPT = select(
    func.current_setting(CLAIMED, true()),
    keys.c.request_hash,
    keys.c.response_body,
    keys.c.expires_at,
).select_from(_one.outerjoin(keys, and_(*_KEPT_WHERE)))
_KEPT_COLUMNS = (
    "request_hash",
    "status",
    "response_status",
    "response_headers",
    "response_body",
    "locked_until",
    "expires_at",
)


def _keep_statement(dialect: str) -> Executable:
    """Keep an answer, replacing an expired or left-over row under the same hash."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(keys).values(
        scope_hash=bindparam("b_hash"),
        request_hash=bindparam("b_request"),
        status=KeyStatus.DONE.value,
        response_status=None,
        response_headers=None,
        response_body=bindparam("b_body"),
        locked_until=bindparam("b_now"),
        expires_at=bindparam("b_expires"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["scope_hash"], set_={name: stmt.excluded[name] for name in _KEPT_COLUMNS}
    )


_KEEP = {name: _keep_statement(name) for name in ("postgresql", "sqlite")}


def claiming(scope_hash: bytes) -> str:
    """The claim of a key on PostgreSQL, sent with the ``BEGIN`` of the transaction it lasts
    for (``tender.db.direct.begin_with``): an advisory lock, released by commit, rollback or a
    dead connection, taken without waiting; whether it was taken is left in ``CLAIMED`` for
    ``SqlIdempotencyStore.claimed`` to read. It must come before the first unit's savepoint,
    whose undoing would release a lock taken after it. The key is an integer, formatted here:
    a statement sent with the ``BEGIN`` has nothing to bind."""
    lock = advisory_key(scope_hash)
    return f"SELECT set_config('{CLAIMED}', pg_try_advisory_xact_lock({lock:d})::text, true)"


def advisory_key(scope_hash: bytes) -> int:
    """A signed 64-bit lock id from the row's hash (a clash only makes a retry wait)."""
    return int.from_bytes(scope_hash[:8], "big", signed=True)


class SqlIdempotencyStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claimed(self, scope_hash: bytes, now: datetime) -> KeyRecord | None:
        """The answer kept under the key this transaction claimed as it began, unless it
        expired; ``IdempotencyKeyInUse`` if another transaction holds the key.

        PostgreSQL: the claim went out with the ``BEGIN`` (``claiming``), and its outcome
        comes back with this read, one statement after it: a statement sees what committed
        before it started, so the read must follow the lock, never share its statement (a
        retry whose first attempt committed in between would find no answer and run again).
        SQLite has one writer, and this transaction is it: nobody else can be working on the
        key.
        """
        params = {"b_hash": scope_hash, "b_now": now}
        if self.conn.dialect.name != "postgresql":
            found = await direct.execute(self.conn, _KEPT, params)
            return _record(found.first())
        found = await direct.execute(self.conn, _CLAIMED_AND_KEPT, params)
        row = found.first()
        assert row is not None  # one row always, with or without a kept answer
        claimed, *kept = row
        if claimed != "true":
            raise IdempotencyKeyInUse(field="Idempotency-Key")
        return None if kept[0] is None else _record(kept)

    async def keep(
        self, scope_hash: bytes, request_hash: bytes, sealed: bytes, now: datetime
    ) -> None:
        """Keep an answer; replaces an expired or left-over row under the same hash."""
        params = {
            "b_hash": scope_hash,
            "b_request": request_hash,
            "b_body": sealed,
            "b_now": now,
            "b_expires": now + KEEP_FOR,
        }
        await direct.execute(self.conn, _KEEP[self.conn.dialect.name], params)

    async def forget_expired(self, now: datetime) -> int:
        result = await self.conn.execute(delete(keys).where(keys.c.expires_at <= now))
        return int(result.rowcount)


def _record(row: Any) -> KeyRecord | None:
    if row is None:
        return None
    request_hash, sealed, expires_at = row
    return KeyRecord(bytes(request_hash), bytes(sealed), expires_at)
