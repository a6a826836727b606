"""Reserve + capture operations per second through the ledger, on one hot card and on 10,000
uniformly chosen cards, on SQLite and PostgreSQL, at several concurrencies.

One operation is two transactions, as in checkout: reserve (hold) then capture. The baseline,
measured in the same run on the same database, does the same two transactions in raw SQL on
the bare driver (asyncpg / stdlib sqlite3): conditional UPDATE + INSERT hold, then UPDATE hold
+ UPDATE card + two INSERTs of ledger entries.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from bench.common import KEY, fresh_database, latency_summary, pg_url_for, print_table
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.codes import Hasher
from tender.domain.errors import InsufficientFunds
from tender.domain.money import Money
from tender.services.ledger import Ledger

BALANCE = 10**12
Op = Callable[[str], Awaitable[None]]


Result = tuple[float, list[float]]


async def closed_loop(op: Op, card_ids: list[str], tasks: int, seconds: float) -> Result:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            card_id = random.choice(card_ids)
            started = time.perf_counter()
            await op(card_id)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return len(latencies) / (time.perf_counter() - started), latencies


def tender_op(db: Database, ledger: Ledger) -> Op:
    async def op(card_id: str) -> None:
        amount = Money(random.randint(1, 100), "EUR")
        hold = await db.transaction(
            lambda c: ledger.reserve(SqlLedgerStore(c), card_id=card_id, amount=amount)
        )
        await db.transaction(lambda c: ledger.capture(SqlLedgerStore(c), hold_id=hold.id))

    return op


BASELINE_SCHEMA = [
    "CREATE TABLE b_cards (id TEXT PRIMARY KEY, posted BIGINT NOT NULL, held BIGINT NOT NULL)",
    "CREATE TABLE b_holds (id TEXT PRIMARY KEY, card_id TEXT NOT NULL, amount BIGINT NOT NULL,"
    " status TEXT NOT NULL)",
    "CREATE TABLE b_entries (id TEXT PRIMARY KEY, card_id TEXT, amount BIGINT NOT NULL)",
]


async def pg_baseline(url: str, ids: list[str], tasks: int, seconds: float) -> Result:
    pool = await asyncpg.create_pool(url, min_size=tasks, max_size=tasks)
    async with pool.acquire() as conn:
        for ddl in BASELINE_SCHEMA:
            await conn.execute(ddl)
        rows = [(i, BALANCE) for i in ids]
        await conn.executemany("INSERT INTO b_cards VALUES ($1, $2, 0)", rows)

    async def op(card_id: str) -> None:
        amount = random.randint(1, 100)
        hold_id = str(uuid.uuid4())
        async with pool.acquire() as conn:
            async with conn.transaction():
                done = await conn.execute(
                    "UPDATE b_cards SET held = held + $2 WHERE id = $1 AND posted - held >= $2",
                    card_id,
                    amount,
                )
                if done != "UPDATE 1":
                    raise InsufficientFunds()
                await conn.execute(
                    "INSERT INTO b_holds VALUES ($1, $2, $3, 'active')", hold_id, card_id, amount
                )
            async with conn.transaction():
                await conn.execute(
                    "UPDATE b_holds SET status = 'captured' WHERE id = $1 AND status = 'active'",
                    hold_id,
                )
                await conn.execute(
                    "UPDATE b_cards SET posted = posted - $2, held = held - $2 WHERE id = $1",
                    card_id,
                    amount,
                )
                await conn.executemany(
                    "INSERT INTO b_entries VALUES ($1, $2, $3)",
                    [(str(uuid.uuid4()), card_id, -amount), (str(uuid.uuid4()), None, amount)],
                )

    try:
        return await closed_loop(op, ids, tasks, seconds)
    finally:
        await pool.close()


def sqlite_baseline(path: str, ids: list[str], seconds: float) -> Result:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as tender runs by default
    for ddl in BASELINE_SCHEMA:
        conn.execute(ddl)
    conn.executemany("INSERT INTO b_cards VALUES (?, ?, 0)", [(i, BALANCE) for i in ids])
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        card_id, amount, hold_id = random.choice(ids), random.randint(1, 100), str(uuid.uuid4())
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "UPDATE b_cards SET held = held + ? WHERE id = ? AND posted - held >= ?",
            (amount, card_id, amount),
        )
        assert cur.rowcount == 1
        conn.execute("INSERT INTO b_holds VALUES (?, ?, ?, 'active')", (hold_id, card_id, amount))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE b_holds SET status = 'captured' WHERE id = ? AND status = 'active'", (hold_id,)
        )
        conn.execute(
            "UPDATE b_cards SET posted = posted - ?, held = held - ? WHERE id = ?",
            (amount, amount, card_id),
        )
        conn.executemany(
            "INSERT INTO b_entries VALUES (?, ?, ?)",
            [(str(uuid.uuid4()), card_id, -amount), (str(uuid.uuid4()), None, amount)],
        )
        conn.execute("COMMIT")
        latencies.append((time.perf_counter() - t0) * 1000)
    rate = len(latencies) / (time.perf_counter() - started)
    conn.close()
    return rate, latencies


async def run_kind(
    kind: str, concurrencies: list[int], seconds: float, cards: int
) -> list[list[str]]:
    rows: list[list[str]] = []
    ledger = Ledger(Hasher(KEY))
    async with fresh_database(kind, pool_size=max(concurrencies) + 2) as db:
        issued = await db.transaction(
            lambda c: ledger.issue(SqlLedgerStore(c), amount=Money(BALANCE, "EUR"), count=cards)
        )
        many = [i.card.id for i in issued]
        hot = many[:1]
        if kind == "sqlite":
            path = db.url.split(":///", 1)[1].replace("bench.db", "baseline.db")
            base_rate, base_lat = await asyncio.to_thread(sqlite_baseline, path, many, seconds)
            rows.append(
                [
                    kind,
                    "baseline: raw sqlite3, 1 conn",
                    "10,000 cards",
                    "1",
                    f"{base_rate:,.0f}",
                    latency_summary(base_lat),
                    "1.00",
                ]
            )
        for tasks in concurrencies:
            if kind == "postgresql":
                base_rate, base_lat = await pg_baseline(pg_url_for(db), many, tasks, seconds)
                rows.append(
                    [
                        kind,
                        "baseline: raw asyncpg",
                        "10,000 cards",
                        str(tasks),
                        f"{base_rate:,.0f}",
                        latency_summary(base_lat),
                        "1.00",
                    ]
                )
                await _drop_baseline(pg_url_for(db))
            for label, ids in (("1 hot card", hot), (f"{cards:,} cards", many)):
                rate, lat = await closed_loop(tender_op(db, ledger), ids, tasks, seconds)
                rows.append(
                    [
                        kind,
                        "tender reserve+capture",
                        label,
                        str(tasks),
                        f"{rate:,.0f}",
                        latency_summary(lat),
                        f"{rate / base_rate:.2f}",
                    ]
                )
        problems = await db.read(lambda c: SqlLedgerStore(c).audit())
        assert problems == [], problems
    return rows


async def _drop_baseline(url: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute("DROP TABLE b_cards, b_holds, b_entries")
    await conn.close()


async def main(seconds: float, cards: int) -> None:
    rows = await run_kind("sqlite", [1, 8], seconds, cards)
    rows += await run_kind("postgresql", [8, 32], seconds, cards)
    print_table(
        f"Reserve + capture (two transactions per op), {seconds:g} s per row",
        ["db", "path", "cards", "tasks", "ops/s", "latency per op", "x baseline"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cards", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.cards))
