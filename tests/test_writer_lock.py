"""The cross-process SQLite writer lock: exclusive, handed over on release, and a waiter that
is cancelled never keeps it."""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tender.db.writer_lock import WriterLock, turn


async def test_a_second_writer_waits_until_the_first_releases(tmp_path: Path) -> None:
    first, second = WriterLock(str(tmp_path / "db")), WriterLock(str(tmp_path / "db"))
    order: list[str] = []
    async with first.held():
        waiter = asyncio.create_task(_take(second, order))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        order.append("first releases")
    await asyncio.wait_for(waiter, 5)
    assert order == ["first releases", "second holds"]


async def _take(lock: WriterLock, order: list[str]) -> None:
    async with lock.held():
        order.append("second holds")


async def test_a_cancelled_waiter_gives_the_lock_back(tmp_path: Path) -> None:
    lock = WriterLock(str(tmp_path / "db"))
    async with lock.held():
        waiter = asyncio.create_task(_take(lock, []))
        await asyncio.sleep(0.05)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    # the cancelled waiter's thread got the lock when it was freed, and let go of it again
    async with asyncio.timeout(5):
        async with lock.held():
            pass


async def test_a_writer_waits_no_longer_than_its_limit(tmp_path: Path) -> None:
    """Past it, the pool's error (answered 503); the lock is given back all the same once the
    thread that went on waiting gets it."""
    lock = WriterLock(str(tmp_path / "db"))
    async with lock.held():
        with pytest.raises(PoolTimeout):
            async with lock.held(0.05):
                raise AssertionError("held twice")
    async with asyncio.timeout(5):
        async with lock.held():
            pass


async def test_a_request_waits_for_its_turn_to_write_no_longer_than_the_limit(
    tmp_path: Path,
) -> None:
    """This process's queue and the other processes' lock, each within the limit."""
    queue = asyncio.Lock()
    lock = WriterLock(str(tmp_path / "db"))
    async with turn(queue, lock, 0.05):
        with pytest.raises(PoolTimeout):  # behind this process's writer
            async with turn(queue, lock, 0.05):
                raise AssertionError("two writers")
        with pytest.raises(PoolTimeout):  # behind another process's writer (its own queue)
            async with turn(asyncio.Lock(), lock, 0.05):
                raise AssertionError("two writers")
    async with turn(queue, lock, 0.05):
        pass  # given back both times


def _hold_in_child(path: str, seconds: float, ready: object) -> None:
    async def hold() -> None:
        async with WriterLock(path).held():
            ready.set()  # type: ignore[attr-defined]
            await asyncio.sleep(seconds)

    asyncio.run(hold())


async def test_writers_of_two_processes_exclude_each_other(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_hold_in_child, args=(path, 0.5, ready))
    child.start()
    try:
        assert await asyncio.to_thread(ready.wait, 30)
        started = time.monotonic()
        async with WriterLock(path).held():
            waited = time.monotonic() - started
        assert waited > 0.2
    finally:
        child.join(30)
    assert child.exitcode == 0


def test_a_waiter_given_up_holds_up_no_exit(tmp_path: Path) -> None:
    """A worker stopping (SIGTERM) cancels a request still queued behind another process's
    writer, then ``asyncio.run`` ends its loop. The thread that waits for the lock went on
    waiting, and one of the loop's executor kept the process up until the other writer let go;
    a daemon does not. The lock it gets once the loop is gone it gives back at once."""
    path = str(tmp_path / "db")
    other = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process's writer (an open file of its own)

    async def give_up() -> None:
        waiter = asyncio.create_task(_take(WriterLock(path), []))
        deadline = time.monotonic() + 5
        while not _queued_for(f"{path}.writer-lock"):
            assert time.monotonic() < deadline, "the waiter never queued for the lock"
            await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)

    loop = threading.Thread(target=asyncio.run, args=(give_up(),))
    try:
        loop.start()
        loop.join(5)
        assert not loop.is_alive(), "asyncio.run waited for the thread that waits for the lock"
    finally:
        os.close(other)
        loop.join(5)

    async def take_again() -> None:
        async with asyncio.timeout(5), WriterLock(path).held():
            pass

    asyncio.run(take_again())


def _queued_for(path: str) -> bool:
    """Whether someone waits for ``path``'s ``flock`` (``->`` in ``/proc/locks``)."""
    inode = f":{os.stat(path).st_ino} "
    return any(
        " -> FLOCK " in line and inode in line
        for line in Path("/proc/locks").read_text().splitlines()
    )
