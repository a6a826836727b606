"""Apply and inspect Alembic migrations from inside the process (no alembic.ini needed)."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tender.db.engine import Database


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "tender:migrations")
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code ships (read from the package once: it cannot change)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


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

    async def upgrade(self, revision: str = "head") -> None:
        await upgrade(self.database.engine, revision)
