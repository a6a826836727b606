"""The ``tender`` command line against a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import typer
from rich.console import Console
from sqlalchemy import URL, make_url, select, text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from tender.auth.keys import SigningKey
from tender.cli import app, codes_output
from tender.cli import cards as cards_cli
from tender.config import Settings
from tender.db.engine import Database
from tender.db.models import CardRow
from tender.domain.codes import luhn_valid, normalise_code
from tender.domain.principals import Principal, Scope
from tender.runtime import Runtime
from tender.services.ledger import IssuedCard
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database

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
        (["clients", "enable", "tnd_nobody"], "no client"),
        (["clients", "rotate-secret", "tnd_nobody"], "no client"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    cli_env: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "group", ["db", "secrets", "admin", "clients", "cards", "holds", "ledger", "demo"]
)
def test_a_groups_help_lists_each_commands_summary_on_one_line(group: str) -> None:
    """The summary is the docstring's first paragraph, whose source spans lines: listed as
    it was written, it broke off mid-sentence ("the Glue shoppers of its" / "carts stop…")."""
    result = runner.invoke(app, [group, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    commands = typer.main.get_command(app).commands[group].commands
    for command in commands.values():
        summary = " ".join((command.help or "").split("\n\n")[0].split())
        assert summary in result.output, (command.name, result.output)


def test_a_database_out_of_reach_is_one_line(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENDER_DATABASE_URL", "postgresql+asyncpg://tender:pw@127.0.0.1:1/x")
    result = runner.invoke(app, ["cards", "show", "1234 5678 9012 3456"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "cannot be reached" in result.output
    assert "pw" not in result.output


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


def test_admin_token_is_one_the_service_accepts(cli_env: Path) -> None:
    token = invoke("admin", "token", "--subject", "ops@example.com", "--scopes", "manage_giftcards")

    async def verify() -> Principal | None:
        runtime = Runtime(Settings())
        try:
            return await runtime.jwt.verify(token.strip(), now=datetime.now(UTC))
        finally:
            await runtime.close()

    principal = asyncio.run(verify())
    assert principal is not None
    assert principal.subject == "ops@example.com"
    assert principal.scopes == {Scope.MANAGE_GIFTCARDS}


def test_admin_tokens_the_service_would_refuse_are_not_minted(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENDER_JWT_MAX_LIFETIME_SECONDS", "3600")
    args = ["admin", "token", "--scopes", "view_giftcards"]
    too_long = runner.invoke(app, [*args, "--subject", "ops", "--ttl-minutes", "61"])
    assert too_long.exit_code == 1
    assert "TENDER_JWT_MAX_LIFETIME_SECONDS" in too_long.output
    for subject in ("a" * 95, " ops", "ops\x00"):
        refused = runner.invoke(app, [*args, "--subject", subject])
        assert refused.exit_code == 1, subject
        assert "--subject" in refused.output
    assert invoke(*args, "--subject", "ops", "--ttl-minutes", "60").count(".") == 2


def test_admin_tokens_live_as_long_as_the_service_allows(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is the service's (``TENDER_JWT_MAX_LIFETIME_SECONDS``, up to a year), not a
    week fixed in the command line."""
    monkeypatch.setenv("TENDER_JWT_MAX_LIFETIME_SECONDS", str(30 * 86400))
    args = ["admin", "token", "--scopes", "view_giftcards", "--subject", "ops"]
    token = invoke(*args, "--ttl-minutes", str(30 * 24 * 60)).strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 86400


