"""Shared pieces of the benchmarks: fresh databases, timing and a compact table."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from tender.db.engine import Database
from tender.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "TENDER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
KEY = b"tender-bench-secret-key-0123456789abcdef"


@asynccontextmanager
async def fresh_database(kind: str, pool_size: int = 40) -> AsyncIterator[Database]:
    """A migrated, empty database that is removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", pool_size=pool_size)
            await upgrade(db.engine)
            try:
                yield db
            finally:
                await db.dispose()
        return
    name = f"tender_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    db = Database(
        f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}", pool_size=pool_size
    )
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def settle(db: Database) -> None:
    """Before a server is measured: write out what preparing (or the server before) left in
    PostgreSQL's buffers, so that no checkpoint lands on the run. (Not ``ANALYZE``: statistics
    that call the growing tables empty make the servers' cached plans scan them; see
    bench/README.md.)"""
    if db.is_sqlite:
        return
    conn = await asyncpg.connect(pg_url_for(db))
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def pg_url_for(db: Database) -> str:
    """The plain asyncpg URL of a benchmark database, for the baselines."""
    return db.url.replace("postgresql+asyncpg://", "postgresql://", 1)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def server_cpu(proc: Path = Path("/proc")) -> dict[str, float] | None:
    """CPU seconds (user and system) used so far by each PostgreSQL server process this host
    shows in ``proc``, by process id, every backend of every database included; ``None``
    where none can be seen (another host or container, not Linux)."""
    seconds: dict[str, float] = {}
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            line = (proc / pid / "stat").read_text()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        # proc(5): "pid (comm) state ..."; comm may hold spaces and parentheses itself
        name, fields = line[line.find("(") + 1 : line.rfind(")")], line[line.rfind(")") + 2 :]
        if name.startswith("postgres"):
            parts = fields.split()
            seconds[pid] = (int(parts[11]) + int(parts[12])) / CLOCK_TICKS  # utime, stime
    return seconds or None


def server_cpu_since(before: dict[str, float] | None, proc: Path = Path("/proc")) -> float | None:
    """The server's CPU seconds since ``before`` (``server_cpu``): the server's share of a run
    with nothing else on it, its background processes included (the vacuum and checkpoints
    writes bring, a preparation's too: figures vary by some tenths of a millisecond). At two
    workers both cores are busy, and the server's CPU counts as much as the worker's. Counted
    process by process: a backend that ends meanwhile (another client's) leaves out only what
    it used since ``before`` instead of taking all it ever used off the sum, and one that
    starts meanwhile counts whole."""
    after = server_cpu(proc)
    if before is None or after is None:
        return None
    total = 0.0
    for pid, used in after.items():
        earlier = before.get(pid, 0.0)
        total += used - earlier if used >= earlier else used  # less than before: a reused id
    return total


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def latency_summary(samples_ms: list[float]) -> str:
    if not samples_ms:
        return "-"
    return f"p50 {statistics.median(samples_ms):6.2f} ms  p99 {percentile(samples_ms, 99):6.2f} ms"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
