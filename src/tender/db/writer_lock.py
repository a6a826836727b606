"""One SQLite writer at a time across processes, handed over without SQLite's busy sleeps.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5 … up to 100 ms between tries, while the process
holding the lock takes it again for its next request at once: with two workers some requests
waited a second. Writers queue instead on an advisory ``flock`` of a file beside the database;
the kernel wakes a waiter as soon as the lock is free, so the lock passes from worker to worker
in microseconds. Inside a process, writers already queue on an ``asyncio.Lock`` first, so
at most one thread per process waits here. It is a daemon thread of tender's own: a worker
stopping (SIGTERM) cancels a request still waiting for its turn, and ``asyncio.run`` waited for
the loop's executor thread that went on waiting, until the other process's writer let go.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from queue import SimpleQueue

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
                acquiring = _wait_for(fd)
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


Wait = tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]


class _Waiting:
    """Daemon threads that wait for ``flock``: as many as waits are in progress at once, each
    kept for the next, so that no wait queues behind another, as in the loop's executor."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.waits: SimpleQueue[Wait] = SimpleQueue()
        self.idle = threading.Semaphore(0)

    def start(self, wait: Wait) -> None:
        if not self.idle.acquire(blocking=False):
            threading.Thread(target=self._serve, daemon=True, name="tender-writer-lock").start()
        self.waits.put(wait)

    def _serve(self) -> None:
        while True:
            fd, loop, acquiring = self.waits.get()
            error: OSError | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as failed:
                error = failed
            try:
                loop.call_soon_threadsafe(_settle, acquiring, error)
            except RuntimeError:  # the loop is closed: nobody is left to use the lock or free it
                os.close(fd)
            self.idle.release()


_waiting: _Waiting | None = None
"""This process's threads (a forked child starts its own)."""


def _wait_for(fd: int) -> asyncio.Future[None]:
    """``fd``'s exclusive ``flock``, waited for on a daemon thread: the future is done once the
    lock is held (or could not be taken)."""
    global _waiting
    if _waiting is None or _waiting.pid != os.getpid():
        _waiting = _Waiting()
    loop = asyncio.get_running_loop()
    acquiring: asyncio.Future[None] = loop.create_future()
    _waiting.start((fd, loop, acquiring))
    return acquiring


def _settle(acquiring: asyncio.Future[None], error: OSError | None) -> None:
    if error is None:
        acquiring.set_result(None)
    else:
        acquiring.set_exception(error)


def _closer(fd: int) -> Callable[[object], None]:
    def close(_: object) -> None:
        os.close(fd)

    return close
