"""``tender cards``: issue gift cards in bulk, look them up by code, and correct them.

Amounts are decimal strings in major units ("50.00"), converted exactly with the currency's
fraction digits; "50.001" EUR is refused, never rounded.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tender.cli.common import cli_errors, console, err_console, fail, run
from tender.domain.checkout_ports import Work
from tender.domain.codes import mask
from tender.domain.errors import CardNotFound
from tender.domain.ledger import Activity, Card, CardStatus
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.ledger import LOAD, IssuedCard

app = typer.Typer(help="Gift cards.", no_args_is_help=True)
CHUNK = 10_000
"""Cards per transaction in a batch; each chunk's codes are on disk before it commits."""
CSV_FIELDS = ["code", "pin", "id", "amount", "currency", "expires_at"]
CLI = "cli"
"""The actor the ledger records for what an operator does here."""


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


class CodesFile:
    """The CSV that holds the only copy of a batch's codes and PINs.

    The invariant: every committed card's code is on disk. So a chunk's rows are written,
    flushed and fsynced *inside* its transaction, before the commit. If the transaction then
    fails, the rows stay (a commit whose answer was lost may still have landed, and a card
    without its code is money nobody can spend) and a marker row after them says they are void
    (the database has none of those cards) or unconfirmed (it could not be asked). A code on
    disk for a card that does not exist opens nothing. Only after SIGKILL between the fsync and
    the commit can unmarked rows of unissued cards end the file; ``tender cards show`` on the
    last row tells.

    The file must not exist: truncating one could destroy the codes of an earlier batch, and
    ``O_EXCL`` also refuses a symlink planted at the path. Its mode is 0600 whatever the umask.
    """

    def __init__(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise fail(
                f"{path} exists: codes are written to a new file only (it may hold the codes "
                "of an earlier batch); choose another --out"
            ) from None
        except OSError as error:
            raise fail(f"cannot create {path}: {error.strerror}") from None
        os.fchmod(fd, 0o600)
        self.path = path
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self._append([CSV_FIELDS])
        _fsync_directory(path)
        self.committed_at = self.handle.tell()
        self.pending = 0
        """Rows written since the last commit."""

    def _append(self, rows: list[list[str]]) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        self.handle.write(text.getvalue().encode())
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def write_chunk(self, rows: list[list[str]]) -> None:
        """Called inside the chunk's transaction, again if the transaction is retried: a
        retried transaction was refused by the database (a serialization failure or deadlock),
        so the rows of its earlier attempt belong to no card and are replaced."""
        self.pending = len(rows)  # before writing: rows a failed write left half are marked too
        try:
            self.handle.seek(self.committed_at)
            self.handle.truncate()
            self._append(rows)
        except OSError as error:  # not the database's: an ``OSError`` would be taken for it
            raise fail(f"cannot write {self.path}: {error.strerror or error}") from error

    def committed(self) -> None:
        self.committed_at = self.handle.tell()
        self.pending = 0

    def mark(self, verdict: str, reason: str) -> None:
        note = f"# {verdict}: the {self.pending} rows above ({reason})"
        self._append([[note, "", "", "", "", ""]])
        self.committed()

    def close(self) -> None:
        self.handle.close()


def _fsync_directory(path: Path) -> None:
    """Make the new file's directory entry durable too, not only its contents."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _settle_failed_chunk(runtime: Runtime, codes: CodesFile, card_id: str) -> bool:
    """After a chunk's transaction raised: ask the database whether the chunk (all of it or
    none) was committed, say so in the file, and return whether it was."""
    try:
        await runtime.db.read(
            lambda conn: runtime.ledger.get(runtime.work(conn, actor=CLI).ledger, card_id=card_id)
        )
    except CardNotFound:
        codes.mark("VOID", "were not issued: their transaction failed; do not use them")
        return False
    except Exception:
        err_console.print(
            f"the last {codes.pending} rows of {codes.path} may belong to cards that were not "
            "issued: check them with `tender cards show` before use"
        )
        codes.mark("UNCONFIRMED", "may not be issued: check them with `tender cards show`")
        return False
    err_console.print(f"the last chunk was committed after all; its codes are in {codes.path}")
    codes.committed()
    return True


@dataclass(frozen=True, slots=True)
class Order:
    """What ``tender cards issue`` was asked for."""

    money: Money
    count: int
    expires_at: datetime | None
    pin: bool


class ChunkedIssue:
    """Issues an order ``CHUNK`` cards at a time, each chunk in one transaction. With a codes
    file, each chunk's codes are on disk before it commits (see ``CodesFile``); without one,
    the rows are kept to be shown once at the end."""

    def __init__(self, runtime: Runtime, order: Order, codes: CodesFile | None) -> None:
        self.runtime = runtime
        self.order = order
        self.codes = codes
        self.rows: list[list[str]] = []
        self.done = 0
        self._chunk_ids: list[str] = []

    async def run(self) -> list[list[str]]:
        count = self.order.count
        try:
            with _progress(count) as progress:
                task = progress.add_task("issue", total=count)
                while self.done < count:
                    await self._next_chunk(min(CHUNK, count - self.done))
                    progress.update(task, completed=self.done)
        finally:
            if self.codes:
                self.codes.close()
                if self.done < count:
                    err_console.print(
                        f"{self.done} of {count} cards were issued; see {self.codes.path}"
                    )
        return self.rows

    async def _next_chunk(self, size: int) -> None:
        codes = self.codes
        try:
            issued = await self.runtime.db.transaction(
                lambda conn: self._issue(self.runtime.work(conn, actor=CLI), size)
            )
        except Exception:
            if codes and codes.pending:
                if await _settle_failed_chunk(self.runtime, codes, self._chunk_ids[0]):
                    self.done += size
            raise
        except BaseException:  # interrupted: no time to ask the database
            if codes and codes.pending:
                codes.mark("UNCONFIRMED", "may not be issued: the run was interrupted")
            raise
        if codes:
            codes.committed()
        else:
            self.rows.extend(_row(i) for i in issued)
        self.done += size

    async def _issue(self, work: Work, size: int) -> list[IssuedCard]:
        order = self.order
        issued = await self.runtime.ledger.issue(
            work.ledger,
            amount=order.money,
            count=size,
            with_pin=order.pin,
            expires_at=order.expires_at,
            actor=CLI,
        )
        # Before the rows are written: a failed write is settled by asking about these cards.
        self._chunk_ids[:] = [i.card.id for i in issued]
        if self.codes:
            self.codes.write_chunk([_row(i) for i in issued])
        return issued


def _progress(count: int) -> Progress:
    return Progress(
        TextColumn("issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=count < CHUNK,
    )


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
        Path | None,
        typer.Option(help="Write codes and PINs to this new CSV (mode 0600; must not exist)."),
    ] = None,
) -> None:
    """Issue gift cards. Codes and PINs are shown once: here or in --out, where each chunk of
    cards is on disk before it is committed."""
    money = Money.parse(amount, currency.upper())
    if money.minor < 0:
        raise fail("the amount must not be negative")
    order = Order(money, count, _parse_expiry(expires), pin)
    if count > 20 and out is None:
        raise fail("more than 20 cards need --out FILE for their codes")
    rows = run(lambda runtime: ChunkedIssue(runtime, order, CodesFile(out) if out else None).run())
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
        lambda conn: runtime.ledger.find_by_code(runtime.work(conn, actor=CLI).ledger, code=code)
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
            lambda conn: runtime.ledger.history(
                runtime.work(conn, actor=CLI).ledger, card_id=card.id, limit=limit
            )
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
            lambda conn: runtime.ledger.post(
                runtime.work(conn, actor=CLI).ledger,
                LOAD,
                card_id=card.id,
                amount=money,
                reference=reference,
                actor=CLI,
            )
        )

    _show(run(work))


def _status_command(name: str) -> None:
    @app.command(name)
    @cli_errors
    def command(code: str) -> None:
        async def work(runtime: Runtime) -> Card:
            card = await _find(runtime, code)
            status = CardStatus.DISABLED if name == "disable" else CardStatus.ACTIVE
            return await runtime.db.transaction(
                lambda conn: runtime.ledger.set_status(
                    runtime.work(conn, actor=CLI).ledger, card_id=card.id, status=status, actor=CLI
                )
            )

        _show(run(work))

    command.__doc__ = f"{name.capitalize()} a card."


_status_command("disable")
_status_command("enable")
