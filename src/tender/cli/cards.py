"""``tender cards``: issue gift cards in bulk, look them up by code, and correct them.

Amounts are decimal strings in major units ("50.00"), converted exactly with the currency's
fraction digits; "50.001" EUR is refused, never rounded.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tender.cli.common import cli_errors, console, fail, run
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.codes import mask
from tender.domain.ledger import Activity, Card
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.ledger import IssuedCard

app = typer.Typer(help="Gift cards.", no_args_is_help=True)
CHUNK = 10_000
"""Cards per transaction in a batch: each committed chunk's codes are in the file before the
next chunk starts, so an interrupted batch never leaves cards whose codes were lost."""
CSV_FIELDS = ["code", "pin", "id", "amount", "currency", "expires_at"]


def _parse_expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--expires {text!r} is not a date (YYYY-MM-DD) or ISO datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _open_private(path: Path) -> TextIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", newline="")


def _row(issued: IssuedCard) -> list[str]:
    card = issued.card
    expires = card.expires_at.isoformat() if card.expires_at else ""
    return [
        issued.code,
        issued.pin or "",
        card.id,
        Money(card.posted, card.currency).format(),
        card.currency,
        expires,
    ]


@app.command("issue")
@cli_errors
def issue(
    amount: Annotated[str, typer.Option(help='Balance of each card in major units, e.g. "50.00".')],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. EUR.")],
    count: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1,
    expires: Annotated[
        str | None, typer.Option(help="Expiry date (YYYY-MM-DD, end of day UTC).")
    ] = None,
    pin: Annotated[bool, typer.Option("--pin", help="Give every card a random PIN.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write codes and PINs to this CSV (mode 0600).")
    ] = None,
) -> None:
    """Issue gift cards. Codes and PINs are shown once: here or in --out."""
    money = Money.parse(amount, currency.upper())
    if money.minor < 0:
        raise fail("the amount must not be negative")
    expires_at = _parse_expiry(expires)
    if count > 20 and out is None:
        raise fail("more than 20 cards need --out FILE for their codes")

    async def work(runtime: Runtime) -> list[list[str]]:
        rows: list[list[str]] = []
        handle = _open_private(out) if out else None
        writer = csv.writer(handle) if handle else None
        if writer:
            writer.writerow(CSV_FIELDS)
        try:
            with Progress(
                TextColumn("issuing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=count < CHUNK,
            ) as progress:
                task = progress.add_task("issue", total=count)
                done = 0
                while done < count:
                    size = min(CHUNK, count - done)
                    issued = await runtime.db.transaction(
                        lambda conn, size=size: runtime.ledger.issue(  # type: ignore[misc]
                            SqlLedgerStore(conn),
                            amount=money,
                            count=size,
                            with_pin=pin,
                            expires_at=expires_at,
                            actor="cli",
                        )
                    )
                    chunk_rows = [_row(i) for i in issued]
                    if writer and handle:
                        writer.writerows(chunk_rows)
                        handle.flush()
                    else:
                        rows.extend(chunk_rows)
                    done += size
                    progress.update(task, completed=done)
        finally:
            if handle:
                handle.close()
        return rows

    rows = run(work)
    if out:
        console.print(f"issued {count} cards of {money}; codes written to {out}")
        return
    table = Table()
    for name in CSV_FIELDS:
        table.add_column(name, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"issued {count} card(s) of {money}. [yellow]Codes are shown only now.[/]")


async def _find(runtime: Runtime, code: str) -> Card:
    return await runtime.db.read(
        lambda conn: runtime.ledger.find_by_code(SqlLedgerStore(conn), code=code)
    )


def _show(card: Card) -> None:
    table = Table(show_header=False)
    for label, value in [
        ("id", card.id),
        ("code", mask(card.code_last4)),
        ("status", card.status.value),
        ("posted", str(Money(card.posted, card.currency))),
        ("held", str(Money(card.held, card.currency))),
        ("available", str(Money(card.available, card.currency))),
        ("pin", "required" if card.pin_required else "none"),
        ("expires", card.expires_at.isoformat() if card.expires_at else "never"),
        ("version", str(card.version)),
    ]:
        table.add_row(label, value)
    console.print(table)


@app.command("show")
@cli_errors
def show(code: str) -> None:
    """Show a card by its code (no PIN needed here: this is the operator's console)."""
    _show(run(lambda runtime: _find(runtime, code)))


@app.command("history")
@cli_errors
def history(code: str, limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200) -> None:
    """Every movement of a card, oldest first."""

    async def work(runtime: Runtime) -> list[Activity]:
        card = await _find(runtime, code)
        page = await runtime.db.read(
            lambda conn: runtime.ledger.history(SqlLedgerStore(conn), card_id=card.id, limit=limit)
        )
        return page.items

    table = Table("when", "type", "amount", "posted", "held", "reference", "actor")
    for a in run(work):
        table.add_row(
            a.created_at.isoformat(timespec="seconds"),
            a.type.value,
            Money(a.amount, a.currency).format(),
            Money(a.posted_after, a.currency).format(),
            Money(a.held_after, a.currency).format(),
            a.reference or "",
            a.actor or "",
        )
    console.print(table)


@app.command("load")
@cli_errors
def load(
    code: str,
    amount: Annotated[str, typer.Option(help='Major units, e.g. "25.00".')],
    reference: str | None = None,
) -> None:
    """Add money to a card."""

    async def work(runtime: Runtime) -> Card:
        card = await _find(runtime, code)
        money = Money.parse(amount, card.currency)
        return await runtime.db.transaction(
            lambda conn: runtime.ledger.load(
                SqlLedgerStore(conn),
                card_id=card.id,
                amount=money,
                reference=reference,
                actor="cli",
            )
        )

    _show(run(work))


def _status_command(name: str) -> None:
    @app.command(name)
    @cli_errors
    def command(code: str) -> None:
        async def work(runtime: Runtime) -> Card:
            card = await _find(runtime, code)
            operation = runtime.ledger.disable if name == "disable" else runtime.ledger.enable
            return await runtime.db.transaction(
                lambda conn: operation(SqlLedgerStore(conn), card_id=card.id, actor="cli")
            )

        _show(run(work))

    command.__doc__ = f"{name.capitalize()} a card."


_status_command("disable")
_status_command("enable")
