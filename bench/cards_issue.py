"""Cards issued per second in one batch (one transaction), on SQLite and PostgreSQL.

Baseline measured in the same run: stdlib sqlite3 inserting rows of the same width with one
HMAC-SHA256 each, the ceiling PERFORMANCE.md quotes (~114,000 rows/s on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import KEY, fresh_database, print_table
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.codes import Hasher
from tender.domain.money import Money
from tender.services.ledger import Ledger


def sqlite_baseline(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "baseline.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # as tender runs by default
        conn.execute(
            "CREATE TABLE cards (id TEXT PRIMARY KEY, code_hash BLOB UNIQUE, last4 TEXT, "
            "currency TEXT, posted INTEGER, held INTEGER, created_at TEXT)"
        )
        started = time.perf_counter()
        rows = []
        for i in range(count):
            code = os.urandom(8).hex()
            digest = hmac.new(KEY, code.encode(), hashlib.sha256).digest()
            rows.append((f"{i:036d}", digest, code[-4:], "EUR", 5000, 0, "2026-01-01 00:00:00"))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return count / elapsed


async def issue_rate(kind: str, count: int) -> float:
    ledger = Ledger(Hasher(KEY))
    async with fresh_database(kind) as db:
        started = time.perf_counter()
        issued = await db.transaction(
            lambda conn: ledger.issue(
                SqlLedgerStore(conn), amount=Money(5000, "EUR"), count=count, actor="bench"
            )
        )
        elapsed = time.perf_counter() - started
        assert len(issued) == count
        problems = await db.read(lambda conn: SqlLedgerStore(conn).audit())
        assert problems == [], problems
    return count / elapsed


async def main(count: int) -> None:
    baseline = sqlite_baseline(count)
    rows = [["stdlib sqlite3 rows + HMAC (baseline)", f"{baseline:,.0f}", "1.00"]]
    for kind in ("sqlite", "postgresql"):
        rate = await issue_rate(kind, count)
        rows.append([f"tender issue, {kind}", f"{rate:,.0f}", f"{rate / baseline:.2f}"])
    print_table(
        f"Gift cards issued in one batch of {count:,} (goal: >= 20,000/s on SQLite)",
        ["path", "cards/s", "x baseline"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().count))
