"""The statements that background work repeats and that list by owner, state or status alone
follow an index at any table size, on PostgreSQL.

Each statement is the one the store really sends (recorded as it runs), explained against
tables filled the way that once made PostgreSQL walk them whole: the active holds all ahead of
the rest, one client's orders a small, recent minority, the disabled cards the newest, the
sessions nearly all live. Plans are judged by the indexes they use, never by a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db import purge
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.db.order_store import SqlOrderStore
from tender.domain.ledger import CardStatus
from tender.domain.orders import OrderState
from tests.conftest import POSTGRESQL_ONLY

"""Plans are PostgreSQL's; SQLite's planner has no statistics to be misled by."""
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ROWS = 40_000
T = "CAST(:now AS timestamptz)"

FILL = [
    # Cards: the newest 3 % disabled.
    f"""INSERT INTO cards (id, code_hash, code_last4, currency, status, posted, held, version,
        failed_pin_attempts, metadata, created_at, updated_at)
    SELECT lpad(n::text, 36, '0'), sha256(n::text::bytea), '0000', 'EUR',
        CASE WHEN n > {ROWS} * 0.97 THEN 'disabled' ELSE 'active' END, 1000, 0, 1, 0, '{{}}',
        :now, :now
    FROM generate_series(1, {ROWS}) AS n""",
    # Holds: all but the newest fifth ended long ago; the active ones expire ahead.
    f"""INSERT INTO holds (id, card_id, amount, currency, status, expires_at, captured_amount,
        created_at, updated_at)
    SELECT lpad(n::text, 36, '0'), lpad((1 + n % 1000)::text, 36, '0'), 100, 'EUR',
        CASE WHEN n > {ROWS} * 0.8 THEN 'active' ELSE 'captured' END,
        CASE WHEN n > {ROWS} * 0.8 THEN {T} + interval '1 day'
        ELSE {T} - interval '30 days' END, 0, :now, :now
    FROM generate_series(1, {ROWS}) AS n""",
    f"""INSERT INTO carts (id, version, owner, locked, currency, country, customer, line_items,
        payment_methods, created_at, updated_at)
    SELECT lpad(n::text, 36, '0'), 1,
        CASE WHEN n > {ROWS} * 0.9 THEN 'client:minor' ELSE 'client:major' END, false, 'EUR',
        'DE', '{{}}', '[]', '[]', :now, :now
    FROM generate_series(1, {ROWS}) AS n""",
    # Orders: one client's the newest tenth, Processing the newest 2 %.
    f"""INSERT INTO orders (id, reference, cart_id, owner, state, version, currency, snapshot,
        grand_total, created_at, updated_at)
    SELECT lpad(n::text, 36, '0'), 'R-' || n, lpad(n::text, 36, '0'),
        CASE WHEN n > {ROWS} * 0.9 THEN 'client:minor' ELSE 'client:major' END,
        CASE WHEN n > {ROWS} * 0.98 THEN 'Processing' ELSE 'Completed' END, 1, 'EUR', '{{}}',
        0, :now, :now
    FROM generate_series(1, {ROWS}) AS n""",
    # Sessions: nearly all live, one in fifty expired, one in ten of those with a promise.
    f"""INSERT INTO sessions (token_hash, cart_id, owner, metadata, future_order_number,
        expires_at, created_at, updated_at)
    SELECT sha256(('s' || n)::bytea), lpad(n::text, 36, '0'), 'client:major', '{{}}',
        CASE WHEN n % 500 = 0 THEN 'P-' || n END,
        CASE WHEN n % 50 = 0 THEN {T} - interval '3 days' ELSE {T} + interval '1 hour'
        END,
        :now, :now
    FROM generate_series(1, {ROWS}) AS n""",
]


@asynccontextmanager
async def filled(db: Database) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction over the filled tables, rolled back afterwards."""
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            for statement in FILL:
                await conn.execute(text(statement), {"now": NOW})
            for table in ("cards", "holds", "carts", "orders", "sessions"):
                await conn.execute(text(f"ANALYZE {table}"))
            yield conn
        finally:
            await transaction.rollback()


@contextmanager
def recorded(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent on the engine meanwhile, as the driver got it."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def indexes_used(conn: AsyncConnection, statement: str, parameters: Any) -> set[str]:
    """The indexes the plan scans, and ``Seq Scan on <table>`` for each table it reads whole."""
    raw = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
    plan = raw.scalar_one()
    found: set[str] = set()
    stack = [(json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        if node["Node Type"] == "Seq Scan":
            found.add(f"Seq Scan on {node['Relation Name']}")
        stack.extend(node.get("Plans", []))
    return found


async def plans_of(db: Database, conn: AsyncConnection, run: Any) -> list[set[str]]:
    with recorded(db) as seen:
        await run(conn)
    return [await indexes_used(conn, statement, parameters) for statement, parameters in seen]


@POSTGRESQL_ONLY
async def test_the_hold_sweep_follows_the_expiry_index(db: Database) -> None:
    async with filled(db) as conn:
        (plan,) = await plans_of(db, conn, lambda c: SqlLedgerStore(c).overdue_holds(NOW, 500))
    assert plan == {"ix_holds_status_expires_at"}


@POSTGRESQL_ONLY
async def test_orders_of_one_client_or_one_state_follow_an_index(db: Database) -> None:
    async with filled(db) as conn:
        store = SqlOrderStore(conn)
        mine = await plans_of(
            db,
            conn,
            lambda _: store.list_orders(owner="client:minor", state=None, after=None, limit=100),
        )
        processing = await plans_of(
            db,
            conn,
            lambda _: store.list_orders(
                owner=None, state=OrderState.PROCESSING, after=None, limit=100
            ),
        )
    assert mine == [{"ix_orders_owner_id"}]
    assert processing == [{"ix_orders_state_id"}]


@POSTGRESQL_ONLY
async def test_cards_of_one_status_follow_an_index(db: Database) -> None:
    async with filled(db) as conn:
        plans = await plans_of(
            db,
            conn,
            lambda c: SqlLedgerStore(c).list_cards(
                status=CardStatus.DISABLED, currency=None, after=None, limit=100
            ),
        )
    assert plans == [{"ix_cards_status_id"}]


@POSTGRESQL_ONLY
async def test_the_session_purge_reads_only_expired_sessions(db: Database) -> None:
    async with filled(db) as conn:
        plans = await plans_of(
            db, conn, lambda c: purge.forget_sessions(c, NOW, grace=timedelta(days=1))
        )
    assert len(plans) == 2
    assert "ix_sessions_unpromised_expires_at" in plans[0]
    assert "ix_sessions_promised_expires_at" in plans[1]
    assert not [p for plan in plans for p in plan if p == "Seq Scan on sessions"]
