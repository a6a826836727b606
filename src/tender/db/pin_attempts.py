"""PIN attempts counted apart from the caller's transaction (``tender.domain.ports.PinAttempts``).

Both databases count an attempt with one conditional update before its PIN is compared, and
keep the card's row locked until the attempt is settled; they differ in which transaction that
is, because SQLite has one writer:

- PostgreSQL: a short transaction on a connection of its own (``Database.transaction(…,
  apart=True)``), committed as soon as the PIN is compared. A racing attempt waits for the row
  and then re-checks the window against the committed count. The caller's transaction is never
  committed for it, and it holds the row for the comparison only, not until the caller ends.
- SQLite: the caller's transaction is the only writer, so the attempt is counted in it, and no
  other attempt can run until it ends. A wrong PIN's count is also handed to ``kept.keep``: if
  the caller's work is rolled back, the count is written again in its own transaction right
  after the rollback, while the writer lock is still held.

A transaction that dies after comparing (a crash) takes its attempt with it, but no answer
derived from that comparison ever left the process.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import direct, kept
from tender.db.engine import Database
from tender.db.ledger_statements import CLAIM_PIN_ATTEMPT, RETURN_PIN_ATTEMPT
from tender.db.rate_limit_store import SqlLimitCounters
from tender.domain.ports import PinAttempt


async def claim(conn: AsyncConnection, attempt: PinAttempt) -> int | None:
    """Count one attempt: the window's count afterwards, or ``None`` when it is full. On
    PostgreSQL a racing claim waits for this row's lock and then re-checks the condition
    against the committed count; on SQLite writers are serial. Either way no more than
    ``max_attempts`` claims fit in one window."""
    params = {
        "card_id": attempt.card_id,
        "max_attempts": attempt.max_attempts,
        "now": attempt.now,
        "window_ends": attempt.window_ends,
    }
    attempts = (await direct.execute(conn, CLAIM_PIN_ATTEMPT, params)).scalar()
    return None if attempts is None else int(attempts)


async def settle(conn: AsyncConnection, attempt: PinAttempt, matches: Callable[[], bool]) -> bool:
    """Claim, compare, and give a right PIN's attempt back, all in ``conn``'s transaction; a
    wrong PIN's claim is kept should that transaction roll back."""
    if await claim(conn, attempt) is None:
        return False
    if not matches():
        kept.keep(conn, lambda own: claim(own, attempt))
        return False
    await direct.execute(conn, RETURN_PIN_ATTEMPT, {"card_id": attempt.card_id})
    return True


class SqlPinAttempts:
    """Bound to one unit of work: its database, and its connection for SQLite's sake."""

    def __init__(self, database: Database, conn: AsyncConnection) -> None:
        self.database = database
        self.conn = conn

    async def compare(self, attempt: PinAttempt, matches: Callable[[], bool]) -> bool:
        if self.database.is_sqlite:  # the one writer is the caller's transaction
            return await settle(self.conn, attempt, matches)
        return await self.database.transaction(
            lambda conn: settle(conn, attempt, matches), apart=True
        )

    async def count_nothing(self) -> None:
        """What counting an attempt writes and waits for, with nothing counted: a row written
        and committed where an attempt's would be. The row must change (SQLite writes nothing
        for a row set to what it holds, and PostgreSQL's commit of no change waits for less),
        so it counts these PINs per minute in ``rate_limits``, where the purge forgets it.

        PostgreSQL: in a transaction apart, as an attempt, committed as it is (waiting for the
        flush, unlike the budgets' counters); the count is spread over ``SHARDS`` rows, so
        that racing PINs wait for one another's row no more than racing attempts on one card
        do. SQLite: in the caller's transaction and, kept, once more after its rollback, as a
        wrong PIN's count is; there is one writer there, so the row locks nobody out."""
        if self.database.is_sqlite:
            await _count_unmatched(self.conn)
            kept.keep(self.conn, _count_unmatched)
            return
        await self.database.transaction(_count_unmatched, apart=True)


UNMATCHED_PINS = "cards/pins-compared-with-nothing"
"""The counters of the PINs sent for unknown codes or locked cards, a minute each."""
SHARDS = 16
WINDOW_SECONDS = 60


async def _count_unmatched(conn: AsyncConnection) -> None:
    counters = SqlLimitCounters(conn, time.time)
    shard = f"{UNMATCHED_PINS}/{secrets.randbelow(SHARDS)}"
    await counters.claim([(shard, WINDOW_SECONDS)], flushed=True)
