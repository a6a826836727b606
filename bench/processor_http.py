"""Requests/s and p50/p99 of the gift card processor's browser calls over HTTP (the commercetools
connector's ``POST /balance`` and ``POST /redeem``), on SQLite and PostgreSQL, with 1 and 2
uvicorn workers, at 8 and 50 connections (wrk), over 10,000 cards. Every request speaks for a
browser session of its own, on a cart of its own, prepared beforehand, so no per-session budget
limits the run (the per-session and per-client lookup budgets are raised as well). A redemption
carries an ``Idempotency-Key`` of its own, as the enabler's ``submit`` sends one, so what is
measured is the request a shopper's page makes. After each run the books are audited, and every
successful redemption must hold exactly once.

On PostgreSQL each workers/connections combination also measures a minimal FastAPI endpoint on
raw asyncpg doing the same essential work (``bench/baseline_processor.py``), on sessions and
carts of its own in the same database, right after tender's; the ratios tender ÷ baseline of
req/s and p99 follow the table, with the goals: redeem at least as many req/s as the baseline,
and on PostgreSQL at 8 connections a p99 of at most 10 ms for balance and 25 ms for redeem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.checkout_http import (
    SECRET,
    SERVERS,
    WARM_UP_SECONDS,
    WrkResult,
    audit_row,
    ensure_wrk,
    free_port,
    row,
    start,
    wrk,
)
from bench.common import fresh_database, pg_url_for, print_table, settle
from bench.processor_ratios import (
    BALANCE,
    REDEEM,
    REDEEM_CENTS,
    Comparison,
    latency_goals,
    medians,
)
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.cart import AddLineItem
from tender.domain.money import Money
from tender.runtime import Runtime

ORIGIN = "https://shop.example"
CARDS = 10_000
CARD_AMOUNT = 5000
"""Each card covers ten redemptions, so 10,000 cards serve 100,000 sessions."""
PROCESSOR_LUA = r"""
-- Each request takes the next prepared line ("PATH SESSION BODY"); the threads interleave so no
-- line is sent twice, except in "cycle" mode (balances change nothing, so a line may come
-- again). A redemption carries an Idempotency-Key, as the enabler's submit does. Answers that
-- are not 2xx, and redemptions answered "Failure", are counted per status.
local ids = {}
local counter = 0
local threads = {}
local counts = {}
failures = ""
first_failure = ""
exhausted = ""
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do table.insert(ids, line) end
  tid = tonumber(tid) or 0
  step = tonumber(args[2])
  cycle = args[3] == "cycle"
