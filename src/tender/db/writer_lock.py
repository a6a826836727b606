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

from sqlalchemy.exc import TimeoutError as PoolTimeout

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
    async def held(self, wait_limit: float | None = None) -> AsyncIterator[None]:
        """The lock for the block, waited for at most ``wait_limit`` seconds (then the pool's
        ``TimeoutError``, as when no connection is free)."""
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
                    async with asyncio.timeout(wait_limit):
                        await asyncio.shield(acquiring)
                except BaseException as error:
                    # Cancelled (or out of time) while the thread waits: it will still get the
                    # lock, and must give it back as soon as it does.
                    acquiring.add_done_callback(_closer(fd))
                    fd = -1
                    if isinstance(error, TimeoutError):
                        raise PoolTimeout(f"no turn to write within {wait_limit} s") from error
                    raise
            yield
        finally:
            if fd >= 0:
                os.close(fd)


@asynccontextmanager
async def turn(
    queue: asyncio.Lock, lock: WriterLock | None, wait_limit: float
) -> AsyncIterator[None]:
    """SQLite's one writer: this process's ``queue``, then the other processes' ``lock`` (none
    for an in-memory database), each waited for at most ``wait_limit`` seconds, as long as for
    a connection: past it, 503 rather than a queue without end."""
    try:
        async with asyncio.timeout(wait_limit):
            await queue.acquire()
    except TimeoutError as error:
        raise PoolTimeout(f"no turn to write within {wait_limit} s") from error
    try:
        if lock is None:
            yield
            return
        async with lock.held(wait_limit):
            yield
    finally:
        queue.release()


def _closer(fd: int) -> Callable[[object], None]:
    def close(_: object) -> None:
        os.close(fd)

    return close
