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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from limits.aio.storage import Storage
from sqlalchemy import Table, bindparam, case, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct
from tender.db.models import RateLimitRow
from tender.domain.upkeep import Counted

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


def _claim_statement(give_back: bool) -> object:
    """PostgreSQL: count one more (or, giving back, one less) in several counters with one
    statement. The rows are written in key order, so two claims that share counters (every
    lookup of a client shares its failure budget) lock them in the same order and never
    deadlock. A give-back only takes from the window it claimed in and never goes below zero.

    Both commit without waiting for their flush (``synchronous_commit`` off for the
    statement's own transaction; tender's other transactions still wait). A client's failure
    counter is a row every lookup of the client writes twice: held through a flush each time,
    it queued the client's lookups behind one another (redemptions at 8 connections fell from
    about 320 to 256 a second in one sitting), and without the flush the row is held for the
    statement alone. What this
    costs: a crash of PostgreSQL itself (not of tender) can lose the counts of the last moment
    before it (at most three ``wal_writer_delay``s, 0.6 s by default): a few lookups more for a
    guesser who happened to be counted then, once per crash; a lost give-back leaves a
    failure counted that did not happen. The PIN lockout, money and idempotency records are
    not touched by this and stay durable."""
    if give_back:
        same = "r.window_start = excluded.window_start"
        count = f"CASE WHEN {same} AND r.count > 0 THEN r.count - 1 ELSE r.count END"
        window, ends = "r.window_start", "r.expires_at"
        fresh = "0"
    else:
        current = "r.window_start >= excluded.window_start"
        count = f"CASE WHEN {current} THEN r.count + 1 ELSE 1 END"
        window = f"CASE WHEN {current} THEN r.window_start ELSE excluded.window_start END"
        ends = f"CASE WHEN {current} THEN r.expires_at ELSE excluded.expires_at END"
        fresh = "1"
    sql = (
        "INSERT INTO rate_limits AS r (key, window_start, count, expires_at)"
        f" SELECT c.key, c.window_start, {fresh}, c.expires_at"
        " FROM unnest(CAST(:keys AS TEXT[]), CAST(:starts AS BIGINT[]), CAST(:ends AS BIGINT[]))"
        " AS c(key, window_start, expires_at)"
        " WHERE set_config('synchronous_commit', 'off', true) <> '' ORDER BY c.key"
        f" ON CONFLICT (key) DO UPDATE SET count = {count}, window_start = {window},"
        f" expires_at = {ends}"
        " RETURNING r.key, r.count, r.window_start, r.expires_at"
    )
    return text(sql).columns(
        limits_table.c.key,
        limits_table.c.count,
        limits_table.c.window_start,
        limits_table.c.expires_at,
    )


_CLAIM = _claim_statement(give_back=False)
_GIVE_BACK = _claim_statement(give_back=True)


def _give_back_one() -> object:
    """SQLite: one counter's give-back (its writers are serial, so the order is moot)."""
    return (
        update(limits_table)
        .where(
            limits_table.c.key == bindparam("b_key"),
            limits_table.c.window_start == bindparam("b_window_start"),
            limits_table.c.count > 0,
        )
        .values(count=limits_table.c.count - 1)
    )


_GIVE_BACK_ONE = _give_back_one()
_CLAIM_ONE = _upsert("sqlite").returning(  # type: ignore[attr-defined]
    limits_table.c.window_start, limits_table.c.expires_at
)
"""SQLite: one counter's claim, answering its count, window start and end."""


def _arrays(rows: Sequence[Mapping[str, object]]) -> dict[str, list[object]]:
    """Rows of counters as the arrays ``unnest`` takes, one per column."""
    return {
        "keys": [row["key"] for row in rows],
        "starts": [row["window_start"] for row in rows],
        "ends": [row["expires_at"] for row in rows],
    }


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

    async def claim(self, windows: Sequence[tuple[str, int]]) -> dict[str, Counted]:
        """Count one more in each counter (a key and its window's length in seconds) at once:
        what each holds now, this claim included."""
        rows = [self._window(key, expiry, 1) for key, expiry in sorted(dict(windows).items())]
        self._known.clear()
        if self.conn.dialect.name == "postgresql":
            found = await direct.execute(self.conn, _CLAIM, _arrays(rows))  # type: ignore[arg-type]
            return {key: Counted(count, start, ends) for key, count, start, ends in found}
        results = await direct.execute_in_turn(self.conn, [(_CLAIM_ONE, row) for row in rows])
        return {
            str(row["key"]): Counted(*result.all()[0])
            for row, result in zip(rows, results, strict=True)
        }

    async def give_back(self, claimed: Mapping[str, Counted]) -> None:
        """Take back one claim from each counter, if its window is still the one claimed in."""
        if not claimed:
            return
        self._known.clear()
        if self.conn.dialect.name == "postgresql":
            rows = [
                {"key": key, "window_start": counted.window_start, "expires_at": counted.expires_at}
                for key, counted in sorted(claimed.items())
            ]
            await direct.execute(self.conn, _GIVE_BACK, _arrays(rows))  # type: ignore[arg-type]
            return
        each = [
            (_GIVE_BACK_ONE, {"b_key": key, "b_window_start": counted.window_start})
            for key, counted in sorted(claimed.items())
        ]
        await direct.execute_in_turn(self.conn, each)  # type: ignore[arg-type]

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