end
function request()
  local i = tid + counter * step + 1
  counter = counter + 1
  if i > #ids and not cycle then exhausted = "yes" end
  local line = ids[((i - 1) % #ids) + 1]
  local first = string.find(line, " ")
  local second = string.find(line, " ", first + 1)
  local path = string.sub(line, 1, first - 1)
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["X-Session-Id"] = string.sub(line, first + 1, second - 1)
  if path == "/redeem" then headers["Idempotency-Key"] = "redeem-" .. headers["X-Session-Id"] end
  return wrk.format("POST", path, headers, string.sub(line, second + 1))
end
function response(status, headers, body)
  local key = status
  if status < 300 then
    if not string.find(body or "", '"Failure"', 1, true) then return end
    key = "Failure"
  end
  counts[key] = (counts[key] or 0) + 1
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, code .. "x" .. n) end
  failures = table.concat(parts, " ")
  if first_failure == "" then first_failure = string.sub(body or "", 1, 160) end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") ~= "" then io.write("EXHAUSTED\n") end
    local f = thread:get("failures")
    if f ~= "" then
      io.write("FAILURES " .. f .. "\n")
      io.write("FIRST " .. thread:get("first_failure") .. "\n")
    end
  end
end
"""
APP_DIR = str(Path(__file__).resolve().parent)
HEADERS = {"Origin": ORIGIN, "Content-Type": "application/json"}
BASELINE = "baseline: FastAPI + asyncpg, same work"


async def prepare(
    db: Database, sessions: int, extra: int, cards: int = CARDS
) -> tuple[list[str], list[str]]:
    """``cards`` cards, then ``sessions + extra`` browser sessions, each on a cart of its own
    of 40.00 EUR: one line per session for each call, ``balance`` lines first, then ``redeem``.
    Session ``i`` asks about and redeems card ``i`` modulo ``cards``."""
    settings = Settings(
        env=Environment.TEST, database_url=db.url, secret_key=SECRET, sweep_interval_seconds=0
    )
    runtime = Runtime(settings)
    try:
        client, _ = await runtime.db.transaction(
            lambda c: runtime.oauth.create_client(
                SqlClientStore(c), name="bench", scopes="manage_orders manage_payments"
            )
        )
        owner = f"client:{client.client_id}"
        issued = await runtime.db.transaction(
            lambda c: runtime.ledger.issue(
                SqlLedgerStore(c), amount=Money(CARD_AMOUNT, "EUR"), count=cards
            )
        )
        metadata = {"allowedOrigins": [ORIGIN], "paymentInterface": "tender-giftcards"}
        balance: list[str] = []
        redeem: list[str] = []
        total = sessions + extra
        for start in range(0, total, 250):

            async def batch(conn: Any, start: int = start) -> None:
                w = runtime.work(conn, actor=owner)
                for i in range(start, min(start + 250, total)):
                    view = await runtime.carts.create(
                        w,
                        owner=owner,
                        currency="EUR",
                        country="DE",
                        lines=[AddLineItem("TEA", "Tea", 1, 4000, 1900)],
                    )
                    token, _ = await runtime.sessions.create(
                        w, owner=owner, cart_id=view.cart.id, metadata=metadata, creator=owner
                    )
                    code = issued[i % cards].code
                    amount = {"centAmount": REDEEM_CENTS, "currencyCode": "EUR"}
                    balance.append(f"/balance {token} {json.dumps({'code': code})}")
                    body = json.dumps({"code": code, "redeemAmount": amount})
                    redeem.append(f"/redeem {token} {body}")

            await runtime.db.transaction(batch)
        return balance, redeem
    finally:
        await runtime.close()


async def audit(db: Database) -> list[str]:
    """The ledger's invariants, and that every successful redemption holds exactly once: one
    active hold of its amount on its card, referring to it, and no hold without one."""

    async def check(conn: Any) -> list[str]:
        problems = await SqlLedgerStore(conn).audit()
        refused = (
            await conn.execute(
                text("SELECT count(*) FROM payments WHERE redeemed AND status <> 'active'")
            )
        ).scalar_one()
        if refused:
            problems.append(f"{refused} redemptions refused")
        mismatched = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM payments p WHERE p.redeemed AND p.status = 'active' "
                    "AND (SELECT count(*) FROM holds h WHERE h.reference = p.id "
                    "AND h.id = p.hold_ref AND h.card_id = p.card_ref "
                    "AND h.amount = p.amount_planned AND h.status = 'active') <> 1"
                )
            )
        ).scalar_one()
        if mismatched:
            problems.append(f"{mismatched} redemptions without exactly one hold")
        orphans = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM holds h WHERE NOT EXISTS (SELECT 1 FROM payments p "
                    "WHERE p.id = h.reference AND p.redeemed AND p.status = 'active')"
                )
            )
        ).scalar_one()
        if orphans:
            problems.append(f"{orphans} holds without a redemption")
        return problems

    return await db.read(check)


def parts(folder: Path, name: str, lines: list[str], warm_up: int) -> tuple[Path, Path]:
    """The first ``warm_up`` lines for warming the server, the rest for the measured run."""
    warm, measured = folder / f"{name}.warm", folder / f"{name}.measured"
    warm.write_text("\n".join(lines[:warm_up]) + "\n")
    measured.write_text("\n".join(lines[warm_up:]) + "\n")
    return warm, measured


def measure(
    binary: str,
    lua: Path,
    url: str,
    folder: Path,
    calls: list[tuple[str, list[str], str]],
    *,
    connections: int,
    seconds: int,
) -> list[tuple[str, WrkResult]]:
    """Per call (label, prepared lines, mode): a warm-up on the first sixth of its lines,
    answered only when it failed, then the measured run on the rest."""
    threads = str(min(2, connections))
    results = []
    for n, (label, lines, mode) in enumerate(calls):
        warm, measured = parts(folder, f"call{n}", lines, len(lines) // 6)
        w = wrk(binary, url, connections, WARM_UP_SECONDS, lua, [str(warm), threads, mode], HEADERS)
        if w.errors:  # a cold server must not fail either: show it
            results.append((f"{label} (warm-up)", w))
        args = [str(measured), threads, mode]
        results.append((label, wrk(binary, url, connections, seconds, lua, args, HEADERS)))
    return results


def tender_env(db: Database, folder: Path) -> dict[str, str]:
    return {
        "TENDER_DATABASE_URL": db.url,
        "TENDER_SECRET_KEY": SECRET,
        "TENDER_ENV": "test",
        "TENDER_SWEEP_INTERVAL_SECONDS": "0",
        "TENDER_ENV_FILE": str(folder / "none.env"),
        "TENDER_CARD_ATTEMPTS_PER_CLIENT_MINUTE": "1000000",
        "TENDER_CARD_ATTEMPTS_PER_SESSION_MINUTE": "1000000",
    }


def baseline_env(db: Database) -> dict[str, str]:
    return {
        "BASELINE_DATABASE_URL": pg_url_for(db),
        "BASELINE_SECRET_KEY": SECRET,
        "BASELINE_POOL_SIZE": str(Settings.model_fields["db_pool_size"].default),
    }


async def measure_both(
    binary: str,
    lua: Path,
    folder: Path,
    *,
    kind: str,
    workers: int,
    connections: int,
    seconds: int,
    sessions: int,
    baseline_sessions: int,
    server_kind: str,
    rounds: int = 1,
) -> tuple[list[list[str]], list[Comparison]]:
    """tender, then the baseline (PostgreSQL only), ``rounds`` times in turn, each round on
    sessions of its own: on a host whose speed drifts, each pair is measured close together."""
    rows = []
    with_baseline = kind == "postgresql"
    rounds = rounds if with_baseline else 1
    comparisons = []
    async with fresh_database(kind) as db:
        extra = rounds * baseline_sessions if with_baseline else 0
        balance, redeem = await prepare(db, rounds * sessions, extra)
        for n in range(rounds):
            mine = slice(n * sessions, (n + 1) * sessions)  # tender's lines come first
            first = rounds * sessions + n * baseline_sessions
            its = slice(first, first + baseline_sessions)
            tender_calls = [(BALANCE, balance[mine], "cycle"), (REDEEM, redeem[mine], "once")]
            baseline_calls = [(BALANCE, balance[its], "cycle"), (REDEEM, redeem[its], "once")]
            servers: list[tuple[str, list[str], dict[str, str], Any]] = [
                (
                    "tender",
                    ["tender.api.app:app_from_env", "--factory"],
                    tender_env(db, folder),
                    tender_calls,
                )
            ]
            if with_baseline:
                args = ["baseline_processor:app", "--app-dir", APP_DIR]
                servers.append(("baseline", args, baseline_env(db), baseline_calls))
            suffix = f" (round {n + 1})" if rounds > 1 else ""
            measured: dict[str, dict[str, WrkResult]] = {}
            for name, args, env, calls in servers:
                await settle(db)
                port = free_port()
                server = start([*args, "--workers", str(workers)], env, port, server_kind)
                try:
                    url = f"http://127.0.0.1:{port}"
                    results = measure(
                        binary, lua, url, folder, calls, connections=connections, seconds=seconds
                    )
                finally:
                    server.stop()
                measured[name] = dict(results)
                for label, r in results:
                    label = label if name == "tender" else f"{BASELINE}: {label}"
                    rows.append(row(label + suffix, kind, workers, connections, r))
                problems = await audit(db)
                if problems:
                    label = "AUDIT FAILED" + ("" if name == "tender" else " after the baseline")
                    rows.append(audit_row(label, kind, workers, connections, problems))
            if with_baseline:
                for label in (BALANCE, REDEEM):
                    ours_r, theirs_r = measured["tender"][label], measured["baseline"][label]
                    comparisons.append(
                        Comparison(
                            label, workers, connections, ours_r, theirs_r, n + 1 if suffix else None
                        )
                    )
    return rows, comparisons


async def main(
    seconds: int,
    sessions: int,
    baseline_sessions: int,
    kinds: list[str],
    workers: list[int],
    connections: list[int],
    server_kind: str,
    rounds: int = 1,
) -> None:
    binary = ensure_wrk()
    rows: list[list[str]] = []
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lua = folder / "processor.lua"
        lua.write_text(PROCESSOR_LUA)
        for kind in kinds:
            if kind != "postgresql":
                skipped = "skipped: raw asyncpg, PostgreSQL only"
                rows.append([BASELINE, kind, "-", "-", "-", "-", "-", skipped])
            for count in workers:
                for conns in connections:
                    found, compared = await measure_both(
                        binary,
                        lua,
                        folder,
                        kind=kind,
                        workers=count,
                        connections=conns,
                        seconds=seconds,
                        sessions=sessions,
                        baseline_sessions=baseline_sessions,
                        server_kind=server_kind,
                        rounds=rounds,
                    )
                    rows += found
                    comparisons += compared
    print_table(
        f"The processor's browser calls over HTTP, {CARDS:,} cards, a session and cart per "
        f"request, {seconds} s per row after a {WARM_UP_SECONDS} s warm-up, wrk, both "
        f"served by {server_kind} "
        "(p50/p99 in ms; errors: answers that were not 2xx or said Failure, by status)",
        ["endpoint", "db", "workers", "conns", "req/s", "p50", "p99", "errors"],
        rows,
    )
    if comparisons:
        print("\ntender / baseline (goal: redeem req/s >= 1.0x)")
        for comparison in comparisons:
            print("  " + comparison.text())
        for line in medians(comparisons):
            print("  " + line)
    goals = latency_goals(rows)
    if goals:
        print("\np99 at 8 connections on PostgreSQL (goals: balance <= 10 ms, redeem <= 25 ms)")
        for goal in goals:
            print("  " + goal)
    if "postgresql" not in kinds:
        print(f"\n{BASELINE}: skipped, it runs on PostgreSQL only (--db postgresql)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--sessions",
        type=int,
        default=8000,
        help="sessions (and carts) for tender per run, a sixth for the warm-up; each takes "
        "one balance and one redemption; more than a run redeems",
    )
    parser.add_argument(
        "--baseline-sessions",
        type=int,
        default=12000,
        help="the same for the baseline per PostgreSQL run (it redeems faster)",
    )
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--connections", nargs="+", type=int, default=[8, 50])
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="on PostgreSQL, measure tender and the baseline this many times in turn, on "
        "sessions of their own, and print the median ratios (a drifting host's speed)",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.seconds,
            arguments.sessions,
            arguments.baseline_sessions,
            arguments.db,
            arguments.workers,
            arguments.connections,
            arguments.server,
            arguments.rounds,
        )
    )
