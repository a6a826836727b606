"""SQLite acknowledges a commit only once it is on disk, unless the merchant opts out."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.runtime import Runtime

SECRET = "durability-test-secret-0123456789abcdefghij"
FULL, NORMAL = 2, 1
"""What ``PRAGMA synchronous`` answers."""


async def pragmas(db: Database) -> tuple[int, str]:
    """Read on a pooled connection, as every request gets one."""

    async def read(conn: object) -> tuple[int, str]:
        execute = conn.execute  # type: ignore[attr-defined]
        synchronous = (await execute(text("PRAGMA synchronous"))).scalar_one()
        journal = (await execute(text("PRAGMA journal_mode"))).scalar_one()
        return int(synchronous), str(journal)

    try:
        return await db.read(read)
    finally:
        await db.dispose()


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'tender.db'}",
        secret_key=SECRET,
        **overrides,  # type: ignore[arg-type]
    )


async def test_commits_are_synced_by_default(tmp_path: Path) -> None:
    assert settings(tmp_path).sqlite_synchronous == "full"
    runtime = Runtime(settings(tmp_path))
    assert await pragmas(runtime.db) == (FULL, "wal")
    assert await pragmas(Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")) == (
        FULL,
        "wal",
    )


async def test_the_merchant_may_choose_normal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENDER_SQLITE_SYNCHRONOUS", "normal")
    chosen = Settings(
        env=Environment.TEST,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'tender.db'}",
        secret_key=SECRET,
    )
    assert chosen.sqlite_synchronous == "normal"
    assert await pragmas(Runtime(chosen).db) == (NORMAL, "wal")


@pytest.mark.parametrize("value", ["off", "OFF", "extra", ""])
def test_weaker_or_unknown_levels_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        settings(tmp_path, sqlite_synchronous=value)
