"""What the edges (the API, the CLI) need from storage besides the use cases' stores: the
rate-limit counters, the schema's revision and the purge of rows that outlived their use.

The runtime hands these out (``Runtime.limit_counters``, ``Runtime.schema``,
``Runtime.purge``), so the API and the CLI never import the database layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol


class LimitCounters(Protocol):
    """Fixed-window counters every worker shares, bound to one open transaction: the storage
    of the ``limits`` library (whose strategies it is handed to), plus a read-ahead."""

    async def prefetch(self, keys: Sequence[str]) -> None:
        """Read several counters in one statement; later reads answer from memory."""
        ...

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...

    async def incr_and_prefetch(
        self, key: str, expiry: int, keys: Sequence[str], amount: int = 1
    ) -> int:
        """``incr`` then ``prefetch``, in one round trip where the database allows."""
        ...

    async def get(self, key: str) -> int: ...

    async def get_expiry(self, key: str) -> float: ...


class Schema(Protocol):
    """The database schema's revision against the one this code expects."""

    def head(self) -> str | None:
        """The newest revision this code ships."""
        ...

    async def current(self) -> str | None:
        """The revision the database is at, ``None`` if it was never migrated; raises if the
        database cannot be reached."""
        ...

    async def upgrade(self, revision: str = "head") -> None: ...


class Purge(Protocol):
    """Deletes, in batches, rows that outlived their use (one open transaction)."""

    async def forget_expired(self, now: datetime, *, session_grace: timedelta) -> bool:
        """One batch of each kind; true while a table may hold more."""
        ...
