"""``tender cards``: issue gift cards in bulk, look them up by code, and correct them.

Amounts are decimal strings in major units ("50.00"), converted exactly with the currency's
fraction digits; "50.001" EUR is refused, never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tender.cli.codes_output import Codes, CodesFile, TerminalCodes
from tender.cli.common import cli_errors, console, err_console, fail, print_whole, run
from tender.domain.checkout_ports import Work
from tender.domain.codes import mask
from tender.domain.errors import CardNotFound
from tender.domain.ledger import Activity, Card, CardStatus
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.ledger import LOAD, IssuedCard

app = typer.Typer(help="Gift cards.", no_args_is_help=True)
CHUNK = 10_000
"""Cards per transaction in a batch; each chunk's codes are given out before it commits."""
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


async def _settle_failed_chunk(runtime: Runtime, codes: Codes, card_id: str) -> bool:
    """After a chunk's transaction raised: ask the database whether the chunk (all of it or
    none) was committed, say so after its codes, and return whether it was."""
    try:
        await runtime.db.read(
            lambda conn: runtime.ledger.get(runtime.work(conn, actor=CLI).ledger, card_id=card_id)
        )
    except CardNotFound:
        codes.mark("VOID", "were not issued: their transaction failed; do not use them")
        return False
    except Exception:
        err_console.print(
            f"the last {codes.pending} codes in {codes.where} may belong to cards that were "
            "not issued: check them with `tender cards show` before use"
        )
        codes.mark("UNCONFIRMED", "may not be issued: check them with `tender cards show`")
        return False
    err_console.print(
        f"the last chunk was committed after all; its codes are in {codes.where}", soft_wrap=True
    )
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
    """Issues an order ``CHUNK`` cards at a time, each chunk in one transaction, its codes
    given out (``Codes``) before it commits."""

    def __init__(self, runtime: Runtime, order: Order, codes: Codes) -> None:
        self.runtime = runtime
        self.order = order
        self.codes = codes
        self.done = 0
        self._chunk_ids: list[str] = []

    async def run(self) -> None:
        count = self.order.count
        try:
            with _progress(count) as progress:
                task = progress.add_task("issue", total=count)
                while self.done < count:
                    await self._next_chunk(min(CHUNK, count - self.done))
                    progress.update(task, completed=self.done)
        finally:
            self.codes.close()
            if self.done < count:
                where = f"; see {self.codes.where}" if self.done else ""
                err_console.print(f"{self.done} of {count} cards were issued{where}")

    async def _next_chunk(self, size: int) -> None:
        codes = self.codes
        try:
            await self.runtime.db.transaction(
                lambda conn: self._issue(self.runtime.work(conn, actor=CLI), size)
            )
        except Exception:
            if codes.pending:
                if await _settle_failed_chunk(self.runtime, codes, self._chunk_ids[0]):
                    self.done += size
            raise
        except BaseException:  # interrupted: no time to ask the database
            if codes.pending:
                codes.mark("UNCONFIRMED", "may not be issued: the run was interrupted")
            raise
        codes.committed()
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
    run(
        lambda runtime: ChunkedIssue(
            runtime, order, CodesFile(out) if out else TerminalCodes()
        ).run()
    )
    if out:
        console.print(f"issued {count} cards of {money}; codes written to {out}", soft_wrap=True)
        return
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
    print_whole(console, table)


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
    print_whole(console, table)


@app.command("load")
@cli_errors
def load(
    code: str,
    amount: Annotated[str, typer.Option(help='Major units, e.g. "25.00".')],
    reference: Annotated[
        str | None,
        typer.Option(
            help="Your reference for this load (an invoice, a ticket). Given, the load is "
            "made once: sent again (say after a lost answer) under the same reference, it is "
            "refused and the card is not loaded twice."
        ),
    ] = None,
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
                once=reference is not None,
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
