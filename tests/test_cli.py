"""The ``tender`` command line against a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tender.cli import app
from tender.domain.codes import luhn_valid, normalise_code
from tests.conftest import create_pg_database, drop_pg_database

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    else:
        url = asyncio.run(create_pg_database())
    monkeypatch.setenv("TENDER_DATABASE_URL", url)
    monkeypatch.setenv("TENDER_ENV", "test")
    monkeypatch.setenv("TENDER_SECRET_KEY", "cli-test-secret-key-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_JWT_SECRET", "cli-test-jwt-secret-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield tmp_path
    if request.param == "postgresql":
        asyncio.run(drop_pg_database(url))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_issue_batch_to_csv_then_show_load_history(cli_env: Path) -> None:
    out = cli_env / "cards.csv"
    invoke(
        "cards",
        "issue",
        "--amount",
        "50.00",
        "--currency",
        "EUR",
        "--count",
        "25",
        "--pin",
        "--out",
        str(out),
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = read_csv(out)
    assert len(rows) == 25
    assert len({r["code"] for r in rows}) == 25
    first = rows[0]
    assert luhn_valid(normalise_code(first["code"]))
    assert first["pin"].isdigit()
    assert first["amount"] == "50.00"

    shown = invoke("cards", "show", first["code"])
    assert "50.00 EUR" in shown
    assert first["id"] in shown
    assert normalise_code(first["code"]) not in shown.replace(" ", "")

    invoke("cards", "load", first["code"].replace(" ", "-").lower(), "--amount", "2.50")
    assert "52.50 EUR" in invoke("cards", "show", first["code"])
    history = invoke("cards", "history", first["code"])
    assert "issue" in history
    assert "load" in history
    assert "disabled" in invoke("cards", "disable", first["code"])
    assert "active" in invoke("cards", "enable", first["code"])
    assert "balances" in invoke("ledger", "verify")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cards", "issue", "--amount", "50.001", "--currency", "EUR"], "fraction digits"),
        (["cards", "issue", "--amount", "5", "--currency", "XYZ"], "InvalidCurrency"),
        (["cards", "issue", "--amount", "-5", "--currency", "EUR"], "negative"),
        (["cards", "issue", "--amount", "5", "--currency", "EUR", "--count", "21"], "--out"),
        (
            ["cards", "issue", "--amount", "5", "--currency", "EUR", "--expires", "soon"],
            "--expires",
        ),
        (["cards", "show", "0000 0000 0000 0000"], "GiftCardNotFound"),
        (["cards", "show", "!"], "InvalidCardCode"),
        (["cards", "load", "0000000000000000", "--amount", "1"], "GiftCardNotFound"),
        (["clients", "create", "--name", "x", "--scopes", "root"], "unknown scope"),
        (["clients", "disable", "tnd_nobody"], "no client"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    cli_env: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_disabling_twice_is_refused(cli_env: Path) -> None:
    out = cli_env / "one.csv"
    invoke(
        "cards", "issue", "--amount", "1000", "--currency", "JPY", "--count", "1", "--out", str(out)
    )
    code = read_csv(out)[0]["code"]
    invoke("cards", "disable", code)
    result = runner.invoke(app, ["cards", "disable", code])
    assert result.exit_code == 1
    assert "GiftCardStatusUnchanged" in result.output


def test_clients_create_prints_secret_once_and_lists_without_it(cli_env: Path) -> None:
    created = invoke("clients", "create", "--name", "shop", "--scopes", "manage_giftcards")
    secret = next(line.split()[1] for line in created.splitlines() if "client_secret" in line)
    listed = invoke("clients", "list")
    assert "shop" in listed
    assert secret not in listed


def test_admin_token_is_a_jwt(cli_env: Path) -> None:
    token = invoke("admin", "token", "--subject", "ops@example.com", "--scopes", "manage_giftcards")
    assert token.strip().count(".") == 2


def test_secrets_init_writes_private_file(cli_env: Path) -> None:
    target = cli_env / "secrets.env"
    assert "generated" in invoke("secrets", "init", "--out", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "keeping" in invoke("secrets", "init", "--out", str(target))


def test_refuses_to_start_without_secrets(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENDER_SECRET_KEY")
    result = runner.invoke(app, ["cards", "show", "1234123412341234"])
    assert result.exit_code == 1
    assert "TENDER_SECRET_KEY" in result.output
