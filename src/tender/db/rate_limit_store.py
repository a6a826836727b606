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
from typing import Any

from sqlalchemy import Boolean, Table, column, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnClause

from tender.db import direct
from tender.db.models import RateLimitRow
from tender.domain.upkeep import Counted, LookupCounts

limits_table: Table = RateLimitRow.__table__  # type: ignore[assignment]

Now = Callable[[], float]
"""Unix seconds, from tender's clock."""


DIALECTS = ("postgresql", "sqlite")


def _counting(give_back: bool, amount: str = "1") -> tuple[str, str, str, str]:
    """The upsert's count, window and end for a counter row ``r`` met again by ``excluded``
    (claiming counts ``amount`` more, giving back one less), and a new row's count."""
    if give_back:
        same = "r.window_start = excluded.window_start"
        count = f"CASE WHEN {same} AND r.count > 0 THEN r.count - 1 ELSE r.count END"
        return count, "r.window_start", "r.expires_at", "0"
    current = "r.window_start >= excluded.window_start"
    count = f"CASE WHEN {current} THEN r.count + {amount} ELSE {amount} END"
    window = f"CASE WHEN {current} THEN r.window_start ELSE excluded.window_start END"
    ends = f"CASE WHEN {current} THEN r.expires_at ELSE excluded.expires_at END"
    return count, window, ends, amount


_UPSERT = (
    "INSERT INTO rate_limits AS r (key, window_start, count, expires_at)"
    " SELECT c.key, c.window_start, {fresh}, c.expires_at{rows}"
    " ON CONFLICT (key) DO UPDATE SET count = {count}, window_start = {window},"
    " expires_at = {ends}"
)
_UNFLUSHED = "set_config('synchronous_commit', 'off', true) <> ''"
_PG_ROWS = (
    " FROM unnest(CAST(:keys AS TEXT[]), CAST(:starts AS BIGINT[]),"
    " CAST(:ends AS BIGINT[])) AS c(key, window_start, expires_at)"
)
_SQLITE_ROWS = (
    " FROM (SELECT json_extract(value, '$[0]') AS key,"
    " json_extract(value, '$[1]') AS window_start,"
    " json_extract(value, '$[2]') AS expires_at{more}"
    " FROM json_each(:rows)) AS c"
)
_COLUMNS = ' RETURNING key, "count", window_start, expires_at'


def _typed(sql: str, *more: ColumnClause[Any]) -> Executable:
    return text(sql).columns(
        limits_table.c.key,
        limits_table.c.count,
        limits_table.c.window_start,
        limits_table.c.expires_at,
        *more,
    )


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
    count, window, ends, fresh = _counting(give_back)
    if postgres:
        unflushed = "true" if flushed else _UNFLUSHED
        rows = f"{_PG_ROWS} WHERE {unflushed} ORDER BY c.key"
    else:
        rows = _SQLITE_ROWS.format(more="") + " WHERE true ORDER BY c.key"
    upsert = _UPSERT.format(fresh=fresh, rows=rows, count=count, window=window, ends=ends)
    return _typed(upsert + _COLUMNS)


_CERTAIN = (
    "EXISTS (SELECT 1 FROM cards WHERE code_hash = CAST(:card AS {blob}) AND pin_hash IS NULL)"
)
"""Whether the code a lookup is of names a card of tender's ledger that has no PIN: such a
lookup cannot fail (``Credentials.authenticate`` returns the card whatever PIN came)."""


