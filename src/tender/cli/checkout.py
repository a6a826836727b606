"""``tender shipping-methods`` and ``tender orders``: configure shipping, look at orders."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.cli.common import cli_errors, console, fail, print_whole, run
from tender.domain.money import Money
from tender.domain.orders import OrderState
from tender.domain.shipping import ShippingMethod
from tender.domain.totals import format_tax_rate, parse_tax_rate
from tender.runtime import Runtime
from tender.services.orders import OrderView
from tender.services.shipping import add_shipping_method

shipping_app = typer.Typer(help="Shipping methods.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders.", no_args_is_help=True)


@shipping_app.command("add")
@cli_errors
def shipping_add(
    name: Annotated[str, typer.Option(help="Shown to shoppers, e.g. Standard.")],
    price: Annotated[str, typer.Option(help='Gross price in major units, e.g. "4.90".')],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
    tax_rate: Annotated[str, typer.Option(help='Percent, e.g. "19.00".')] = "0",
    carrier: Annotated[str, typer.Option(help="Carrier name.")] = "tender",
    free_above: Annotated[str | None, typer.Option(help="Free from this subtotal.")] = None,
    countries: Annotated[str, typer.Option(help="Comma-separated codes; empty: all.")] = "",
    delivery_time: Annotated[str | None, typer.Option(help='e.g. "1-2 days".')] = None,
    localized_name: Annotated[
        list[str] | None,
        typer.Option(help='The name in another language, e.g. "de=Standardversand"; repeat.'),
    ] = None,
) -> None:
    """Configure a shipping method."""
    money = Money.parse(price, currency.upper())
    if money.minor < 0:
        raise fail("the price must not be negative")
    threshold = Money.parse(free_above, money.currency) if free_above else None
    rate = parse_tax_rate(tax_rate)
    codes = [c.strip().upper() for c in countries.split(",") if c.strip()]
    names = {}
    for given in localized_name or ():
        language, sep, text = given.partition("=")
        if not sep:
            raise fail(f"--localized-name {given!r}: write it as language=name")
        names[language.strip()] = text

    async def work(runtime: Runtime) -> ShippingMethod:
        return await runtime.db.transaction(
            lambda conn: add_shipping_method(
                runtime.work(conn, actor="cli").shipping,
                clock=runtime.clock,
                name=name,
                carrier_name=carrier,
                price=money,
                tax_rate_bp=rate,
                free_above=threshold,
                countries=codes,
                delivery_time=delivery_time,
                names=names,
            )
        )

    method = run(work)
    console.print(f"shipping method {method.id}: {_named(method)}, {money}", soft_wrap=True)


def _named(method: ShippingMethod) -> str:
    """The name, and the names per language the merchant gave it."""
    names = " ".join(f"{lang}={name}" for lang, name in sorted(method.names.items()))
    return f"{method.name} ({names})" if names else method.name


@shipping_app.command("list")
@cli_errors
def shipping_list() -> None:
    """List shipping methods."""

    async def work(runtime: Runtime) -> list[ShippingMethod]:
        return await runtime.db.read(
            lambda conn: runtime.work(conn, actor=None).shipping.shipping_methods()
        )

    table = Table("id", "name", "carrier", "price", "tax", "free above", "countries")
    for m in run(work):
        table.add_row(
            str(m.id),
            _named(m),
            m.carrier_name,
            str(Money(m.price, m.currency)),
            format_tax_rate(m.tax_rate_bp),
            str(Money(m.free_above, m.currency)) if m.free_above is not None else "",
            ",".join(m.countries) or "all",
        )
    print_whole(console, table)


@orders_app.command("show")
@cli_errors
def orders_show(reference: str) -> None:
    """Show an order (by reference or id) with its payments and their transactions."""

    async def work(runtime: Runtime) -> OrderView:
        return await runtime.db.read(
            lambda conn: runtime.orders.get(
                runtime.work(conn, actor=None), order_id=reference, owner=None
            )
        )

    view = run(work)
    order = view.order
    totals = order.snapshot.get("totals", {})
    console.print(
        f"order {order.reference} ({order.id})  state {order.state.value}", soft_wrap=True
    )
    for label, key in (
        ("grand total", "grandTotal"),
        ("gift cards", "giftCards"),
        ("remaining", "remaining"),
        ("tax", "tax"),
    ):
        console.print(f"  {label:12} {Money(int(totals.get(key, 0)), order.currency)}")
    table = Table("payment", "method", "status", "planned", "transactions")
    for p in view.payments:
        method = f"gift card ****{p.card_last4}" if p.is_gift_card else p.method
        history = ", ".join(
            f"{t.type.value} {t.state.value} {Money(t.amount, t.currency).format()}"
            for t in p.transactions
        )
        table.add_row(
            p.id, method, p.status.value, str(Money(p.amount_planned, p.currency)), history
        )
    print_whole(console, table)


@orders_app.command("list")
@cli_errors
def orders_list(
    state: Annotated[
        str | None, typer.Option(help="Checkout, Processing, Completed, Cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List orders, oldest first."""
    try:
        wanted = OrderState(state) if state else None
    except ValueError:
        raise fail(
            f"unknown state {state!r}; use one of " + ", ".join(s.value for s in OrderState)
        ) from None

    async def work(runtime: Runtime) -> list[tuple[str, str, str, str]]:
        async def read(conn: AsyncConnection) -> list[tuple[str, str, str, str]]:
            page = await runtime.work(conn, actor=None).orders.list_orders(
                owner=None, state=wanted, after=None, limit=limit
            )
            return [
                (
                    o.reference,
                    o.state.value,
                    str(Money(o.grand_total, o.currency)),
                    o.created_at.isoformat(timespec="seconds"),
                )
                for o in page.items
            ]

        return await runtime.db.read(read)

    table = Table("reference", "state", "total", "created")
    for row in run(work):
        table.add_row(*row)
    print_whole(console, table)
