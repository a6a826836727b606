"""Rate-limit counters in tender's own database, as a storage of the ``limits`` library.

``limits`` brings the rate notation (``10/hour;30/day``) and the strategies; its own storages
live in one process's memory or in Redis. This one keeps the counters in the ``rate_limits``
table, so every worker and machine shares them and no other service is needed. It is bound to
one open transaction (it never commits) and to tender's clock, so tests can move time.

Windows are fixed and aligned to the clock (a minute window starts on the minute). A counter's
row says when its window ends; a later window resets it. Rows whose window has ended may be
deleted at any time (``tender.db.purge.forget_rate_limits``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from limits.aio.storage import Storage
from sqlalchemy import String, Table, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct
from tender.db.models import RateLimitRow

limits_table: Table = RateLimitRow.__table__  # type: ignore[assignment]

Now = Callable[[], float]
"""Unix seconds, from tender's clock."""

_GET = select(limits_table.c.key, limits_table.c.count, limits_table.c.expires_at).where(
    limits_table.c.key.in_(bindparam("keys", expanding=True))
)
"""Counters by key alone: whether a window has ended is decided in ``_live``. Asked in SQL,
``expires_at > now`` made PostgreSQL's generic plan scan the ``expires_at`` index over every
live counter (one per session) to intersect it with the few keys asked for: the statement cost
its server ~0.2 ms of CPU, ten times the rest of a balance check's statements."""


def _upsert(dialect_name: str) -> object:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(limits_table).values(
        key=bindparam("key"),
        window_start=bindparam("window_start"),
        count=bindparam("amount"),
        expires_at=bindparam("expires_at"),
    )
    # A row of this window (or of a later one, written by a worker whose clock runs ahead)
    # counts on; a row of an earlier window starts again.
    current = limits_table.c.window_start >= bindparam("window_start")
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "count": case(
                (current, limits_table.c.count + bindparam("amount")), else_=stmt.excluded.count
            ),
            "window_start": case(
                (current, limits_table.c.window_start), else_=stmt.excluded.window_start
            ),
            "expires_at": case(
                (current, limits_table.c.expires_at), else_=stmt.excluded.expires_at
            ),
        },
    ).returning(limits_table.c.count)


_UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}


KEY_SLOTS = 8
"""Counters read along with a hit, at most: three failure budgets of two rates each by default
(code, client, address). More go through ``incr`` and ``prefetch``."""


_COLUMNS = (limits_table.c.key, limits_table.c.count, limits_table.c.expires_at)
_GET_SLOTS = select(*_COLUMNS).where(
    limits_table.c.key.in_([bindparam(f"key{n}", type_=String()) for n in range(KEY_SLOTS)])
)
"""SQLite: ``_GET`` with a fixed list of keys (unused slots ``NULL``), so that it has one text
and runs on the driver directly."""


def _upsert_and_read() -> object:
    """PostgreSQL: count one hit and read other counters in one statement (the keys differ,
    so the read never needs the hit's own snapshot).

    The other counters are read by one equality each, unused slots passed as ``NULL``: asked
    as ``key = ANY(:keys)``, PostgreSQL planned the read when the table was still empty, as a
    scan of it, and kept that plan as the table grew (a row per session): under concurrent
    writers the statement cost its server ~0.4 ms of CPU, against ~0.09 ms so."""
    hit = _upsert("postgresql").returning(  # type: ignore[attr-defined]
        limits_table.c.key, limits_table.c.expires_at
    )
    counted = hit.cte("counted")
    others = [
        select(*_COLUMNS).where(limits_table.c.key == bindparam(f"key{n}", type_=String()))
        for n in range(KEY_SLOTS)
    ]
    return select(counted.c.key, counted.c.count, counted.c.expires_at).union_all(*others)


_UPSERT_AND_READ = _upsert_and_read()


def _live(keys: Sequence[str], rows: Iterable[Any], now: int) -> dict[str, tuple[int, int]]:
    """Each key's count and window end; a key without a row, or whose window has ended,
    counts nothing until now."""
    known = dict.fromkeys(keys, (0, now))
    known.update({key: (count, expires) for key, count, expires in rows if expires > now})
    return known


class SqlLimitStorage(Storage):
    """Fixed-window counters for ``limits.aio.strategies.FixedWindowRateLimiter``."""

    STORAGE_SCHEME = None

    def __init__(self, conn: AsyncConnection, now: Now) -> None:
        super().__init__()
        self.conn = conn
        self.now = now
        self._known: dict[str, tuple[int, int]] = {}
        """Counters read ahead by ``prefetch``: key -> (count, expires_at)."""

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    async def prefetch(self, keys: Sequence[str]) -> None:
        """Read several counters in one statement; ``get`` then answers from memory. A request
        checks three or more budgets before every lookup: one round trip instead of six."""
        rows = await self.conn.execute(_GET, {"keys": list(keys)})
        self._known = _live(keys, rows, int(self.now()))

    async def _read(self, key: str) -> tuple[int, int]:
        if key not in self._known:
            await self.prefetch([key])
        return self._known[key]

    def _window(self, key: str, expiry: int, amount: int) -> dict[str, object]:
        now = int(self.now())
        window_start = now - now % expiry
        return {
            "key": key,
            "window_start": window_start,
            "amount": amount,
            "expires_at": window_start + expiry,
        }

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        stmt = _UPSERT[self.conn.dialect.name]
        params = self._window(key, expiry, amount)
        count = int((await direct.execute(self.conn, stmt, params)).scalar_one())  # type: ignore[arg-type]
        self._known.pop(key, None)
        return count

    async def incr_and_prefetch(
        self, key: str, expiry: int, keys: Sequence[str], amount: int = 1
    ) -> int:
        """``incr`` then ``prefetch``: on PostgreSQL in one statement (``key``'s own count and
        expiry are then known too), on SQLite in one hand-off to its thread."""
        if key in keys or len(keys) > KEY_SLOTS:
            count = await self.incr(key, expiry, amount)
            await self.prefetch(keys)
            return count
        params = self._window(key, expiry, amount)
        slots = {f"key{n}": keys[n] if n < len(keys) else None for n in range(KEY_SLOTS)}
        if self.conn.dialect.name != "postgresql":
            counted, rows = await direct.execute_in_turn(
                self.conn,
                [(_UPSERT["sqlite"], params), (_GET_SLOTS, slots)],  # type: ignore[list-item]
            )
            self._known = _live(keys, rows, int(self.now()))
            return int(counted.scalar_one())
        rows = await direct.execute(self.conn, _UPSERT_AND_READ, {**params, **slots})  # type: ignore[arg-type]
        self._known = _live(keys, rows, int(self.now()))
        return self._known[key][0]

    async def get(self, key: str) -> int:
        return (await self._read(key))[0]

    async def get_expiry(self, key: str) -> float:
        return float((await self._read(key))[1])

    async def check(self) -> bool:
        await self.conn.execute(select(1))
        return True

    async def reset(self) -> int | None:
        result = await self.conn.execute(delete(limits_table))
        self._known.clear()
        return result.rowcount

    async def clear(self, key: str) -> None:
        await self.conn.execute(delete(limits_table).where(limits_table.c.key == key))
        self._known.pop(key, None)
