"""Apply and inspect Alembic migrations from inside the process (no alembic.ini needed).

Alembic is imported by an upgrade alone. Which revisions this code ships is read from the
migration files' own ``revision`` and ``down_revision`` lines: every worker and every CLI
command checks the database's schema against them, and importing Alembic (with Mako and
Pygments) for that was a tenth of a worker's start. ``test_migrations`` holds that reading to
Alembic's own.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import re
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tender.db.engine import Database
from tender.db.retries import is_retryable, lock_timed_out, reachable
from tender.domain.upkeep import UpgradeRefused

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = "tender.migrations"
ASSIGNED = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
"""A migration's ``revision = "0010"`` and ``down_revision = "0009"`` (annotated or not)."""


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "tender:migrations")
    return config


UPGRADE_ATTEMPTS = 3
"""All of an upgrade is one transaction: PostgreSQL cancelling it for a deadlock or a lock it
waited for too long (live workers touching the tables it alters) leaves the database as it
was, so it is simply run again."""


@functools.cache
def revisions() -> tuple[str, ...]:
    """This code's revisions, oldest first (the history is one line), read from the package
    once: it cannot change."""
    parent_of: dict[str, str | None] = {}
    for entry in (files(MIGRATIONS) / "versions").iterdir():
        if entry.name.endswith(".py") and not entry.name.startswith("__"):  # as Alembic reads
            names = dict(ASSIGNED.findall(entry.read_text(encoding="utf-8")))
            parent_of[ast.literal_eval(names["revision"])] = ast.literal_eval(
                names["down_revision"]
            )
    child_of = {parent: child for child, parent in parent_of.items()}
    line: list[str] = []
    current = child_of.get(None)
    while current is not None:
        line.append(current)
        current = child_of.get(current)
    if len(line) != len(parent_of) or len(child_of) != len(parent_of):
        raise RuntimeError(f"the migrations are not one line: {parent_of}")
    return tuple(line)


def schema_problem(current: str | None, head: str | None) -> str | None:
    """What an operator does about a database that is not at this release's revision."""
    if current == head:
        return None
    if current is not None and current not in revisions():
        return (
            f"schema at {current} is newer than this release ({head}): run the release that "
            "migrated it"
        )
    if current is None:
        return (
            f"the database was never migrated, this release expects {head}: run tender db upgrade"
        )
    return f"schema at {current}, this release expects {head}: run tender db upgrade"


def check_target(current: str | None, target: str) -> str:
    """The revision an upgrade from ``current`` to ``target`` ends at, or why it may not run.
    Alembic's own upgrade to an older revision changes nothing and says nothing."""
    known = revisions()
    wanted = known[-1] if target == "head" else target
    if wanted not in known:
        raise UpgradeRefused(f"this release has no revision {target}: it knows {', '.join(known)}")
    if current is not None and current not in known:
        raise UpgradeRefused(
            f"the database is at {current}, newer than this release ({known[-1]}): run the "
            "release that migrated it"
        )
    if current is not None and known.index(wanted) < known.index(current):
        raise UpgradeRefused(
            f"the database is at {current}, past {wanted}: an upgrade never goes back"
        )
    return wanted


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; answers the revision the database is at."""

    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    for attempt in range(1, UPGRADE_ATTEMPTS + 1):
        try:
            async with engine.begin() as conn:
                wanted = check_target(await revision_of(conn), revision)
                await conn.run_sync(run)
            return wanted
        except DBAPIError as error:
            if attempt == UPGRADE_ATTEMPTS or not (is_retryable(error) or lock_timed_out(error)):
                raise
            await asyncio.sleep(attempt)
    raise AssertionError("unreachable")


def head_revision() -> str | None:
    """The newest migration this code ships."""
    known = revisions()
    return known[-1] if known else None


async def revision_of(conn: AsyncConnection) -> str | None:
    """The schema revision a database is at, ``None`` if it was never migrated. A plain query
    rather than Alembic's context: readiness probes call this every few seconds."""
    if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
        return None
    row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    return str(row[0]) if row else None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await revision_of(conn)


class SqlSchema:
    """``tender.domain.upkeep.Schema`` over one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def head(self) -> str | None:
        return head_revision()

    async def current(self) -> str | None:
        return await self.database.read(revision_of)

    def problem(self, current: str | None) -> str | None:
        return schema_problem(current, head_revision())

    async def upgrade(self, revision: str = "head") -> str:
        with reachable():  # as every unit of work says it: a refused connection is no defect
            return await upgrade(self.database.engine, revision)
