"""The worker's app factory, as ``tender serve`` and uvicorn's ``--factory`` call it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tender.api import app as factory
from tests.conftest import TEST_KEY


def test_what_start_up_built_is_kept_out_of_the_collectors_sight(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TENDER_ENV", "test")
    monkeypatch.setenv("TENDER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'tender.db'}")
    monkeypatch.setenv("TENDER_SECRET_KEY", TEST_KEY.decode())
    monkeypatch.setattr(factory, "configure_logging", lambda: None)  # the suite's logging stays
    gc.unfreeze()
    try:
        factory.app_from_env()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