def test_admin_token_is_signed_with_the_keys_generation(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a rotation (``TENDER_JWT_KEY_GENERATION`` raised) the CLI signs with the new key."""
    monkeypatch.setenv("TENDER_JWT_KEY_GENERATION", "2")
    token = invoke("admin", "token", "--subject", "ops@example.com", "--scopes", "view_giftcards")
    settings = Settings()
    expected = SigningKey.derive(settings.secret_bytes(), 2).kid
    assert jwt.get_unverified_header(token.strip())["kid"] == expected


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


def card_ids() -> set[str]:
    """The ids of every card in the CLI's database, read directly."""

    async def read() -> set[str]:
        database = Database(os.environ["TENDER_DATABASE_URL"], pool_size=1)
        try:
            return await database.read(
                lambda conn: _ids(conn.execute(select(CardRow.__table__.c.id)))
            )
        finally:
            await database.dispose()

    async def _ids(result: Any) -> set[str]:
        return {row[0] for row in await result}

    return asyncio.run(read())


def issue_args(out: Path, count: int) -> list[str]:
    return ["cards", "issue", "--amount", "5", "--currency", "EUR", "--count", str(count),
            "--pin", "--out", str(out)]  # fmt: skip


def test_issue_out_is_a_new_private_file(cli_env: Path) -> None:
    """Mode 0600 whatever the umask; an existing file (perhaps an earlier batch's codes) or a
    symlink at the path is refused before any card is issued."""
    old_umask = os.umask(0)
    try:
        fresh = cli_env / "fresh.csv"
        invoke(*issue_args(fresh, 3))
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
        assert {r["id"] for r in read_csv(fresh)} == card_ids()
    finally:
        os.umask(old_umask)
    earlier = cli_env / "earlier.csv"
    earlier.write_text("code\n1234\n")
    earlier.chmod(0o644)
    link = cli_env / "link.csv"
    link.symlink_to(cli_env / "elsewhere.csv")
    for path in (earlier, link):
        result = runner.invoke(app, issue_args(path, 2))
        assert result.exit_code == 1, result.output
        assert "exists" in result.output
    assert earlier.read_text() == "code\n1234\n"
    assert not (cli_env / "elsewhere.csv").exists()
    assert len(card_ids()) == 3


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cards_cli, "CHUNK", 5)


