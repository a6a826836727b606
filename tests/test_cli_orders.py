"""``tender shipping-methods`` and ``tender orders`` against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from tender.cli import app
from tender.config import Settings
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.money import Money
from tender.runtime import Runtime
from tests.checkout.conftest import OWNER, ready_cart
from tests.test_cli import cli_env  # noqa: F401 - the fixture, on both databases

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def place_order(method_id: int) -> str:
    runtime = Runtime(Settings())
    try:
        card = (
            await runtime.db.transaction(
                lambda c: runtime.ledger.issue(SqlLedgerStore(c), amount=Money(10_000, "EUR"))
            )
        )[0]

        async def work(conn: AsyncConnection) -> str:
            w = runtime.work(conn, actor="test")
            view = await ready_cart(
                runtime, w, unit=4000, quantity=2, email="a@b.de", shipping=method_id
            )
            await runtime.carts.add_gift_card(
                w, cart_id=view.cart.id, owner=OWNER, code=card.code, pin=None
            )
            placed = await runtime.orders.place(
                w, cart_id=view.cart.id, owner=OWNER, reference="CLI-1"
            )
            return placed.order.reference

        return await runtime.db.transaction(work)
    finally:
        await runtime.close()


def test_shipping_methods_and_orders(cli_env: Path) -> None:  # noqa: F811
    added = invoke(
        "shipping-methods",
        "add",
        "--name",
        "Standard",
        "--price",
        "4.90",
        "--currency",
        "EUR",
        "--tax-rate",
        "19.00",
        "--carrier",
        "DHL",
        "--free-above",
        "100.00",
        "--countries",
        "de,at",
        "--localized-name",
        "de=Standardversand",
    )
    assert "Standard (de=Standardversand), 4.90 EUR" in added
    listed = invoke("shipping-methods", "list")
    assert "Standard" in listed
    assert "DE,AT" in listed
    method_id = int(added.split()[2].rstrip(":"))
    reference = asyncio.run(place_order(method_id))
    shown = invoke("orders", "show", reference)
    assert "Processing" in shown
    assert "84.90 EUR" in shown
    assert "Authorization" in shown  # the gift card's reservation, as a transaction
    assert "****" in shown
    assert reference in invoke("orders", "list", "--state", "Processing")
    assert reference not in invoke("orders", "list", "--state", "Completed")


def test_checkout_cli_errors(cli_env: Path) -> None:  # noqa: F811
    def method(price: str, *more: str) -> list[str]:
        """``shipping-methods add`` of a method named X in EUR, with ``more`` options."""
        add = ["shipping-methods", "add", "--name", "X", "--price", price, "--currency", "EUR"]
        return [*add, *more]

    for args, message in (
        (["orders", "show", "NOPE"], "OrderNotFound"),
        (["orders", "list", "--state", "Lost"], "unknown state"),
        (method("4.999"), "fraction digits"),
        (method("-1"), "negative"),
        (method("1", "--tax-rate", "abc"), "tax rate"),
        (method("1", "--localized-name", "Deutsch"), "language=name"),
        (method("1", "--localized-name", "German=Standardversand"), "ISO 639"),
        (method("1", "--countries", "Germany"), "country"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
