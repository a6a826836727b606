"""One SQLite writer at a time across processes, handed over without SQLite's busy sleeps.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5 … up to 100 ms between tries, while the process
holding the lock takes it again for its next request at once: with two workers some requests
waited a second. Writers queue instead on an advisory ``flock`` of a file beside the database;
the kernel wakes a waiter as soon as the lock is free, so the lock passes from worker to worker
in microseconds. Inside a process, writers already queue on an ``asyncio.Lock`` first, so at
most one thread per process waits here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: SQLite's busy timeout alone
    fcntl = None  # type: ignore[assignment]


class WriterLock:
    """Each acquisition opens its own descriptor: ``flock`` belongs to an open file, so two
    acquisitions never share one, and closing the descriptor is what releases the lock."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}.writer-lock"

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if fcntl is None:
            yield
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                acquiring = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
                try:
                    await asyncio.shield(acquiring)
                except BaseException:
                    # Cancelled while the thread waits: it will still get the lock, and must
                    # give it back as soon as it does.
                    acquiring.add_done_callback(_closer(fd))
                    fd = -1
                    raise
            yield
        finally:
            if fd >= 0:
                os.close(fd)


def _closer(fd: int) -> Callable[[object], None]:
    def close(_: object) -> None:
        os.close(fd)

    return close
