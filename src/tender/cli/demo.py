"""``tender demo init``: what the demo storefront needs to be tried a minute after ``make run``.

The demo plays a merchant: its backend holds an API client's secret (in the demo file, mode
0600, beside the env file) and its page never sees it. Test cards are issued once and kept in
the same file, since a card's code cannot be shown again after it is issued. Everything here
refuses to run outside development: a demo client and free cards have no place in production.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from tender.cli.common import cli_errors, console, fail, run
from tender.config import Environment, Settings
from tender.domain.errors import DomainError
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.shipping import add_shipping_method

app = typer.Typer(help="The demo storefront (development only).", no_args_is_help=True)

DEMO_SCOPES = "manage_orders manage_payments view_sessions"
CARDS = (("EUR", 5000, False), ("EUR", 2500, True), ("EUR", 1000, False))
"""Test cards: 50.00, 25.00 with a PIN, 10.00 (enough for two cards and an invoice rest)."""


@dataclass(frozen=True, slots=True)
class TestCard:
    code: str
    pin: str | None
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class DemoState:
    client_id: str
    client_secret: str
    cards: tuple[TestCard, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, path: Path) -> DemoState | None:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            cards = tuple(TestCard(**card) for card in raw["cards"])
            return cls(str(raw["client_id"]), str(raw["client_secret"]), cards)
        except (OSError, ValueError, KeyError, TypeError):
            return None


async def _still_valid(runtime: Runtime, state: DemoState) -> bool:
    """The kept client and cards exist in this database (it may have been wiped since)."""

    async def check(conn: Any) -> bool:
        stored = await runtime.clients(conn).client_by_client_id(state.client_id)
        if stored is None or not stored.client.active:
            return False
        ledger = runtime.work(conn, actor=None).ledger
        try:
            for card in state.cards:
                await runtime.ledger.find_by_code(ledger, code=card.code)
        except DomainError:
            return False
        return True

    return await runtime.db.read(check)


async def _create(runtime: Runtime) -> DemoState:
    """A demo API client, a shipping method to Germany and the test cards, in one transaction."""

    async def create(conn: Any) -> DemoState:
        work = runtime.work(conn, actor="cli:demo")
        client, secret = await runtime.oauth.create_client(
            runtime.clients(conn), name="demo-shop", scopes=DEMO_SCOPES
        )
        if not any(
            m.active and "DE" in m.countries for m in await work.shipping.shipping_methods()
        ):
            for name, carrier, price in (("Standard", "DHL", 490), ("Express", "UPS", 990)):
                await add_shipping_method(
                    work.shipping,
                    clock=runtime.clock,
                    name=name,
                    carrier_name=carrier,
                    price=Money(price, "EUR"),
                    tax_rate_bp=1900,
                    countries=["DE"],
                )
        cards = []
        for currency, amount, with_pin in CARDS:
            (issued,) = await runtime.ledger.issue(
                work.ledger, amount=Money(amount, currency), with_pin=with_pin, actor="cli:demo"
            )
            cards.append(TestCard(issued.code, issued.pin, amount, currency))
        return DemoState(client.client_id, secret, tuple(cards))

    return await runtime.db.transaction(create)


def demo_file(settings: Settings) -> Path:
    return Path(settings.demo_file)


@app.command("init")
@cli_errors
def init(
    url: Annotated[
        str | None,
        typer.Option(help="Where the service answers; defaults to TENDER_HOST and TENDER_PORT."),
    ] = None,
) -> None:
    """Create the demo's API client, shipping methods and test cards once, then print the
    shop's address and the cards."""
    settings = Settings()
    url = url or settings.local_url
    if settings.env is not Environment.DEVELOPMENT:
        raise fail("the demo storefront runs with TENDER_ENV=development only")
    path = demo_file(settings)

    async def work(runtime: Runtime) -> DemoState:
        kept = DemoState.read(path)
        if kept is not None and await _still_valid(runtime, kept):
            return kept
        state = await _create(runtime)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a file already there keeps its mode through open()
        with os.fdopen(descriptor, "w") as out:
            out.write(state.to_json())
        return state

    state = run(work)
    console.print(f"Demo shop: {url.rstrip('/')}/demo", highlight=False, soft_wrap=True)
    console.print("Test gift cards:")
    for card in state.cards:
        pin = f"  PIN {card.pin}" if card.pin else ""
        amount = Money(card.amount, card.currency)
        console.print(f"  {card.code}  {amount}{pin}", highlight=False, soft_wrap=True)
