"""Rate-limit counters in tender's own database: every worker and machine shares them, and no
other service is needed. ``limits`` brings the rate notation (``10/hour;30/day``); the counting
is here, bound to the connection it is given and to tender's clock, so tests can move time.

Windows are fixed and aligned to the clock (a minute window starts on the minute). A counter's
row says when its window ends; a later window resets it. Rows whose window has ended may be
deleted at any time (``tender.db.purge.forget_rate_limits``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from tender.db import direct
from tender.db.models import RateLimitRow
from tender.domain.upkeep import Counted

limits_table: Table = RateLimitRow.__table__  # type: ignore[assignment]

Now = Callable[[], float]
"""Unix seconds, from tender's clock."""


DIALECTS = ("postgresql", "sqlite")


def _claim_statement(give_back: bool, *, postgres: bool, flushed: bool = False) -> Executable:
    """Count one more (or, giving back, one less) in several counters with one statement. The
    rows are written in key order, so two claims that share counters (every lookup of a
    client shares its failure budget) lock them in the same order and never deadlock. A
    give-back only takes from the window it claimed in and never goes below zero.

    On PostgreSQL both commit without waiting for their flush (``synchronous_commit`` off for
    the statement's own transaction; tender's other transactions still wait). A client's
    failure counter is a row every lookup of the client writes twice: held through a flush
    each time, it queued the client's lookups behind one another (redemptions at 8
    connections fell from about 320 to 256 a second in one sitting), and without the flush
    the row is held for the statement alone. What this costs: a crash of PostgreSQL itself
    (not of tender) can lose the counts of the last moment before it (at most three
    ``wal_writer_delay``s, 0.6 s by default): a few lookups more for a guesser who happened to
    be counted then, once per crash; a lost give-back leaves a failure counted that did not
    happen. The PIN lockout, money and idempotency records are not touched by this.

    ``flushed`` claims leave the transaction's own setting (a counter whose commit must be
    waited for as another write's is: ``tender.db.pin_attempts``).

    SQLite takes the counters as one JSON text (it has no arrays), and its writers take turns
    anyway: the statement commits on its own, one hand-off to its thread and one sync."""
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
    if postgres:
        unflushed = "true" if flushed else "set_config('synchronous_commit', 'off', true) <> ''"
        rows = (
            " FROM unnest(CAST(:keys AS TEXT[]), CAST(:starts AS BIGINT[]),"
            " CAST(:ends AS BIGINT[])) AS c(key, window_start, expires_at)"
            f" WHERE {unflushed} ORDER BY c.key"
        )
    else:
        rows = (
            " FROM (SELECT json_extract(value, '$[0]') AS key,"
            " json_extract(value, '$[1]') AS window_start,"
            " json_extract(value, '$[2]') AS expires_at"
            " FROM json_each(:rows)) AS c WHERE true ORDER BY c.key"
        )
    sql = (
        "INSERT INTO rate_limits AS r (key, window_start, count, expires_at)"
        f" SELECT c.key, c.window_start, {fresh}, c.expires_at{rows}"
        f" ON CONFLICT (key) DO UPDATE SET count = {count}, window_start = {window},"
        f" expires_at = {ends}"
        ' RETURNING key, "count", window_start, expires_at'
    )
    return text(sql).columns(
        limits_table.c.key,
        limits_table.c.count,
        limits_table.c.window_start,
        limits_table.c.expires_at,
    )


_CLAIM = {name: _claim_statement(False, postgres=name == "postgresql") for name in DIALECTS}
_GIVE_BACK = {name: _claim_statement(True, postgres=name == "postgresql") for name in DIALECTS}
_FLUSHED_CLAIM = {
    name: _claim_statement(False, postgres=name == "postgresql", flushed=True) for name in DIALECTS
}


Window = tuple[str, int, int]
"""A counter's key, and the start and end of the window it counts in (Unix seconds)."""


def _counters(dialect: str, windows: Sequence[Window]) -> dict[str, object]:
    """Counters as the statement takes them: PostgreSQL's ``unnest`` an array per column,
    SQLite's ``json_each`` one JSON text."""
    if dialect == "postgresql":
        keys, starts, ends = zip(*windows, strict=True)
        return {"keys": list(keys), "starts": list(starts), "ends": list(ends)}
    return {"rows": json.dumps(windows)}


class SqlLimitCounters:
    """Fixed-window counters (``tender.domain.upkeep.LimitCounters``) on one connection."""

    def __init__(self, conn: AsyncConnection, now: Now) -> None:
        self.conn = conn
        self.now = now

    def _window(self, key: str, expiry: int) -> Window:
        now = int(self.now())
        window_start = now - now % expiry
        return key, window_start, window_start + expiry

    async def claim(
        self, windows: Sequence[tuple[str, int]], *, flushed: bool = False
    ) -> dict[str, Counted]:
        """Count one more in each counter (a key and its window's length in seconds) at once:
        what each holds now, this claim included. ``flushed``: committed as the transaction's
        other writes are, not without waiting for the flush."""
        counters = [self._window(key, expiry) for key, expiry in sorted(dict(windows).items())]
        dialect = self.conn.dialect.name
        statement = (_FLUSHED_CLAIM if flushed else _CLAIM)[dialect]
        found = await direct.execute(self.conn, statement, _counters(dialect, counters))
        return {key: Counted(count, start, ends) for key, count, start, ends in found}

    async def give_back(self, claimed: Mapping[str, Counted]) -> None:
        """Take back one claim from each counter, if its window is still the one claimed in."""
        if not claimed:
            return
        counters = [(key, c.window_start, c.expires_at) for key, c in sorted(claimed.items())]
        dialect = self.conn.dialect.name
        await direct.execute(self.conn, _GIVE_BACK[dialect], _counters(dialect, counters))
