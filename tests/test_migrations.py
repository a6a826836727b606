"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    LargeBinary,
    String,
    Table,
    column,
    delete,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    revisions,
    upgrade,
)
from tender.db.models import Base
from tender.db.types import UTCDateTime
from tender.domain.customers import Address, address_document, address_from_document
from tender.domain.ledger import Card
from tests.conftest import create_pg_database, drop_pg_database


def downgrade_to(revision: str) -> Callable[[Connection], None]:
    """Alembic's downgrade to ``revision``, for ``run_sync`` inside a transaction."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return run


def test_the_revisions_read_from_the_files_are_alembics_own() -> None:
    """Workers and the CLI read the shipped revisions without importing Alembic
    (``tender.db.migrate``): Alembic's own reading of the same files must agree."""
    script = ScriptDirectory.from_config(alembic_config())
    assert revisions() == tuple(r.revision for r in reversed(list(script.walk_revisions())))
    assert head_revision() == script.get_current_head()


async def test_schema_matches_models(db: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await current_revision(db.engine) == head_revision()


async def _fresh(kind: str, tmp_path: Path) -> Database:
    if kind == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}")
    return Database(await create_pg_database())


def _legacy_cards() -> Table:
    return table(
        "cards",
        column("id", String()),
        column("code_hash", LargeBinary()),
        column("code_last4", String()),
        column("pin_hash", LargeBinary()),
        column("currency", String()),
        column("status", String()),
        column("posted", Integer()),
        column("held", Integer()),
        column("version", Integer()),
        column("failed_pin_attempts", Integer()),
        column("locked_until", UTCDateTime()),
        column("expires_at", UTCDateTime()),
        column("metadata", JSON()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_0003_keeps_locked_cards_locked_and_counted_failures_counted(
    kind: str, tmp_path: Path
) -> None:
    database = await _fresh(kind, tmp_path)
    now = datetime.now(UTC)
    legacy = {
        # (failed_pin_attempts, locked_until) under the old rule
        "locked": (0, now + timedelta(minutes=10)),
        "failing": (3, None),
        "lock-over": (0, now - timedelta(minutes=1)),
        "clean": (0, None),
    }
    try:
        await upgrade(database.engine, "0002")
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(_legacy_cards()),
                [
                    {
                        "id": name,
                        "code_hash": name.encode().ljust(32, b"-"),
                        "code_last4": "1234",
                        "pin_hash": b"p" * 32,
                        "currency": "EUR",
                        "status": "active",
                        "posted": 100,
                        "held": 0,
                        "version": 1,
                        "failed_pin_attempts": attempts,
                        "locked_until": until,
                        "expires_at": None,
                        "metadata": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for name, (attempts, until) in legacy.items()
                ],
            )
            await conn.execute(
                text("INSERT INTO rate_limits (key, window_start, count) VALUES ('k', 600, 3)")
            )
        await upgrade(database.engine)

        async def read(conn: Any) -> dict[str, Card]:
            store = SqlLedgerStore(conn)
            return {card.id: card for card in await store.get_cards(list(legacy))}

        migrated = await database.read(read)
        assert migrated["locked"].pin_locked(now, 100)
        assert migrated["locked"].pin_window_ends_at == legacy["locked"][1]
        failing = migrated["failing"]
        assert failing.failed_pin_attempts == 3
        assert failing.pin_window_ends_at is not None
        assert failing.pin_window_ends_at > now
        assert not failing.pin_locked(now, 5)
        assert not migrated["lock-over"].pin_locked(now, 1)
        assert migrated["clean"].failed_pin_attempts == 0
        assert migrated["clean"].pin_window_ends_at is None
        async with database.engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT window_start, expires_at FROM rate_limits"))
            ).one()
        assert tuple(row) == (600, 660)

        # And back: the lock is the old kind of lock again.

        async with database.engine.begin() as conn:
            await conn.run_sync(downgrade_to("0002"))
        cards = _legacy_cards()
        async with database.engine.connect() as conn:
            rows = await conn.execute(
                select(cards.c.id, cards.c.failed_pin_attempts, cards.c.locked_until)
            )
            back = {r.id: (r.failed_pin_attempts, r.locked_until) for r in rows}
        assert back["locked"] == (0, legacy["locked"][1])
        assert back["failing"] == (3, None)
        assert back["clean"] == (0, None)
    finally:
        await database.dispose()
        if kind == "postgresql":
            await drop_pg_database(database.url)


GLUE_ADDRESS = {
    "salutation": "Mr",
    "firstName": "spencor",
    "lastName": "hopkin",
    "address1": "West road",
    "address2": "212",
    "address3": None,
    "zipCode": "61000",
    "city": "Berlin",
    "iso2Code": "DE",
    "company": "Spryker",
    "phone": None,
    "email": None,
}
"""A cart's address as revision 0003 stored it: all of Glue's parts, empty ones null."""


def _legacy_checkout() -> tuple[Table, Table]:
    carts = table(
        "carts",
        column("id", String()),
        column("version", Integer()),
        column("owner", String()),
        column("locked", Boolean()),
        column("currency", String()),
        column("country", String()),
        column("customer", JSON()),
        column("line_items", JSON()),
        column("shipping_address", JSON()),
        column("billing_address", JSON()),
        column("shipping_method_id", Integer()),
        column("payment_methods", JSON()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )
    orders = table(
        "orders",
        column("id", String()),
        column("reference", String()),
        column("cart_id", String()),
        column("owner", String()),
        column("state", String()),
        column("version", Integer()),
        column("currency", String()),
        column("snapshot", JSON()),
        column("grand_total", Integer()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )
    return carts, orders


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_0004_stores_addresses_and_payment_choices_by_tenders_names(
    kind: str, tmp_path: Path
) -> None:
    database = await _fresh(kind, tmp_path)
    carts, orders = _legacy_checkout()
    now = datetime.now(UTC)
    customer = {"email": "spencor@example.com", "firstName": "spencor"}
    snapshot = {
        "lineItems": [],
        "customer": customer,
        "shippingAddress": GLUE_ADDRESS,
        "billingAddress": GLUE_ADDRESS,
        "totals": {"grandTotal": 0},
    }
    cart = {
        "version": 3,
        "owner": "client:shop",
        "currency": "EUR",
        "country": "DE",
        "customer": customer,
        "line_items": [],
        "shipping_method_id": None,
        "created_at": now,
        "updated_at": now,
    }
    try:
        await upgrade(database.engine, "0003")
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(carts),
                [
                    {
                        **cart,
                        "id": "placed",
                        "locked": True,
                        "shipping_address": GLUE_ADDRESS,
                        "billing_address": GLUE_ADDRESS,
                        "payment_methods": [
                            {"paymentMethodName": "invoice", "paymentProviderName": "tender"}
                        ],
                    },
                    {
                        **cart,
                        "id": "empty",
                        "locked": False,
                        "shipping_address": None,
                        "billing_address": None,
                        "payment_methods": [],
                    },
                ],
            )
            await conn.execute(
                insert(orders).values(
                    id="order",
                    reference="TND-1",
                    cart_id="placed",
                    owner="client:shop",
                    state="Processing",
                    version=1,
                    currency="EUR",
                    snapshot=snapshot,
                    grand_total=0,
                    created_at=now,
                    updated_at=now,
                )
            )

        async def stored() -> tuple[dict[str, Any], dict[str, Any]]:
            async with database.engine.connect() as conn:
                rows = await conn.execute(
                    select(
                        carts.c.id,
                        carts.c.customer,
                        carts.c.shipping_address,
                        carts.c.billing_address,
                        carts.c.payment_methods,
                    )
                )
                found = {r.id: r for r in rows}
                kept = (await conn.execute(select(orders.c.snapshot))).scalar_one()
            return found, kept

        await upgrade(database.engine)
        found, kept = await stored()
        placed = found["placed"]
        address = address_from_document(placed.shipping_address)
        assert address == Address(
            salutation="Mr",
            first_name="spencor",
            last_name="hopkin",
            street_name="West road",
            street_number="212",
            postal_code="61000",
            city="Berlin",
            country="DE",
            company="Spryker",
        )
        assert address_document(address) == placed.shipping_address == placed.billing_address
        assert placed.payment_methods == [{"method": "invoice", "provider": "tender"}]
        assert placed.customer == customer
        assert found["empty"].shipping_address is None
        assert found["empty"].payment_methods == []
        assert kept["shippingAddress"] == kept["billingAddress"] == address_document(address)
        assert kept["customer"] == customer

        async with database.engine.begin() as conn:
            await conn.run_sync(downgrade_to("0003"))
        found, kept = await stored()
        assert found["placed"].shipping_address == GLUE_ADDRESS
        assert found["placed"].payment_methods == [
            {"paymentMethodName": "invoice", "paymentProviderName": "tender"}
        ]
        assert kept == snapshot
    finally:
        await database.dispose()
        if kind == "postgresql":
            await drop_pg_database(database.url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_0009_numbers_orders_per_client_and_keeps_them(kind: str, tmp_path: Path) -> None:
    """The orders and sessions copied (on SQLite) keep every row; afterwards a second client
    may use the first one's numbers, the first one still not twice; back down again while
    no two clients share a number."""
    database = await _fresh(kind, tmp_path)
    carts, orders = _legacy_checkout()
    sessions = table(
        "sessions",
        column("token_hash", LargeBinary()),
        column("cart_id", String()),
        column("owner", String()),
        column("metadata", JSON()),
        column("future_order_number", String()),
        column("expires_at", UTCDateTime()),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )
    now = datetime.now(UTC)
    cart = {
        "version": 1,
        "locked": False,
        "currency": "EUR",
        "country": "DE",
        "customer": {},
        "line_items": [],
        "payment_methods": [],
        "created_at": now,
        "updated_at": now,
    }
    order = {
        "state": "Processing",
        "version": 1,
        "currency": "EUR",
        "snapshot": {},
        "grand_total": 0,
        "created_at": now,
        "updated_at": now,
    }

    def session(cart_id: str, owner: str) -> dict[str, Any]:
        return {
            "token_hash": cart_id.encode().ljust(32, b"-"),
            "cart_id": cart_id,
            "owner": owner,
            "metadata": {"futureOrderNumber": "N-2"},
            "future_order_number": "N-2",
            "expires_at": now,
            "created_at": now,
            "updated_at": now,
        }

    try:
        await upgrade(database.engine, "0008")
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(carts),
                [{**cart, "id": f"{o}{n}", "owner": o} for o in ("a", "b") for n in (1, 2, 3)],
            )
            await conn.execute(
                insert(orders).values(id="o-a1", reference="N-1", cart_id="a1", owner="a", **order)
            )
            await conn.execute(insert(sessions).values(session("a2", "a")))
        await upgrade(database.engine)
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(orders).values(id="o-b1", reference="N-1", cart_id="b1", owner="b", **order)
            )
            await conn.execute(insert(sessions).values(session("b2", "b")))
        for statement in (
            insert(orders).values(id="o-a3", reference="N-1", cart_id="a3", owner="a", **order),
            insert(sessions).values(session("a3", "a")),
        ):
            with pytest.raises(IntegrityError):
                async with database.engine.begin() as conn:
                    await conn.execute(statement)
        async with database.engine.begin() as conn:
            await conn.execute(delete(orders).where(orders.c.owner == "b"))
            await conn.execute(delete(sessions).where(sessions.c.owner == "b"))
            await conn.run_sync(downgrade_to("0008"))
        async with database.engine.connect() as conn:
            assert (await conn.execute(select(orders.c.id, orders.c.reference))).all() == [
                ("o-a1", "N-1")
            ]
            kept = await conn.execute(select(sessions.c.cart_id, sessions.c.future_order_number))
            assert kept.all() == [("a2", "N-2")]
    finally:
        await database.dispose()
        if kind == "postgresql":
            await drop_pg_database(database.url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_down_below_0005_and_up_again_with_a_paid_cart(kind: str, tmp_path: Path) -> None:
    """On SQLite a batch copy of ``payments`` failed once a payment had a transaction: SQLite
    refuses to drop a table other rows reference."""
    database = await _fresh(kind, tmp_path)
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now}

    try:
        await upgrade(database.engine)
        carts, _ = _legacy_checkout()
        payments = table(
            "payments",
            *(column(n) for n in ("id", "cart_id", "method", "provider", "status", "currency")),
            *(column(n) for n in ("amount_planned", "position", "created_at", "updated_at")),
        )
        transactions = table(
            "payment_transactions",
            *(column(n) for n in ("id", "payment_id", "type", "state", "amount", "currency")),
            *(column(n) for n in ("created_at", "updated_at")),
        )
        async with database.engine.begin() as conn:
            await conn.execute(
                insert(carts).values(
                    id="c1", version=1, owner="client:a", locked=False, currency="EUR",
                    country="DE", customer={}, line_items=[], payment_methods=[], **stamp,
                )
            )  # fmt: skip
            await conn.execute(
                insert(payments).values(
                    id="p1", cart_id="c1", method="giftcard", provider="ledger",
                    status="Authorized", currency="EUR", amount_planned=500, position=1, **stamp,
                )
            )  # fmt: skip
            await conn.execute(
                insert(transactions).values(
                    id="t1", payment_id="p1", type="Authorization", state="Success", amount=500,
                    currency="EUR", **stamp,
                )
            )  # fmt: skip
        async with database.engine.begin() as conn:
            await conn.run_sync(downgrade_to("0004"))
        assert await current_revision(database.engine) == "0004"
        await upgrade(database.engine)
        async with database.engine.connect() as conn:
            kept = await conn.execute(select(transactions.c.id, transactions.c.payment_id))
            assert kept.all() == [("t1", "p1")]
    finally:
        await database.dispose()
        if kind == "postgresql":
            await drop_pg_database(database.url)


async def test_an_upgrade_cancelled_for_a_deadlock_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL cancels the one transaction of an upgrade that deadlocked with a worker still
    running: nothing of it stayed, so it runs again (twice at most); other errors are raised."""
    from sqlalchemy.exc import DBAPIError

    from tender.db import migrate

    class Deadlock(Exception):
        sqlstate = "40P01"

    real = command.upgrade  # alembic's, which an upgrade imports when it runs
    calls: list[str] = []

    def deadlocking(config: Any, revision: str) -> None:
        calls.append(revision)
        if len(calls) < 3:
            raise DBAPIError("ALTER TABLE", None, Deadlock())
        real(config, revision)

    async def at_once(_: float) -> None:
        return None

    monkeypatch.setattr(command, "upgrade", deadlocking)
    monkeypatch.setattr(migrate.asyncio, "sleep", at_once)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'retried.db'}")
    try:
        assert await upgrade(database.engine) == head_revision()
        assert calls == ["head"] * 3
        assert await current_revision(database.engine) == head_revision()
        calls.clear()
        monkeypatch.setattr(migrate, "UPGRADE_ATTEMPTS", 2)
        with pytest.raises(DBAPIError):
            await upgrade(database.engine)
        assert len(calls) == 2
    finally:
        await database.dispose()
