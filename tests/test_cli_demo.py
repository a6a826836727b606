"""``tender demo init``: development only, kept between runs, made again for a new database."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tender.cli import app
from tests.conftest import create_pg_database, drop_pg_database

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def dev_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    else:
        url = asyncio.run(create_pg_database())
    monkeypatch.setenv("TENDER_DATABASE_URL", url)
    monkeypatch.setenv("TENDER_ENV", "development")
    monkeypatch.setenv("TENDER_SECRET_KEY", "cli-demo-secret-key-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("TENDER_DEMO_FILE", str(tmp_path / "var" / "demo.json"))
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield tmp_path
    if request.param == "postgresql":
        asyncio.run(drop_pg_database(url))


def cards(output: str) -> list[str]:
    return re.findall(r"^\s+((?:\d{4} ){3}\d{4})\s", output, re.MULTILINE)


def test_demo_init_prints_the_shop_and_keeps_its_cards(dev_env: Path) -> None:
    first = runner.invoke(app, ["demo", "init"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8000/demo" in first.output
    printed = cards(first.output)
    assert len(printed) == 3
    assert "PIN" in first.output  # one card has a PIN, as the journey needs
    kept = dev_env / "var" / "demo.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["client_secret"] not in first.output

    again = runner.invoke(app, ["demo", "init"])
    assert again.exit_code == 0, again.output
    assert cards(again.output) == printed

    listed = runner.invoke(app, ["clients", "list"])
    assert listed.output.count("demo-shop") == 1


def test_a_demo_file_left_readable_is_written_private(dev_env: Path) -> None:
    """It holds the demo client's secret: one left behind readable by all (copied, or written
    by hand) is written again for its owner alone."""
    kept = dev_env / "var" / "demo.json"
    kept.parent.mkdir()
    kept.write_text("{}")
    kept.chmod(0o644)
    made = runner.invoke(app, ["demo", "init"])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["client_secret"]


def test_demo_init_names_the_shop_where_tender_serve_answers(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moved to another port with TENDER_PORT (or listening on every address), ``make run``
    prints the demo shop's address as a browser on this machine reaches it."""
    monkeypatch.setenv("TENDER_PORT", "8011")
    monkeypatch.setenv("TENDER_HOST", "0.0.0.0")
    shown = runner.invoke(app, ["demo", "init"])
    assert shown.exit_code == 0, shown.output
    assert "Demo shop: http://127.0.0.1:8011/demo" in shown.output
    given = runner.invoke(app, ["demo", "init", "--url", "https://shop.example/"])
    assert "Demo shop: https://shop.example/demo" in given.output


def test_demo_init_makes_what_a_new_database_lacks(dev_env: Path) -> None:
    first = cards(runner.invoke(app, ["demo", "init"]).output)
    kept = dev_env / "var" / "demo.json"
    state = json.loads(kept.read_text())
    kept.write_text(json.dumps({**state, "client_id": "gone"}))  # as after a wiped database
    again = runner.invoke(app, ["demo", "init"])
    assert again.exit_code == 0, again.output
    assert cards(again.output) != first


def test_demo_init_refuses_outside_development(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in ("production", "test"):
        monkeypatch.setenv("TENDER_ENV", env)
        refused = runner.invoke(app, ["demo", "init"])
        assert refused.exit_code == 1
        assert "development" in refused.output
    assert not (dev_env / "var" / "demo.json").exists()


def test_a_database_the_demo_ran_on_is_served_in_production_only_once_removed(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied to production, the demo's client (whose secret sits in the demo file) still
    took tokens and its test cards still paid: ``serve`` refuses until ``demo remove``."""
    made = runner.invoke(app, ["demo", "init"])
    assert made.exit_code == 0, made.output
    codes = cards(made.output)
    served: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: served.append(args))
    monkeypatch.setattr("signal.signal", lambda *args: None)  # the test process keeps its own
    monkeypatch.setenv("TENDER_ENV", "production")
    refused = runner.invoke(app, ["serve", "--port", "1"])
    assert refused.exit_code == 1, refused.output
    assert "tender demo remove" in refused.output
    assert served == []
    removed = runner.invoke(app, ["demo", "remove"])
    assert removed.exit_code == 0, removed.output
    assert "disabled 3 test cards" in removed.output
    for code in codes:
        assert "disabled" in runner.invoke(app, ["cards", "show", code]).output
    started = runner.invoke(app, ["serve", "--port", "1"])
    assert started.exit_code == 0, started.output
    assert len(served) == 1


def _spend(code: str, minor: int) -> None:
    """Pay ``minor`` with the card, as a shop's order would."""
    from tender.config import Settings
    from tender.domain.money import Money
    from tender.runtime import Runtime

    async def spend() -> None:
        runtime = Runtime(Settings())

        async def unit(conn: object) -> None:
            ledger = runtime.work(conn, actor=None).ledger  # type: ignore[arg-type]
            card = await runtime.ledger.find_by_code(ledger, code=code)
            hold = await runtime.ledger.reserve(
                ledger, card_id=card.id, amount=Money(minor, card.currency)
            )
            await runtime.ledger.capture(ledger, hold_id=hold.id)

        try:
            await runtime.db.transaction(unit)
        finally:
            await runtime.close()

    asyncio.run(spend())


def test_demo_init_shows_what_the_cards_have_left_and_replaces_spent_ones(
    dev_env: Path,
) -> None:
    """It printed the amounts issued for ever; once the cards were spent, every ``make run``
    offered empty cards."""
    first = runner.invoke(app, ["demo", "init"])
    codes = cards(first.output)
    _spend(codes[0], 1000)
    again = runner.invoke(app, ["demo", "init"])
    assert cards(again.output) == codes
    assert re.search(re.escape(codes[0]) + r"\s+40\.00 EUR", again.output), again.output
    for code, minor in zip(codes, (4000, 2500, 1000), strict=True):
        _spend(code, minor)
    renewed = runner.invoke(app, ["demo", "init"])
    assert renewed.exit_code == 0, renewed.output
    fresh = cards(renewed.output)
    assert len(fresh) == 3
    assert not set(fresh) & set(codes)
    assert "50.00 EUR" in renewed.output
    listed = runner.invoke(app, ["clients", "list"])
    assert listed.output.count("demo-shop") == 1  # the client is kept
