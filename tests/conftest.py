"""Test databases: every database test runs on SQLite and on PostgreSQL.

Each xdist worker migrates one SQLite file and one fresh PostgreSQL database (created here and
dropped at the end), and every test starts from empty tables. Under CI=true a PostgreSQL that
cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from tender.db.engine import Database
from tender.db.migrate import upgrade
from tender.db.models import Base
from tender.domain.codes import Hasher
from tender.domain.policy import LedgerPolicy
from tender.services.ledger import Ledger

PG_ADMIN_URL = os.environ.get(
    "TENDER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_KEY = b"tender-test-secret-key-0123456789abcdef"
IN_CI = os.environ.get("CI") == "true"


class FakeClock:
    """A clock tests move by hand, so expiry and lockout need no sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _pg_reachable() -> bool:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def create_pg_database() -> str:
    """A new, empty database; returns its SQLAlchemy URL."""
    if not await _pg_reachable():
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests may not skip)")
        pytest.skip(message)
    name = f"tender_test_{_worker()}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def pg_deadlocks(url: str) -> int:
    """Deadlocks PostgreSQL has detected in the database of ``url`` so far. A deadlock is
    retried (``tender.db.retries``), so a race test that ends well may still have had one: the
    tests that promise none compare this before and after. A backend may keep its count until
    it ends, so this waits (a few seconds at most) for the database's connections to end: the
    races close theirs before it is read."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for _ in range(100):
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
            )
            if not busy:
                break
            await asyncio.sleep(0.05)
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        found = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name
        )
    finally:
        await conn.close()
    return int(found or 0)


Retries = Callable[[], list[str]]


@pytest.fixture
def db_retries(caplog: pytest.LogCaptureFixture) -> Retries:
    """What ``tender.db.retries`` logged so far in the test: a race that ends well may still
    have deadlocked or failed to serialise and been run again, which the tests promising
    neither assert away."""
    caplog.set_level(logging.INFO, logger="tender.db.retries")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "tender.db.retries"]


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tender")


_migrated: dict[str, Database] = {}

POSTGRESQL_ONLY = pytest.mark.parametrize("migrated_db", ["postgresql"], indirect=True)
"""For a database test that means nothing on SQLite (a server to restart, a statement to
interrupt): it runs on PostgreSQL alone, instead of passing on SQLite without running."""


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def migrated_db(request: pytest.FixtureRequest, tmp_root: Path) -> AsyncIterator[Database]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_root / 'tender.db'}"
    else:
        url = await create_pg_database()
    database = Database(url, pool_size=20)
    await upgrade(database.engine)
    yield database
    await database.dispose()
    if kind == "postgresql":
        await drop_pg_database(url)


async def clean(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # DELETE, not TRUNCATE: a test leaves a handful of rows, and TRUNCATE's catalog locks cost
    # ~160 ms per call on PostgreSQL against ~1 ms here.
    async with database.engine.begin() as conn:
        for table in tables:
            await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def db(migrated_db: Database) -> AsyncIterator[Database]:
    await clean(migrated_db)
    yield migrated_db
    if not migrated_db.is_sqlite:
        # Connections a test opened are closed, not kept idle in the pools until the session
        # ends: two workers' idle ones beside a racing test went over PostgreSQL's 100.
        await migrated_db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> Hasher:
    return Hasher(TEST_KEY)


@pytest.fixture
def ledger(hasher: Hasher, clock: FakeClock) -> Ledger:
    return Ledger(hasher, policy=LedgerPolicy(), clock=clock)


@pytest.fixture
def racing_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests that race many connections of their own run one at a time across the xdist
    workers: two at once went over PostgreSQL's 100 connections. An ``xdist_group`` mark does
    not keep them on one worker with pytest 9, so they take a lock file all workers share."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's base lies in the run's own
    with (root / "postgres-races.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
