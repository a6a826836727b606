"""Statements run on the driver directly (``tender.db.direct``) read what SQLAlchemy reads, join
the connection's transaction or stand alone, and fail as SQLAlchemy's statements fail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Float, bindparam, event, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from tender.db import direct, statement_plans
from tender.db.engine import Database
from tender.db.ledger_rows import card_of
from tender.db.ledger_statements import CARD_BY_CODE_HASH, GET_CARD, GET_CARDS, TRY_HOLD
from tender.db.models import RateLimitRow
from tender.db.retries import is_retryable
from tender.domain.codes import normalise_code
from tender.domain.ledger import Card
from tender.services.ledger import Ledger
from tests.conftest import POSTGRESQL_ONLY
from tests.helpers import issue_card

COUNTERS = RateLimitRow.__table__
NEW_COUNTER = insert(COUNTERS)
COUNT_UP = update(COUNTERS).where(COUNTERS.c.key == "k").values(count=COUNTERS.c.count + 1)
READ_COUNTER = select(COUNTERS.c.count).where(COUNTERS.c.key == "k")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def count_of(db: Database) -> int | None:
    """The counter as another connection sees it."""

    async def read(conn: Any) -> int | None:
        return (await direct.execute(conn, READ_COUNTER)).scalar()

    return await db.read(read)


async def test_rows_read_as_sqlalchemy_reads_them(db: Database, ledger: Ledger) -> None:
    """Every column of a card, JSON, times and bytes included, by name and by position."""
    issued = await issue_card(db, ledger, minor=2_500, pin="1234", metadata={"batch": "ä'\""})
    async with db.engine.begin() as conn:
        for statement, params in (
            (GET_CARD, {"card_id": issued.card.id}),
            (CARD_BY_CODE_HASH, {"code_hash": ledger.hasher.code(normalise_code(issued.code))}),
        ):
            mine = (await direct.execute(conn, statement, params)).first()
            theirs = (await conn.execute(statement, params)).first()
            assert mine is not None
            assert theirs is not None
            assert mine._mapping == dict(theirs._mapping)
            assert tuple(mine) == tuple(theirs)
            assert mine[0] == theirs[0] == issued.card.id
            read: Card = card_of(mine)
            assert read.metadata == {"batch": "ä'\""}
            assert read.pin_required
            assert read.created_at.tzinfo is not None


async def test_a_statement_joins_the_transaction_begun(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(
            NEW_COUNTER, {"key": "k", "window_start": 0, "count": 1, "expires_at": 9}
        )
        await conn.commit()
        await conn.begin()
        result = await direct.execute(conn, COUNT_UP)
        assert result.rowcount == 1
        assert (await direct.execute(conn, READ_COUNTER)).scalar_one() == 2  # its own write
        assert await count_of(db) == 1  # nobody else sees it yet
        await conn.rollback()
    assert await count_of(db) == 1
    async with db.engine.begin() as conn:
        await direct.execute(conn, COUNT_UP)
    assert await count_of(db) == 2


async def test_with_no_transaction_begun_a_statement_stands_alone(db: Database) -> None:
    async with db.engine.connect() as conn:
        await direct.execute(
            conn, NEW_COUNTER, {"key": "k", "window_start": 0, "count": 1, "expires_at": 9}
        )
        await direct.execute(conn, COUNT_UP)
        assert not conn.in_transaction()
        assert await count_of(db) == 2  # committed while the connection is still open
        await conn.rollback()
    assert await count_of(db) == 2


async def test_statements_in_turn_read_what_each_alone_reads(db: Database) -> None:
    """``execute_in_turn``: one hand-off on SQLite, one statement after the other elsewhere;
    the results are the same, in order, and a failure is raised as SQLAlchemy raises it."""
    row = {"key": "k", "window_start": 0, "count": 1, "expires_at": 9}
    async with db.engine.begin() as conn:
        inserted, counted_up, read = await direct.execute_in_turn(
            conn, [(NEW_COUNTER, row), (COUNT_UP, {}), (READ_COUNTER, {})]
        )
        assert (inserted.rowcount, counted_up.rowcount) == (1, 1)
        assert read.scalar_one() == 2
    async with db.engine.connect() as conn:
        await conn.begin()
        with pytest.raises(IntegrityError):
            await direct.execute_in_turn(conn, [(COUNT_UP, {}), (NEW_COUNTER, row), (COUNT_UP, {})])
        await conn.rollback()
    assert await count_of(db) == 2


async def test_many_rows_at_once(db: Database) -> None:
    rows = [{"key": f"k{n}", "window_start": 0, "count": n, "expires_at": 9} for n in range(5)]
    async with db.engine.begin() as conn:
        await direct.execute_many(conn, NEW_COUNTER, rows)
    async with db.engine.connect() as conn:
        counts = (await conn.execute(select(COUNTERS.c.key, COUNTERS.c.count))).all()
    assert sorted(counts) == [(f"k{n}", n) for n in range(5)]


async def test_errors_are_sqlalchemys(db: Database) -> None:
    """A constraint violated raises ``IntegrityError`` with the driver's SQLSTATE; the
    transaction rolls back and the connection goes on."""
    row = {"key": "k", "window_start": 0, "count": 1, "expires_at": 9}
    async with db.engine.connect() as conn:
        await conn.begin()
        await direct.execute(conn, NEW_COUNTER, row)
        with pytest.raises(IntegrityError) as raised:
            await direct.execute(conn, NEW_COUNTER, row)
        assert isinstance(raised.value, DBAPIError)
        assert not is_retryable(raised.value)
        if not db.is_sqlite:
            assert getattr(raised.value.orig, "sqlstate", None) == "23505"
        await conn.rollback()
        assert (await direct.execute(conn, READ_COUNTER)).first() is None
        assert not conn.invalidated


async def test_what_it_cannot_run_goes_through_sqlalchemy(db: Database, ledger: Ledger) -> None:
    """An expanding ``IN`` list has no fixed text: it runs as before, rows and all."""
    first = await issue_card(db, ledger)
    second = await issue_card(db, ledger)
    async with db.engine.connect() as conn:
        result = await direct.execute(conn, GET_CARDS, {"ids": [first.card.id, second.card.id]})
        assert {row._mapping["id"] for row in result} == {first.card.id, second.card.id}
    assert statement_plans.plan(GET_CARDS, frozenset({"ids"}), db.engine.dialect) is None
    every = frozenset({"card_id", "amount", "b_currency", "now"})
    assert statement_plans.plan(TRY_HOLD, every, db.engine.dialect) is not None
    missing = frozenset({"card_id"})  # SQLAlchemy names what is missing
    assert statement_plans.plan(TRY_HOLD, missing, db.engine.dialect) is None


async def test_the_engines_listeners_hear_every_statement(db: Database) -> None:
    heard: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        heard.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", listen)
    try:
        async with db.engine.begin() as conn:
            await direct.execute(conn, READ_COUNTER)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listen)
    assert [" ".join(s.split()) for s in heard if "rate_limits" in s] == [
        " ".join(str(READ_COUNTER.compile(db.engine)).split())
        if db.is_sqlite
        else "SELECT rate_limits.count FROM rate_limits WHERE rate_limits.key = $1::VARCHAR"
    ]


SLEEP = select(func.pg_sleep(bindparam("seconds", type_=Float())))


@POSTGRESQL_ONLY  # SQLite's thread still runs it (tests/db/test_sqlite_hand_offs.py)
async def test_a_statement_interrupted_leaves_no_connection_to_use_again(db: Database) -> None:
    """A cancelled task leaves the driver mid-statement: its connection is closed and
    invalidated, so neither the pool nor a request's lease hands it out again."""
    async with db.engine.connect() as conn:
        task = asyncio.create_task(direct.execute(conn, SLEEP, {"seconds": 5}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.invalidated
    async with db.request_lease():
        assert await db.lookup(lambda c: direct.execute(c, READ_COUNTER)) is not None


async def test_a_failed_statements_error_names_no_value_it_was_given(db: Database) -> None:
    """Errors reach the logs (a 500's traceback): the statement is there, its values never
    (they may be an address, an e-mail, a code's hash)."""

    async def twice(conn: Any) -> None:
        row = {"k": "shopper@example.org", "s": 1, "e": 2}
        for _ in range(2):
            await conn.execute(
                text("INSERT INTO rate_limits (key, window_start, count, expires_at)"
                     " VALUES (:k, :s, 1, :e)"),
                row,
            )  # fmt: skip

    with pytest.raises(IntegrityError) as raised:
        await db.transaction(twice)
    assert "rate_limits" in str(raised.value)
    assert "shopper@example.org" not in str(raised.value)
