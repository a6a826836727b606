"""Which database errors a unit of work is run again for, and how.

Deadlocks and serialization failures (CockroachDB's 40001) are retried whole, after a short
random wait that doubles each time; SQLite's "database is locked" too. A lock timeout on
PostgreSQL (a card held by another request for ``lock_timeout``) is answered as a conflict the
caller may retry, not retried here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from tender.domain.errors import Conflict

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
LOCK_TIMEOUT_SQLSTATES = frozenset({"55P03"})


def _sqlstate(error: DBAPIError) -> str | None:
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_retryable(error: DBAPIError) -> bool:
    if _sqlstate(error) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


async def retrying(attempt_once: Callable[[], Awaitable[T]], attempts: int) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await attempt_once()
        except DBAPIError as error:
            if _sqlstate(error) in LOCK_TIMEOUT_SQLSTATES:
                raise Conflict("the gift card is locked by another request; retry") from error
            if not is_retryable(error) or attempt == attempts:
                raise
            log.info("retrying transaction after %s", type(error.orig).__name__)
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