def _lookup_statement(*, postgres: bool) -> Executable:
    """A card lookup's counters in one statement: its attempt claimed, and its failure budgets
    claimed too, unless the card it is of certainly authenticates, in which case they are
    only read (``claimed`` false), with nothing to give back afterwards.

    The check and the claims are one statement, so a lookup that can fail is claimed before
    its comparison exactly as ``_claim_statement`` claims (the same key order, the same
    unflushed commit on PostgreSQL); one that cannot writes a single row instead of
    claiming its failure budgets and giving them back in a second statement (one row per
    budget and window each time, the client's shared row among them).

    PostgreSQL claims in a data-modifying ``WITH`` and reads the budgets it left alone
    beside it (a counter in an older window reads as zero). SQLite allows no ``WITH`` that
    writes: there a failure budget left alone is upserted with nothing added, which reads it
    and renews its window in the same write; its writers take turns anyway."""
    if postgres:
        count, window, ends, fresh = _counting(False)
        rows = (
            " FROM unnest(CAST(:keys AS TEXT[]), CAST(:starts AS BIGINT[]),"
            " CAST(:ends AS BIGINT[]), CAST(:failures AS BOOLEAN[]))"
            " AS c(key, window_start, expires_at, failure), certain"
            f" WHERE (NOT c.failure OR NOT certain.found) AND {_UNFLUSHED} ORDER BY c.key"
        )
        upsert = _UPSERT.format(fresh=fresh, rows=rows, count=count, window=window, ends=ends)
        sql = (
            f"WITH certain AS (SELECT {_CERTAIN.format(blob='BYTEA')} AS found),"
            f" claimed AS ({upsert}{_COLUMNS})"
            ' SELECT key, "count", window_start, expires_at, NOT certain.found AS claimed'
            " FROM claimed, certain"
            " UNION ALL"
            " SELECT r.key, CASE WHEN r.window_start >= c.window_start THEN r.count ELSE 0 END,"
            " c.window_start, c.expires_at, false AS claimed"
            " FROM unnest(CAST(:keys AS TEXT[]), CAST(:starts AS BIGINT[]),"
            " CAST(:ends AS BIGINT[]), CAST(:failures AS BOOLEAN[]))"
            " AS c(key, window_start, expires_at, failure)"
            " JOIN rate_limits AS r ON r.key = c.key, certain"
            " WHERE c.failure AND certain.found"
        )
    else:
        certain = _CERTAIN.format(blob="BLOB")
        amount = f"CASE WHEN c.failure AND {certain} THEN 0 ELSE 1 END"
        count, window, ends, _ = _counting(False, "excluded.count")
        more = ", json_extract(value, '$[3]') AS failure"
        rows = _SQLITE_ROWS.format(more=more) + " WHERE true ORDER BY c.key"
        upsert = _UPSERT.format(fresh=amount, rows=rows, count=count, window=window, ends=ends)
        sql = f"{upsert}{_COLUMNS}, NOT {certain} AS claimed"
    return _typed(sql, column("claimed", Boolean))


_CLAIM = {name: _claim_statement(False, postgres=name == "postgresql") for name in DIALECTS}
_GIVE_BACK = {name: _claim_statement(True, postgres=name == "postgresql") for name in DIALECTS}
_FLUSHED_CLAIM = {
    name: _claim_statement(False, postgres=name == "postgresql", flushed=True) for name in DIALECTS
}
_LOOKUP = {name: _lookup_statement(postgres=name == "postgresql") for name in DIALECTS}


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

    async def claim_lookup(
        self,
        attempts: Sequence[tuple[str, int]],
        failures: Sequence[tuple[str, int]],
        card: bytes | None,
    ) -> LookupCounts:
        """Count a card lookup's attempt, and claim its failure budgets unless ``card`` (the
        keyed hash of its code) names a card without a PIN: see ``_lookup_statement``."""
        failing = dict(failures)
        windows = {**dict(attempts), **failing}
        counters = [self._window(key, expiry) for key, expiry in sorted(windows.items())]
        dialect = self.conn.dialect.name
        if dialect == "postgresql":
            values: dict[str, object] = {
                **_counters(dialect, counters),
                "failures": [key in failing for key, _, _ in counters],
            }
        else:
            values = {"rows": json.dumps([(*w, w[0] in failing) for w in counters])}
        found = await direct.execute(self.conn, _LOOKUP[dialect], {**values, "card": card})
        counted: dict[str, Counted] = {}
        claimed = False  # no row: nothing was claimed
        for key, count, start, ends, made in found:
            counted[key] = Counted(count, start, ends)
            claimed = bool(made)  # every row tells the same: were the failures claimed
        for key, start, ends in counters:  # a budget never counted reads as none spent
            counted.setdefault(key, Counted(0, start, ends))
        return LookupCounts(counted, claimed)

    async def give_back(self, claimed: Mapping[str, Counted]) -> None:
        """Take back one claim from each counter, if its window is still the one claimed in."""
        if not claimed:
            return
        counters = [(key, c.window_start, c.expires_at) for key, c in sorted(claimed.items())]
        dialect = self.conn.dialect.name
        await direct.execute(self.conn, _GIVE_BACK[dialect], _counters(dialect, counters))
