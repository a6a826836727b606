"""Writes that must outlive the rollback of the unit of work that made them: a wrong PIN's count.

A unit of work is all or nothing, and a refused one is rolled back whole: a wrong PIN refuses
the call that carried it, yet its attempt must stay counted. So the store that counts it also
hands ``keep`` the same write: if the unit is rolled back, the boundary (``engine._unit``)
makes the write again in a transaction of its own (a savepoint in a request's transaction),
right after the rollback and before the unit's connection and locks are handed back. On SQLite
that is still under the process's one writer lock, so no other writer can run in between. A
unit that commits drops its kept writes: they were committed with it.

Nothing here ever commits the caller's work: only the kept writes themselves are made again.
A bare connection (a test, a migration) keeps nothing; its owner decides what commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

KEY = "tender.kept_writes"

Write = Callable[[AsyncConnection], Awaitable[object]]


def install(conn: AsyncConnection, writes: list[Write]) -> None:
    """Collect in ``writes`` what the unit of work now starting on ``conn`` keeps."""
    conn.info[KEY] = writes


def uninstall(conn: AsyncConnection) -> None:
    conn.info.pop(KEY, None)


def keep(conn: AsyncConnection, write: Write) -> None:
    """Make ``write`` again, on its own, should the unit of work running on ``conn`` roll back."""
    writes: list[Write] | None = conn.info.get(KEY)
    if writes is not None:
        writes.append(write)


async def write_again(conn: AsyncConnection, writes: list[Write]) -> None:
    """After the unit's rollback: its kept writes in a transaction of their own, committed."""
    if not writes:
        return
    own = conn.begin_nested() if conn.in_transaction() else conn.begin()
    async with own:
        for write in writes:
            await write(conn)
