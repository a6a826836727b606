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
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError
from tender.domain.ledger import CardStatus
from tender.domain.money import Money
from tender.domain.principals import parse_scopes
from tender.runtime import Runtime
from tender.services.shipping import add_shipping_method

app = typer.Typer(help="The demo storefront (development only).", no_args_is_help=True)

DEMO_SCOPES = "manage_orders manage_payments view_sessions"
DEMO_CLIENT = "demo-shop"
DEMO_ACTOR = "cli:demo"
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


async def _balances(runtime: Runtime, state: DemoState) -> list[Money] | None:
    """What each kept card has left, if the kept client and cards exist in this database (it
    may have been wiped since) and the cards can still pay."""

    async def check(conn: Any) -> list[Money] | None:
        stored = await runtime.clients(conn).client_by_client_id(state.client_id)
        if stored is None or not stored.client.active:
            return None
        ledger = runtime.work(conn, actor=None).ledger
        left = []
        try:
            for card in state.cards:
                found = await runtime.ledger.find_by_code(ledger, code=card.code)
                if found.status is not CardStatus.ACTIVE:
                    return None
                left.append(found.balance())
        except DomainError:
            return None
        return left

    return await runtime.db.read(check)


async def _create(runtime: Runtime, client: tuple[str, str] | None = None) -> DemoState:
    """The test cards, and unless ``client`` (its id and secret) is kept, a demo API client and
    shipping methods to Germany, in one transaction."""

    async def create(conn: Any) -> DemoState:
        work = runtime.work(conn, actor=DEMO_ACTOR)
        if client is None:
            made, secret = await runtime.oauth.create_client(
                runtime.clients(conn), name=DEMO_CLIENT, scopes=DEMO_SCOPES
            )
            client_id = made.client_id
            await _shipping(runtime, work)
        else:
            client_id, secret = client
        cards = []
        for currency, amount, with_pin in CARDS:
            (issued,) = await runtime.ledger.issue(
                work.ledger, amount=Money(amount, currency), with_pin=with_pin, actor=DEMO_ACTOR
            )
            cards.append(TestCard(issued.code, issued.pin, amount, currency))
        return DemoState(client_id, secret, tuple(cards))

    return await runtime.db.transaction(create)


async def _shipping(runtime: Runtime, work: Work) -> None:
    if any(m.active and "DE" in m.countries for m in await work.shipping.shipping_methods()):
        return
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
    """Create the demo's API client, shipping methods and test cards once (new cards once all
    are spent), then print the shop's address and what each card has left."""
    settings = Settings()
    url = url or settings.local_url
    if settings.env is not Environment.DEVELOPMENT:
        raise fail("the demo storefront runs with TENDER_ENV=development only")
    path = demo_file(settings)

    async def work(runtime: Runtime) -> tuple[DemoState, list[Money]]:
        kept = DemoState.read(path)
        left = None if kept is None else await _balances(runtime, kept)
        if kept is not None and left is not None and any(m.minor > 0 for m in left):
            return kept, left
        # Nothing kept here, or every test card spent: new cards (for the kept client).
        client = (kept.client_id, kept.client_secret) if kept and left is not None else None
        state = await _create(runtime, client)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a file already there keeps its mode through open()
        with os.fdopen(descriptor, "w") as out:
            out.write(state.to_json())
        return state, [Money(card.amount, card.currency) for card in state.cards]

    state, left = run(work)
    console.print(f"Demo shop: {url.rstrip('/')}/demo", highlight=False, soft_wrap=True)
    console.print("Test gift cards (what each has left):")
    for card, balance in zip(state.cards, left, strict=True):
        pin = f"  PIN {card.pin}" if card.pin else ""
        console.print(f"  {card.code}  {balance}{pin}", highlight=False, soft_wrap=True)


async def demo_clients(runtime: Runtime) -> list[str]:
    """The active API clients ``demo init`` made here (its name and scopes): a database the
    demo ran on, moved to production, still lets anyone holding the demo file's secret in."""
    scopes = parse_scopes(DEMO_SCOPES)

    async def read(conn: Any) -> list[str]:
        found = await runtime.clients(conn).list_clients()
        return [
            c.client_id for c in found if c.active and c.name == DEMO_CLIENT and c.scopes == scopes
        ]

    return await runtime.db.read(read)


@app.command("remove")
@cli_errors
def remove() -> None:
    """Disable the demo's API client and the test cards of the demo file, before a database the
    demo ran on serves a real shop (``tender serve`` refuses one in production until then)."""
    settings = Settings()
    kept = DemoState.read(demo_file(settings))

    async def work(runtime: Runtime) -> tuple[list[str], int]:
        clients = await demo_clients(runtime)

        async def unit(conn: Any) -> int:
            for client_id in clients:
                await runtime.clients(conn).set_client_active(client_id, False)
            ledger = runtime.work(conn, actor=DEMO_ACTOR).ledger
            disabled = 0
            for card in kept.cards if kept is not None else ():
                try:
                    found = await runtime.ledger.find_by_code(ledger, code=card.code)
                except DomainError:
                    continue  # not on this database
                if found.status is CardStatus.ACTIVE:
                    await runtime.ledger.set_status(
                        ledger, card_id=found.id, status=CardStatus.DISABLED, actor=DEMO_ACTOR
                    )
                    disabled += 1
            return disabled

        return clients, await runtime.db.transaction(unit)

    clients, cards = run(work)
    for client_id in clients:
        console.print(f"disabled the demo's API client {client_id}", soft_wrap=True)
    console.print(f"disabled {cards} test card{'' if cards == 1 else 's'} of the demo file")
