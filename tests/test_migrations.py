"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Integer,
    LargeBinary,
    String,
    Table,
    column,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import alembic_config, current_revision, head_revision, upgrade
from tender.db.models import Base
from tender.db.types import UTCDateTime
from tender.domain.ledger import Card
from tests.conftest import create_pg_database, drop_pg_database


async def test_schema_matches_models(db: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await current_revision(db.engine) == head_revision()


async def _fresh(kind: str, tmp_path: Path) -> Database:
    if kind == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}")
    return Database(await create_pg_database())


def _legacy_cards() -> Table:
    return table(
        "cards",
        column("id", String()),
        column("code_hash", LargeBinary()),
        column("code_last4", String()),
        column("pin_hash", LargeBinary()),
        column("currency", String()),
        column("status", String()),
        column("posted", Integer()),
        column("held", Integer()),
        column("version", Integer()),
        column("failed_pin_attempts", Integer()),
        column("locked_until", UTCDateTime()),
        column("expires_at", UTCDateTime()),
        column("metadata", JSON()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_0003_keeps_locked_cards_locked_and_counted_failures_counted(
    kind: str, tmp_path: Path
) -> None:
    database = await _fresh(kind, tmp_path)
    now = datetime.now(UTC)
    legacy = {
        # (failed_pin_attempts, locked_until) under the old rule
        "locked": (0, now + timedelta(minutes=10)),
        "failing": (3, None),
        "lock-over": (0, now - timedelta(minutes=1)),
        "clean": (0, None),
    }
    try:
        await upgrade(database.engine, "0002")
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(_legacy_cards()),
                [
                    {
                        "id": name,
                        "code_hash": name.encode().ljust(32, b"-"),
                        "code_last4": "1234",
                        "pin_hash": b"p" * 32,
                        "currency": "EUR",
                        "status": "active",
                        "posted": 100,
                        "held": 0,
                        "version": 1,
                        "failed_pin_attempts": attempts,
                        "locked_until": until,
                        "expires_at": None,
                        "metadata": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for name, (attempts, until) in legacy.items()
                ],
            )
            await conn.execute(
                text("INSERT INTO rate_limits (key, window_start, count) VALUES ('k', 600, 3)")
            )
        await upgrade(database.engine)

        async def read(conn: Any) -> dict[str, Card]:
            store = SqlLedgerStore(conn)
            return {card.id: card for card in await store.get_cards(list(legacy))}

        migrated = await database.read(read)
        assert migrated["locked"].pin_locked(now, 100)
        assert migrated["locked"].pin_window_ends_at == legacy["locked"][1]
        failing = migrated["failing"]
        assert failing.failed_pin_attempts == 3
        assert failing.pin_window_ends_at is not None
        assert failing.pin_window_ends_at > now
        assert not failing.pin_locked(now, 5)
        assert not migrated["lock-over"].pin_locked(now, 1)
        assert migrated["clean"].failed_pin_attempts == 0
        assert migrated["clean"].pin_window_ends_at is None
        async with database.engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT window_start, expires_at FROM rate_limits"))
            ).one()
        assert tuple(row) == (600, 660)

        # And back: the lock is the old kind of lock again.
        def downgrade(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")

        async with database.engine.begin() as conn:
            await conn.run_sync(downgrade)
        cards = _legacy_cards()
        async with database.engine.connect() as conn:
            rows = await conn.execute(
                select(cards.c.id, cards.c.failed_pin_attempts, cards.c.locked_until)
            )
            back = {r.id: (r.failed_pin_attempts, r.locked_until) for r in rows}
        assert back["locked"] == (0, legacy["locked"][1])
        assert back["failing"] == (3, None)
        assert back["clean"] == (0, None)
    finally:
        await database.dispose()
        if kind == "postgresql":
            await drop_pg_database(database.url)
