"""Rows that outlive their use, deleted by the background sweep: rate-limit counters whose
window is over, browser sessions long expired and the origins they allowed. Without this the
tables grow with every shopper and every guessed code, for ever.

Each statement deletes at most ``BATCH`` rows, so a sweep holds its locks briefly however far
behind it is; any worker may run it (two deleting the same rows is harmless). On PostgreSQL it
passes over rows a request holds (``SKIP LOCKED``; the next sweep takes them): it never waits
for a request, so it can never be one side of a deadlock (card lookups lock several counters
at once, in key order; the purge, in whatever order it finds them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.models import BrowserOriginRow, CartRow, OrderRow, RateLimitRow, SessionRow

limits: Table = RateLimitRow.__table__  # type: ignore[assignment]
sessions: Table = SessionRow.__table__  # type: ignore[assignment]
origins: Table = BrowserOriginRow.__table__  # type: ignore[assignment]
orders: Table = OrderRow.__table__  # type: ignore[assignment]
carts: Table = CartRow.__table__  # type: ignore[assignment]

BATCH = 1000


async def _delete_batch(
    conn: AsyncConnection,
    table: Table,
    key: str,
    condition: object,
    *,
    locking: tuple[Table, object] | None = None,
) -> int:
    """At most ``BATCH`` rows that meet ``condition``, which the ``DELETE`` checks again itself:
    a row another transaction renewed while the delete waited for it (a counter's new window,
    an origin a new session allows) is checked again by PostgreSQL as it now is, and kept;
    the subquery alone would have deleted it by its key. ``locking``: another table joined
    on its condition, whose row each deleted one must lock too (a row locked elsewhere is
    passed over)."""
    column = table.c[key]
    doomed = select(column).where(condition)  # type: ignore[arg-type]
    locked = [table]
    if locking is not None:
        other, on = locking
        doomed = doomed.join_from(table, other, on)  # type: ignore[arg-type]
        locked.append(other)
    doomed = doomed.limit(BATCH).with_for_update(skip_locked=True, of=locked)
    statement = delete(table).where(column.in_(doomed.scalar_subquery()), condition)  # type: ignore[arg-type]
    result = await conn.execute(statement)
    return int(result.rowcount)


async def forget_rate_limits(conn: AsyncConnection, now: datetime) -> int:
    """Counters whose window has ended: each row says when (windows run from a minute to a
    day), and a counter past its end counts nothing, so deleting it changes no decision."""
    ended = limits.c.expires_at <= int(now.timestamp())
    return await _delete_batch(conn, limits, "key", ended)


PROMISE_KEPT = timedelta(days=30)
"""How long past its grace a session keeps the order number it promised a cart that was never
placed: the merchant's server may still place the cart under that number meanwhile; after it,
the number is free again and the cart, if ever placed, gets a number of its own."""


async def forget_sessions(conn: AsyncConnection, now: datetime, *, grace: timedelta) -> int:
    """Sessions expired more than ``grace`` ago (the order payment window: the redirect page of
    an order placed from the session still finds its return URL meanwhile). A session that
    promised its cart a ``futureOrderNumber`` is kept while the cart has no order, for
    ``PROMISE_KEPT`` at most. Two statements, each along a partial index of its own: only the
    few sessions that promised a number are checked against the orders."""
    ended = sessions.c.expires_at <= now - grace
    unpromised = and_(sessions.c.future_order_number.is_(None), ended)
    deleted = await _delete_batch(conn, sessions, "token_hash", unpromised)
    ordered = exists(select(orders.c.id).where(orders.c.cart_id == sessions.c.cart_id))
    promise_over = or_(ordered, sessions.c.expires_at <= now - grace - PROMISE_KEPT)
    promised = and_(sessions.c.future_order_number.is_not(None), ended, promise_over)
    # Under its cart's lock too, passing over carts being placed: placing reads the promise
    # under that lock, and must not see it forgotten (and the number promised to another cart)
    # before it commits its order under it.
    cart = (carts, carts.c.id == sessions.c.cart_id)
    forgotten = await _delete_batch(conn, sessions, "token_hash", promised, locking=cart)
    return max(deleted, forgotten)


async def forget_origins(conn: AsyncConnection, now: datetime) -> int:
    """Each origin row lives as long as the longest-lived session that allowed it."""
    return await _delete_batch(conn, origins, "origin", origins.c.expires_at <= now)


async def forget_expired(conn: AsyncConnection, now: datetime, *, session_grace: timedelta) -> bool:
    """One batch of each; true while a table may hold more (the sweep then runs again)."""
    counts = [
        await forget_rate_limits(conn, now),
        await forget_sessions(conn, now, grace=session_grace),
        await forget_origins(conn, now),
    ]
    return max(counts) >= BATCH


class SqlPurge:
    """``tender.domain.upkeep.Purge`` in one open transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def forget_expired(self, now: datetime, *, session_grace: timedelta) -> bool:
        return await forget_expired(self.conn, now, session_grace=session_grace)
