"""What the edges (the API, the CLI) need from storage besides the use cases' stores: the
rate-limit counters, the schema's revision and the purge of rows that outlived their use.

The runtime hands these out (``Runtime.limit_counters``, ``Runtime.schema``,
``Runtime.purge``), so the API and the CLI never import the database layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Counted:
    """A rate-limit counter as a claim left it: its count and its window, in Unix seconds."""

    count: int
    window_start: int
    expires_at: int


class LimitCounters(Protocol):
    """Fixed-window counters every worker shares, on the connection they were given (a
    statement of their own on PostgreSQL, the caller's transaction on SQLite)."""

    async def claim(self, windows: Sequence[tuple[str, int]]) -> dict[str, Counted]:
        """Count one more in each counter (a key and its window's length in seconds) at once,
        in one statement where the database allows: what each holds now, this claim
        included."""
        ...

    async def give_back(self, claimed: Mapping[str, Counted]) -> None:
        """Take one claim back from each counter, if its window is still the one claimed in."""
        ...


class UpgradeRefused(Exception):
    """An upgrade that would not do what it says: to a revision behind the database's, or one
    this code does not ship."""


class Schema(Protocol):
    """The database schema's revision against the one this code expects."""

    def head(self) -> str | None:
        """The newest revision this code ships."""
        ...

    async def current(self) -> str | None:
        """The revision the database is at, ``None`` if it was never migrated; raises if the
        database cannot be reached."""
        ...

    def problem(self, current: str | None) -> str | None:
        """What to do about a database at ``current``, ``None`` when it is at ``head()``."""
        ...

    async def upgrade(self, revision: str = "head") -> str:
        """Migrates up to ``revision``, never back; answers the revision reached."""
        ...


class Purge(Protocol):
    """Deletes, in batches, rows that outlived their use (one open transaction)."""

    async def forget_expired(self, now: datetime, *, session_grace: timedelta) -> bool:
        """One batch of each kind; true while a table may hold more."""
        ...
