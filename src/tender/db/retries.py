"""Which database errors a unit of work is run again for, and how.

Deadlocks and serialization failures (CockroachDB's 40001) are retried whole, after a short
random wait that doubles each time; SQLite's "database is locked" too. A lock timeout on
PostgreSQL (a card held by another request for ``lock_timeout``) is answered as a conflict the
caller may retry, not retried here. A database that cannot be reached (refused, restarting, its
connections all taken, the connection lost, SQLite's file full or unreadable) is
``StoreUnavailable``, which callers answer with 503: not retried here, since a unit that lost
its connection while committing may have committed, and only the caller's idempotency key makes
sending it again safe. So are retries that all failed: the database stayed too busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tender.domain.errors import Conflict, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
LOCK_TIMEOUT_SQLSTATES = frozenset({"55P03"})
UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01"})
"""Shut down by an administrator or a crash, not yet accepting connections, too many of them;
the database gone or its role refused (dropped, renamed, a password rotated on one side only:
the operator's to fix, and nothing is wrong with the request, which works once they have);
and class ``08``, connection exceptions."""
SQLITE_UNUSABLE = ("database or disk is full", "unable to open database file", "disk I/O error")
"""SQLite's file cannot be written or opened now (its ``SQLITE_FULL``, ``CANTOPEN``, ``IOERR``)."""


def _sqlstate(error: DBAPIError) -> str | None:
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_retryable(error: DBAPIError) -> bool:
    if _sqlstate(error) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


def lock_timed_out(error: DBAPIError) -> bool:
    return _sqlstate(error) in LOCK_TIMEOUT_SQLSTATES


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached, rather than that something
    was wrong with what was asked of it."""
    if isinstance(error, OSError | PoolTimeout):  # refused, timed out, no connection free
        return True
    if not isinstance(error, DBAPIError):
        return False
    state = _sqlstate(error) or ""
    if error.connection_invalidated or state.startswith("08") or state in UNREACHABLE_SQLSTATES:
        return True
    return any(text in str(error.orig) for text in SQLITE_UNUSABLE)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Raise an error that says the database cannot be reached as ``StoreUnavailable``."""
    try:
        yield
    except (OSError, DBAPIError, PoolTimeout) as error:
        if unreachable(error):
            raise StoreUnavailable("the database cannot be reached") from error
        raise


async def retrying(attempt_once: Callable[[], Awaitable[T]], attempts: int) -> T:
    """``reachable`` spelled out: this wraps every unit and lookup, and a ``try`` costs
    nothing until something is raised, unlike a context manager."""
    for attempt in range(1, attempts + 1):
        try:
            return await attempt_once()
        except (OSError, PoolTimeout) as error:
            raise StoreUnavailable("the database cannot be reached") from error
        except DBAPIError as error:
            if _sqlstate(error) in LOCK_TIMEOUT_SQLSTATES:
                raise Conflict("the gift card is locked by another request; retry") from error
            if unreachable(error):
                raise StoreUnavailable("the database cannot be reached") from error
            if not is_retryable(error):
                raise
            if attempt == attempts:  # rolled back every time: nothing was done, try later
                raise StoreUnavailable("the database stayed too busy") from error
            log.info("retrying transaction after %s", type(error.orig).__name__)
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
