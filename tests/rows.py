"""Every row of every table, to show that a refused request wrote nothing; or every row of a
few, for checks that pick a case's own rows out of everyone's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.engine import Database
from tender.db.models import Base


async def snapshot(db: Database) -> dict[str, list[str]]:
    """Each table's rows as sorted text, so two snapshots compare with ``==``."""

    async def read(conn: Any) -> dict[str, list[str]]:
        rows: dict[str, list[str]] = {}
        for table in Base.metadata.sorted_tables:
            result = await conn.execute(select(table))
            rows[table.name] = sorted(repr(tuple(r)) for r in result)
        return rows

    return await db.read(read)


async def rows_of(conn: AsyncConnection, *names: str) -> dict[str, list[dict[str, Any]]]:
    """The named tables' rows, each a dict by column."""
    tables = Base.metadata.tables
    return {
        name: [dict(r._mapping) for r in await conn.execute(select(tables[name]))] for name in names
    }