def test_each_chunk_is_on_disk_before_it_commits(
    cli_env: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = cli_env / "cards.csv"
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    real_transaction = Database.transaction
    checked: list[int] = []

    async def transaction(self: Database, work: Any, **kwargs: Any) -> Any:
        async def then_check(conn: Any) -> Any:
            before = len(synced)
            result = await work(conn)
            if isinstance(result, list) and result and isinstance(result[0], IssuedCard):
                # About to commit: the chunk's codes are already on disk, and fsynced.
                assert len(synced) > before
                on_disk = out.read_text()
                assert all(issued.code in on_disk for issued in result)
                checked.append(len(result))
            return result

        return await real_transaction(self, then_check, **kwargs)

    monkeypatch.setattr(Database, "transaction", transaction)
    invoke(*issue_args(out, 12))
    assert checked == [5, 5, 2]
    rows = read_csv(out)
    assert len(rows) == 12
    assert {r["id"] for r in rows} == card_ids()


@pytest.mark.parametrize("committed", [False, True], ids=["rolled-back", "committed-anyway"])
def test_a_failing_commit_never_leaves_a_card_without_its_code(
    cli_env: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    """The second chunk's transaction fails after its rows were written: either before the
    commit (its rows are then marked VOID) or after it (a lost answer: its rows stay valid).
    Either way every card in the database has its code in the file."""
    out = cli_env / "cards.csv"
    real_transaction = Database.transaction
    calls = 0

    async def transaction(self: Database, work: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        lost = OperationalError("COMMIT", None, ConnectionResetError("connection lost"))
        if calls != 2:
            return await real_transaction(self, work, **kwargs)
        if committed:
            await real_transaction(self, work, **kwargs)
            raise lost

        async def then_fail(conn: Any) -> Any:
            await work(conn)
            raise lost

        return await real_transaction(self, then_fail, **kwargs)

    monkeypatch.setattr(Database, "transaction", transaction)
    result = runner.invoke(app, issue_args(out, 12))
    assert result.exit_code == 1
    assert "connection lost" in result.output
    assert "Traceback" not in result.output
    rows = read_csv(out)
    cards = [r for r in rows if not r["code"].startswith("#")]
    marks = [r["code"] for r in rows if r["code"].startswith("#")]
    in_database = card_ids()
    assert {r["id"] for r in cards} >= in_database  # no card without its code
    assert all(r["code"] and r["pin"] for r in cards)
    assert len(in_database) == (10 if committed else 5)
    assert len(cards) == 10
    if committed:
        assert marks == []
    else:
        assert len(marks) == 1
        assert marks[0].startswith("# VOID: the 5 rows above")
        assert {r["id"] for r in cards[:5]} == in_database
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_rows_a_failed_write_left_half_written_are_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up mid-chunk leaves part of its rows in the file; the chunk's
    transaction then fails, and the marker must count those rows as the chunk's."""
    from tender.cli.codes_output import CodesFile

    codes = CodesFile(tmp_path / "codes.csv")
    rows = [
        ["6012 0000 0000 0001", "", "id-1", "5.00", "EUR", ""],
        ["6012 0000 0000 0002", "", "id-2", "5.00", "EUR", ""],
    ]
    written = codes._append

    def fills_up(chunk: list[list[str]]) -> None:
        written(chunk[:1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(codes, "_append", fills_up)
    with pytest.raises(typer.Exit):  # said as the file's, not taken for the database's
        codes.write_chunk(rows)
    monkeypatch.setattr(codes, "_append", written)
    codes.mark("VOID", "the database has none of these cards")
    codes.close()
    assert "# VOID: the 2 rows above" in (tmp_path / "codes.csv").read_text()


@pytest.mark.parametrize("failing_chunk", [1, 2])
def test_a_chunk_whose_codes_could_not_be_written_is_void(
    cli_env: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch, failing_chunk: int
) -> None:
    """The disk fills up while a chunk's rows are written: its transaction rolls back, and the
    database is asked about that chunk's cards, not the chunk before's (which it has): the
    rows are marked VOID and only the chunks before it count as issued."""
    out = cli_env / "cards.csv"
    real_append = codes_output.CodesFile._append
    chunks = 0

    def fills_up(self: codes_output.CodesFile, rows: list[list[str]]) -> None:
        nonlocal chunks
        if rows == [codes_output.CSV_FIELDS]:
            return real_append(self, rows)
        chunks += 1
        if chunks != failing_chunk:
            return real_append(self, rows)
        real_append(self, rows[:1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(codes_output.CodesFile, "_append", fills_up)
    result = runner.invoke(app, issue_args(out, 12))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    issued = 5 * (failing_chunk - 1)
    assert f"{issued} of 12 cards were issued" in result.output
    rows = read_csv(out)
    cards = [r for r in rows if not r["code"].startswith("#")]
    marks = [r["code"] for r in rows if r["code"].startswith("#")]
    assert len(card_ids()) == issued
    assert {r["id"] for r in cards[:issued]} == card_ids()
    assert marks == [
        "# VOID: the 5 rows above (were not issued: their transaction failed; do not use them)"
    ]


def test_without_out_each_chunk_is_printed_before_it_commits(
    cli_env: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small batch's codes reach the terminal before their transaction commits (printed
    after it, they were lost whole if the process died in between); a chunk whose commit then
    fails is said void right after its codes."""
    printed = io.StringIO()
    monkeypatch.setattr(codes_output, "console", Console(file=printed, width=300))
    real_transaction = Database.transaction
    seen: list[int] = []

    async def transaction(self: Database, work: Any, **kwargs: Any) -> Any:
        async def then_check(conn: Any) -> Any:
            result = await work(conn)
            if isinstance(result, list) and result and isinstance(result[0], IssuedCard):
                assert all(issued.code in printed.getvalue() for issued in result)
                seen.append(len(result))
                if len(seen) == 2:
                    raise OperationalError("COMMIT", None, ConnectionResetError("lost"))
            return result

        return await real_transaction(self, then_check, **kwargs)

    monkeypatch.setattr(Database, "transaction", transaction)
    args = ["cards", "issue", "--amount", "5", "--currency", "EUR", "--count", "12"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "5 of 12 cards were issued; see the table above" in result.output
    assert seen == [5, 5]
    shown = printed.getvalue()
    assert "VOID: the 5 cards above were not issued" in shown
    assert len(card_ids()) == 5
    assert all(card_id in shown for card_id in card_ids())


def test_a_load_under_a_reference_is_made_once(cli_env: Path) -> None:
    """The CLI has no idempotency key: sent again after a lost answer, a load with
    ``--reference`` is refused instead of loading the card twice."""
    code = read_csv_of_one(cli_env)
    invoke("cards", "load", code, "--amount", "2.50", "--reference", "INV-7")
    again = runner.invoke(app, ["cards", "load", code, "--amount", "2.50", "--reference", "INV-7"])
    assert again.exit_code == 1
    assert "ReferenceAlreadyPosted" in again.output
    assert "2.50" in again.output
    invoke("cards", "load", code, "--amount", "1.00", "--reference", "INV-8")
    invoke("cards", "load", code, "--amount", "1.00")  # no reference: no check
    shown = invoke("cards", "show", code)
    assert "9.50" in shown  # 5.00 + 2.50 + 1.00 + 1.00


def read_csv_of_one(home: Path) -> str:
    """One new card's code, issued through the CLI."""
    out = home / f"one-{len(list(home.glob('one-*.csv')))}.csv"
    invoke(*issue_args(out, 1))
    (row,) = read_csv(out)
    return row["code"]


def test_a_disk_that_stays_full_is_told_not_a_traceback(
    cli_env: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker after a chunk whose rows could not be written cannot be written either: the
    verdict is said on the terminal instead."""
    out = cli_env / "cards.csv"
    real_append = codes_output.CodesFile._append
    chunks = 0

    def full_from_the_second_chunk(self: codes_output.CodesFile, rows: list[list[str]]) -> None:
        nonlocal chunks
        if rows != [codes_output.CSV_FIELDS]:
            chunks += 1
        if chunks < 2:
            return real_append(self, rows)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(codes_output.CodesFile, "_append", full_from_the_second_chunk)
    result = runner.invoke(app, issue_args(out, 12))
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "Traceback" not in said
    assert "VOID: the last 5 rows of" in said
    assert "5 of 12 cards were issued" in said
    assert len(card_ids()) == 5


# --- what a narrow or piped terminal shows ------------------------------------------------

NARROW = 80
"""What rich takes as the width when standard output is no terminal (a pipe, a file)."""


def narrow(monkeypatch: pytest.MonkeyPatch, *modules: Any) -> io.StringIO:
    printed = io.StringIO()
    for module in modules:
        monkeypatch.setattr(module, "console", Console(file=printed, width=NARROW))
    return printed


def test_codes_printed_to_a_narrow_terminal_are_whole(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``--out`` the terminal has the only copy of each code and PIN: cut to the
    width (``2436 0025 2975…``), a card was money nobody could spend."""
    printed = narrow(monkeypatch, codes_output)
    invoke(
        "cards", "issue", "--amount", "5", "--currency", "EUR", "--count", "3", "--pin",
        "--expires", "2030-01-01",
    )  # fmt: skip
    shown = printed.getvalue()
    assert "…" not in shown
    rows = [line for line in shown.splitlines() if any(i in line for i in card_ids())]
    assert len(rows) == 3
    for row in rows:
        cells = [cell.strip() for cell in row.strip("│ ").split("│")]
        code, pin = cells[0], cells[1]
        assert luhn_valid(normalise_code(code)), row
        assert pin.isdigit(), row
        assert len(pin) >= 4, row
        assert "active" in invoke("cards", "show", code).lower()


def test_listed_client_ids_are_whole(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``clients disable`` takes the id ``clients list`` shows."""
    from tender.cli import clients as clients_cli

    created = invoke("clients", "create", "--name", "a shop with a long name", "--scopes",
                     "manage_giftcards view_giftcards manage_orders")  # fmt: skip
    client_id = next(line.split()[1] for line in created.splitlines() if "client_id" in line)
    printed = narrow(monkeypatch, clients_cli)
    invoke("clients", "list")
    assert client_id in printed.getvalue()
    invoke("clients", "disable", client_id)
    assert f"disabled {client_id}" in printed.getvalue()


def test_a_new_clients_scopes_are_printed_on_one_line(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script reads ``scopes:`` as it reads ``client_id:``: cut to the width, the last
    scopes fell on a line of their own (the README's client for its first calls)."""
    from tender.cli import clients as clients_cli

    printed = narrow(monkeypatch, clients_cli)
    scopes = "manage_giftcards manage_orders manage_payments manage_checkout_payment_intents"
    invoke("clients", "create", "--name", "shop backend", "--scopes", scopes)
    line = next(line for line in printed.getvalue().splitlines() if line.startswith("scopes:"))
    assert sorted(line.split()[1:]) == sorted(scopes.split())


def test_paths_are_printed_whole(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path longer than the terminal is one a script copies: folded, it named no file."""
    main_cli = importlib.import_module("tender.cli.main")  # ``tender.cli.main`` is a function
    printed = narrow(monkeypatch, main_cli)
    target = cli_env / ("a-folder-with-a-rather-long-name-" * 3) / "secrets.env"
    target.parent.mkdir()
    invoke("secrets", "init", "--out", str(target))
    invoke("secrets", "init", "--out", str(target))
    assert printed.getvalue().count(str(target)) == 2


def _client_of(printed: str) -> tuple[str, str]:
    values = dict(line.split(":", 1) for line in printed.splitlines() if line.startswith("client"))
    return values["client_id"].strip(), values["client_secret"].strip()


class Shop:
    """A merchant's backend and one page of it, over HTTP against the CLI's database."""

    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self.secret = client_id, secret
        self.token = ""
        self.session = ""

    def answers(self) -> dict[str, int]:
        """Status codes of: a token for the secret; the last token and the last page in use,
        its config and a balance check of an unknown code (a new token and page first, while
        there are none and the secret works)."""
        import httpx

        from tender.api.app import create_app

        async def main() -> dict[str, int]:
            runtime = Runtime(Settings())
            transport = httpx.ASGITransport(app=create_app(runtime=runtime))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    granted = await http.post(
                        "/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(self.client_id, self.secret),
                    )  # fmt: skip
                    if not self.token and granted.status_code == 200:
                        self.token = granted.json()["access_token"]
                    h = {"Authorization": f"Bearer {self.token}"}
                    if not self.session and granted.status_code == 200:
                        cart = await http.post("/carts", json={"currency": "EUR", "country": "DE"},
                                               headers=h)  # fmt: skip
                        opened = await http.post(
                            "/sessions", json={"cart": {"cartRef": {"id": cart.json()["id"]}}},
                            headers=h,
                        )  # fmt: skip
                        self.session = opened.json()["id"]
                    carts = await http.get("/orders", headers=h)
                    page = await http.get(
                        "/operations/config", headers={"X-Session-Id": self.session}
                    )
                    balance = await http.post(
                        "/balance", json={"code": "1234 5678 9012 3456"},
                        headers={"X-Session-Id": self.session},
                    )  # fmt: skip
                    return {"secret": granted.status_code, "token": carts.status_code,
                            "page": page.status_code, "balance": balance.status_code}  # fmt: skip
            finally:
                await runtime.close()

        return asyncio.run(main())


def test_a_disabled_clients_sessions_stop_working_at_once(cli_env: Path) -> None:
    """A client is disabled because its secret leaked: the browser sessions it opened are
    tokens too, and went on checking and redeeming cards until they expired."""
    shop = Shop(*_client_of(invoke("clients", "create", "--name", "shop", "--scopes",
                                   "manage_orders manage_payments")))  # fmt: skip
    # The page works: an unknown code is NotFound.
    assert shop.answers() == {"secret": 200, "token": 200, "page": 200, "balance": 404}
    invoke("clients", "disable", shop.client_id)
    assert shop.answers() == {"secret": 401, "token": 401, "page": 401, "balance": 401}


def test_a_rotated_secret_revokes_the_old_one_and_its_tokens(cli_env: Path) -> None:
    """A merchant's secret leaked: it gets a new one and keeps its carts and orders, which a
    new client would not have."""
    shop = Shop(*_client_of(invoke("clients", "create", "--name", "shop", "--scopes",
                                   "manage_orders manage_payments")))  # fmt: skip
    assert shop.answers() == {"secret": 200, "token": 200, "page": 200, "balance": 404}
    rotated = invoke("clients", "rotate-secret", shop.client_id)
    assert "its browser sessions stay open: pass --end-sessions" in rotated
    client_id, secret = _client_of(rotated)
    assert client_id == shop.client_id
    assert secret != shop.secret
    assert shop.answers() == {"secret": 401, "token": 401, "page": 200, "balance": 404}
    shop.secret, shop.token = secret, ""
    assert shop.answers() == {"secret": 200, "token": 200, "page": 200, "balance": 404}
    assert "ended 1 browser session" in invoke(
        "clients", "rotate-secret", shop.client_id, "--end-sessions"
    )
    assert shop.answers()["page"] == 401


def test_an_enabled_client_comes_back_with_a_new_secret_only(cli_env: Path) -> None:
    """Disabled because its secret could not be trusted: enabled again, neither that secret
    nor its tokens nor the pages it opened work again."""
    shop = Shop(*_client_of(invoke("clients", "create", "--name", "shop", "--scopes",
                                   "manage_orders manage_payments")))  # fmt: skip
    assert shop.answers() == {"secret": 200, "token": 200, "page": 200, "balance": 404}
    refused = runner.invoke(app, ["clients", "enable", shop.client_id])
    assert refused.exit_code == 1
    assert "enabled already" in refused.output
    invoke("clients", "disable", shop.client_id)
    assert shop.answers() == {"secret": 401, "token": 401, "page": 401, "balance": 401}
    enabled = invoke("clients", "enable", shop.client_id)
    assert "ended 1 browser session" in enabled
    assert shop.answers() == {"secret": 401, "token": 401, "page": 401, "balance": 401}
    shop.secret = _client_of(enabled)[1]
    shop.token = shop.session = ""
    assert shop.answers() == {"secret": 200, "token": 200, "page": 200, "balance": 404}
    listed = invoke("clients", "list")
    assert "yes" in listed


def test_db_upgrade_never_goes_back_and_says_where_it_is(cli_env: Path) -> None:
    """An operator rolling back asks for an older revision: refused, never "done" with nothing
    done; a revision this release does not know is one line, not a traceback."""
    from tender.db.migrate import head_revision, revisions

    head = head_revision()
    assert f"database at {head}" in invoke("db", "upgrade")
    assert f"database at {head}, this release at {head}" in invoke("db", "current")
    older = revisions()[-2]
    refused = runner.invoke(app, ["db", "upgrade", "--revision", older])
    assert refused.exit_code == 1
    assert f"past {older}: an upgrade never goes back" in refused.output
    unknown = runner.invoke(app, ["db", "upgrade", "--revision", "9999"])
    assert unknown.exit_code == 1
    assert "this release has no revision 9999" in unknown.output
    assert "Traceback" not in unknown.output


def test_db_current_says_what_is_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENDER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    monkeypatch.setenv("TENDER_ENV", "test")
    monkeypatch.setenv("TENDER_SECRET_KEY", "cli-test-secret-key-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    (tmp_path / "new.db").touch()
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 1
    assert "database at nothing (never migrated)" in result.output
    assert "0008" in invoke("db", "upgrade", "--revision", "0008")
    assert runner.invoke(app, ["db", "current"]).exit_code == 1
    assert "database at 0008" in runner.invoke(app, ["db", "current"]).output


def test_commands_refuse_a_database_not_at_this_releases_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never migrated, a command failed with a bare "no such table"; migrated by a newer
    release, it would write rows under rules that release changed. Either is one line saying
    what to do, before anything is written (no codes file either)."""
    monkeypatch.setenv("TENDER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    monkeypatch.setenv("TENDER_ENV", "test")
    monkeypatch.setenv("TENDER_SECRET_KEY", "cli-test-secret-key-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    out = tmp_path / "codes.csv"
    commands = [["clients", "list"], ["holds", "sweep"], issue_args(out, 1)]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert result.output.strip().splitlines() == [result.output.strip()], result.output
        assert "the database was never migrated, this release expects" in result.output
        assert "run tender db upgrade" in result.output
    invoke("db", "upgrade")

    async def newer() -> None:
        database = Database(os.environ["TENDER_DATABASE_URL"], pool_size=1)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        finally:
            await database.dispose()

    asyncio.run(newer())
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert "newer than this release" in result.output
    assert not out.exists()
    assert runner.invoke(app, ["db", "current"]).exit_code == 1


SERVER = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg")
"""The test PostgreSQL server, to name a database or role it does not have."""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            SERVER.set(database="tender_no_such_database"),
            'database "tender_no_such_database" does not exist',
        ),
        (
            SERVER.set(username="tender_no_such_role", password="pw"),
            'role "tender_no_such_role" does not exist',
        ),
        (SERVER.set(host="127.0.0.1", port=1), "Connect call failed"),
    ],
    ids=["missing-database", "unknown-role", "refused"],
)
@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["clients", "list"]])
def test_a_database_out_of_reach_is_one_line_with_the_drivers_reason(
    url: URL, reason: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``db`` commands connect before any unit of work: a refused connection ended in a
    traceback there, and elsewhere a missing database in the driver's exception class names."""
    monkeypatch.setenv("TENDER_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("TENDER_ENV", "test")
    monkeypatch.setenv("TENDER_SECRET_KEY", "cli-test-secret-key-0123456789abcdefghij")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: the database cannot be reached ("), lines
    assert reason in lines[0], lines
    assert "TENDER_DATABASE_URL" in lines[0]
    assert "DBAPIError" not in lines[0]
    assert "sqlalchemy" not in lines[0]
