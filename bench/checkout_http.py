"""Requests/s and p50/p99 for placing orders over HTTP (Spryker ``POST /checkout``, two gift
cards per order) and for adding a gift card to a cart, on SQLite and PostgreSQL, with 1 and 2
uvicorn workers, at 8 and 32 connections (wrk), next to a bare FastAPI endpoint measured in
the same run. After each run the books are audited: no error, no lost or leftover hold.

On PostgreSQL each workers/connections combination also measures the ceiling of placing: a
minimal FastAPI endpoint on raw asyncpg doing the same essential work for one order
(``bench/baseline_checkout.py``), on carts of its own in the same database, right after
tender's rows; the ratios tender ÷ baseline of req/s and p99 follow the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import KEY, fresh_database, pg_url_for, print_table
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.cart import (
    AddLineItem,
    SetBillingAddress,
    SetCustomerEmail,
    SetShippingAddress,
    SetShippingMethod,
)
from tender.domain.customers import Address
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.shipping import add_shipping_method

SECRET = KEY.decode() + "-http-bench-secret"
GLUE_ADDRESS = {
    "salutation": "Ms",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "Main St",
    "address2": "1",
    "zipCode": "10115",
    "city": "Berlin",
    "iso2Code": "DE",
}
ADDRESS = Address(
    salutation="Ms",
    first_name="Ada",
    last_name="Lovelace",
    street_name="Main St",
    street_number="1",
    postal_code="10115",
    city="Berlin",
    country="DE",
)
BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel
class Item(BaseModel):
    id: int
    name: str
    price: int
app = FastAPI()
@app.get("/item")
async def item() -> Item:
    return Item(id=1, name="tea", price=1299)
"""
CHECKOUT_LUA = r"""
-- Each request takes the next prepared line ("PATH BODY"); the threads interleave so no line is
-- sent twice. Answers that are not 2xx are counted per status, and the first body is kept, so
-- an error in the table can be explained.
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
  keyed = args[3] == "keyed"
end
function request()
  local i = tid + counter * step + 1
  counter = counter + 1
  if i > #ids then exhausted = "yes" end
  local line = ids[((i - 1) % #ids) + 1]
  local sep = string.find(line, " ")
  local path = string.sub(line, 1, sep - 1)
  local body = string.sub(line, sep + 1)
  local headers = nil
  if keyed then
    -- a merchant's backend sends a fresh key with every request, as retries need it
    headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Idempotency-Key"] = "bench-" .. i
  end
  return wrk.format("POST", path, headers, body)
end
function response(status, headers, body)
  if status < 300 then return end
  counts[status] = (counts[status] or 0) + 1
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
WARM_UP_SECONDS = 1
"""Each server is warmed up on carts of its own first: new pool connections prepare their
statements and SQLAlchemy fills its compiled cache, which a running service has long done."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL
        )
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed (Debian package wrk)")
    return found


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


SERVERS = ("uvicorn", "granian")


def server_command(server: str, args: list[str], port: int) -> list[str]:
    """``args`` in uvicorn's spelling (app, ``--factory``, ``--app-dir``, ``--workers``), for
    either server: granian's Rust HTTP core parses requests outside the event loop."""
    common = ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", *args, *common]
    translated = [
        "--working-dir" if arg == "--app-dir" else arg for arg in args
    ]  # the same flags otherwise
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
            *translated, *common]  # fmt: skip


def start(args: list[str], env: dict[str, str], port: int, server: str = "uvicorn") -> Server:
    process = subprocess.Popen(
        server_command(server, args, port),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.5)
            return Server(process, port)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


@dataclass
class WrkResult:
    rps: float
    p50: float
    p99: float
    requests: int
    errors: int
    detail: str

    def error_text(self) -> str:
        if not self.errors:
            return f"0 of {self.requests}"
        return f"{self.errors} of {self.requests} ({self.detail})"


def wrk(
    binary: str,
    url: str,
    connections: int,
    seconds: int,
    script: Path | None,
    args: list[str],
    headers: dict[str, str],
) -> WrkResult:
    threads = min(2, connections)
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    details = re.findall(r"^FAILURES (.*)$", out, re.MULTILINE)
    if "EXHAUSTED" in out:
        details.insert(0, "ran past the prepared carts, so some were sent twice: raise --carts")
    details += [f"first: {b}" for b in re.findall(r"^FIRST (.*)$", out, re.MULTILINE)[:1]]
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
        details.append(socket_errors.group(0))
    return WrkResult(rps, ms("50"), ms("99"), total, errors, "; ".join(details))


async def prepare(
    db: Database, count: int, folder: Path, extra: int = 0
) -> tuple[dict[str, str], Path, Path, Path]:
    """A client token, ``count`` carts ready to place with two gift cards each (checkout file),
    ``count`` fresh carts and cards for adding a card (add-card file), and ``extra`` more carts
    ready to place (extra file, for the baseline)."""
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        sweep_interval_seconds=0,
    )
    runtime = Runtime(settings)
    try:
        client, secret = await runtime.db.transaction(
            lambda c: runtime.oauth.create_client(
                SqlClientStore(c), name="bench", scopes="manage_orders manage_giftcards"
            )
        )
        verified = await runtime.db.read(
            lambda c: runtime.oauth.verify_client(
                SqlClientStore(c), client_id=client.client_id, client_secret=secret
            )
        )
        token = await runtime.db.transaction(
            lambda c: runtime.oauth.issue_token(SqlClientStore(c), verified=verified, scope=None)
        )
        owner = f"client:{client.client_id}"
        method = await runtime.db.transaction(
            lambda c: add_shipping_method(
                runtime.work(c, actor=None).shipping,
                clock=runtime.clock,
                name="Standard",
                carrier_name="DHL",
                price=Money(490, "EUR"),
                tax_rate_bp=1900,
                countries=["DE"],
            )
        )
        cards = await runtime.db.transaction(
            lambda c: runtime.ledger.issue(
                SqlLedgerStore(c), amount=Money(5000, "EUR"), count=3 * (count + extra)
            )
        )
        checkout_lines: list[str] = []
        add_lines: list[str] = []
        for start in range(0, count + extra, 200):

            async def batch(conn: Any, start: int = start) -> None:
                w = runtime.work(conn, actor=owner)
                for i in range(start, min(start + 200, count + extra)):
                    view = await runtime.carts.create(
                        w,
                        owner=owner,
                        currency="EUR",
                        country="DE",
                        customer_email="a@b.de",
                        lines=[AddLineItem("TEA", "Tea", 2, 4000, 1900)],
                    )
                    view = await runtime.carts.update(
                        w,
                        cart_id=view.cart.id,
                        owner=owner,
                        version=view.cart.version,
                        actions=[
                            SetShippingAddress(ADDRESS),
                            SetBillingAddress(ADDRESS),
                            SetCustomerEmail("a@b.de"),
                            SetShippingMethod(method.id),
                        ],
                    )
                    for card in cards[3 * i : 3 * i + 2]:
                        await runtime.carts.add_gift_card(
                            w, cart_id=view.cart.id, owner=owner, code=card.code, pin=None
                        )
                    document = {
                        "data": {
                            "type": "checkout",
                            "attributes": {
                                "idCart": view.cart.id,
                                "customer": {"email": "a@b.de"},
                                "billingAddress": GLUE_ADDRESS,
                                "shippingAddress": GLUE_ADDRESS,
                                "shipment": {"idShipmentMethod": method.id},
                                "payments": [{"paymentMethodName": "giftcard"}],
                            },
                        }
                    }
                    checkout_lines.append(f"/checkout {json.dumps(document)}")
                    if i >= count:
                        continue
                    other = await runtime.carts.create(
                        w,
                        owner=owner,
                        currency="EUR",
                        country="DE",
                        lines=[AddLineItem("TEA", "Tea", 1, 9000, 1900)],
                    )
                    add_lines.append(
                        f"/carts/{other.cart.id}/giftcards "
                        f"{json.dumps({'code': cards[3 * i + 2].code})}"
                    )

            await runtime.db.transaction(batch)
        checkout_file = folder / "checkout.txt"
        checkout_file.write_text("\n".join(checkout_lines[:count]) + "\n")
        add_file = folder / "add.txt"
        add_file.write_text("\n".join(add_lines) + "\n")
        extra_file = folder / "extra.txt"
        extra_file.write_text("\n".join(checkout_lines[count:]) + "\n")
        return (
            {"Authorization": f"Bearer {token.access_token}", "Content-Type": "application/json"},
            checkout_file,
            add_file,
            extra_file,
        )
    finally:
        await runtime.close()


async def audit(db: Database) -> list[str]:
    """The ledger's invariants, and that every placed order holds exactly its two cards (an
    answer that failed took no hold, and no hold was lost)."""

    async def check(conn: Any) -> list[str]:
        problems = await SqlLedgerStore(conn).audit()
        placed = (await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one()
        holds = (
            await conn.execute(text("SELECT count(*) FROM holds WHERE status = 'active'"))
        ).scalar_one()
        if holds != 2 * placed:
            problems.append(f"{placed} orders placed but {holds} active holds")
        return problems

    return await db.read(check)


def split(lines_file: Path, warm_up: int) -> tuple[Path, Path, Path]:
    """The first ``warm_up`` prepared requests for warming the server, then two halves of the
    rest for two measured runs (each request may be sent once only)."""
    lines = lines_file.read_text().splitlines()
    middle = warm_up + (len(lines) - warm_up) // 2
    parts = (lines[:warm_up], lines[warm_up:middle], lines[middle:])
    files = tuple(lines_file.with_suffix(f".part{n}") for n in range(3))
    for file, part in zip(files, parts, strict=True):
        file.write_text("\n".join(part) + "\n")
    return files[0], files[1], files[2]


def row(label: str, kind: str, workers: int, connections: int, r: WrkResult) -> list[str]:
    return [
        label,
        kind,
        str(workers),
        str(connections),
        f"{r.rps:,.0f}",
        f"{r.p50:.1f}",
        f"{r.p99:.1f}",
        r.error_text(),
    ]


BASELINE_LABEL = "checkout baseline: FastAPI + asyncpg, same work"
CHECKOUT_LABEL = "POST /checkout, 2 gift cards"


@dataclass
class Comparison:
    """tender's plain ``POST /checkout`` and the baseline, measured in the same run."""

    workers: int
    connections: int
    tender: WrkResult
    baseline: WrkResult

    def text(self) -> str:
        rps = self.tender.rps / self.baseline.rps
        p99 = self.tender.p99 / self.baseline.p99
        return (
            f"{self.workers} worker(s), {self.connections} connections: "
            f"req/s {self.tender.rps:,.0f} / {self.baseline.rps:,.0f} = {rps:.2f} "
            f"(goal >= 0.6: {'met' if rps >= 0.6 else 'not met'}); "
            f"p99 {self.tender.p99:.1f} / {self.baseline.p99:.1f} ms = {p99:.2f} "
            f"(goal <= 2: {'met' if p99 <= 2 else 'not met'})"
        )


def audit_row(
    label: str, kind: str, workers: int, connections: int, problems: list[str]
) -> list[str]:
    failed = "; ".join(problems[:3])
    return [label, kind, str(workers), str(connections), "-", "-", "-", failed]


def measure_baseline(
    binary: str,
    lua: Path,
    db: Database,
    lines_file: Path,
    headers: dict[str, str],
    *,
    workers: int,
    connections: int,
    seconds: int,
    warm_up: int,
) -> list[WrkResult]:
    """The baseline service on ``lines_file``'s carts (none of which tender saw): a warm-up on
    the first ``warm_up``, then one measured run on the rest. Answers the warm-up's result when
    it failed, then the measured one."""
    lines = lines_file.read_text().splitlines()
    warm, measured = lines_file.with_suffix(".warm"), lines_file.with_suffix(".measured")
    warm.write_text("\n".join(lines[:warm_up]) + "\n")
    measured.write_text("\n".join(lines[warm_up:]) + "\n")
    env = {
        "BASELINE_DATABASE_URL": pg_url_for(db),
        "BASELINE_SECRET_KEY": SECRET,
        "BASELINE_POOL_SIZE": str(Settings.model_fields["db_pool_size"].default),
    }
    port = free_port()
    app_dir = str(Path(__file__).resolve().parent)
    server = start(
        ["baseline_checkout:app", "--app-dir", app_dir, "--workers", str(workers)], env, port
    )
    url = f"http://127.0.0.1:{port}"
    threads = str(min(2, connections))
    results = []
    try:
        w = wrk(
            binary, url, connections, WARM_UP_SECONDS, lua, [str(warm), threads, "plain"], headers
        )
        if w.errors:
            results.append(w)
        r = wrk(binary, url, connections, seconds, lua, [str(measured), threads, "plain"], headers)
        results.append(r)
    finally:
        server.stop()
    return results


async def measure_tender(
    binary: str,
    lua: Path,
    folder: Path,
    *,
    kind: str,
    workers: int,
    connections: int,
    seconds: int,
    carts: int,
    baseline_carts: int,
) -> tuple[list[list[str]], Comparison | None]:
    rows = []
    comparison = None
    with_baseline = kind == "postgresql" and baseline_carts > 0
    async with fresh_database(kind) as db:
        headers, checkout_file, add_file, extra_file = await prepare(
            db, carts, folder, extra=baseline_carts if with_baseline else 0
        )
        env = {
            "TENDER_DATABASE_URL": db.url,
            "TENDER_SECRET_KEY": SECRET,
            "TENDER_ENV": "test",
            "TENDER_SWEEP_INTERVAL_SECONDS": "0",
            "TENDER_ENV_FILE": str(folder / "none.env"),
            "TENDER_CARD_ATTEMPTS_PER_CLIENT_MINUTE": "1000000",
        }
        port = free_port()
        server = start(
            ["tender.api.app:app_from_env", "--factory", "--workers", str(workers)], env, port
        )
        url = f"http://127.0.0.1:{port}"
        threads = str(min(2, connections))
        placed: WrkResult | None = None
        try:
            warm, plain, keyed = split(checkout_file, carts // 6)
            add_warm, add_plain, _ = split(add_file, carts // 6)
            for label, warm_file, measured, mode in (
                (CHECKOUT_LABEL, warm, plain, "plain"),
                ("the same with an Idempotency-Key", None, keyed, "keyed"),
                ("POST /carts/{id}/giftcards", add_warm, add_plain, "plain"),
            ):
                if warm_file is not None:
                    w = wrk(
                        binary,
                        url,
                        connections,
                        WARM_UP_SECONDS,
                        lua,
                        [str(warm_file), threads, mode],
                        headers,
                    )
                    if w.errors:  # a cold server must not fail either: show it
                        rows.append(row(f"{label} (warm-up)", kind, workers, connections, w))
                r = wrk(
                    binary, url, connections, seconds, lua, [str(measured), threads, mode], headers
                )
                rows.append(row(label, kind, workers, connections, r))
                if label == CHECKOUT_LABEL:
                    placed = r
        finally:
            server.stop()
        problems = await audit(db)
        if problems:
            rows.append(audit_row("AUDIT FAILED", kind, workers, connections, problems))
        if with_baseline:
            results = measure_baseline(
                binary,
                lua,
                db,
                extra_file,
                headers,
                workers=workers,
                connections=connections,
                seconds=seconds,
                warm_up=baseline_carts // 6,
            )
            for r in results[:-1]:
                rows.append(row(f"{BASELINE_LABEL} (warm-up)", kind, workers, connections, r))
            rows.append(row(BASELINE_LABEL, kind, workers, connections, results[-1]))
            problems = await audit(db)
            if problems:
                label = "AUDIT FAILED after the baseline"
                rows.append(audit_row(label, kind, workers, connections, problems))
            if placed is not None:
                comparison = Comparison(workers, connections, placed, results[-1])
    return rows, comparison


async def main(
    seconds: int,
    carts: int,
    baseline_carts: int,
    kinds: list[str],
    workers: list[int],
    connections: list[int],
) -> None:
    binary = ensure_wrk()
    rows: list[list[str]] = []
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bare_app.py").write_text(BARE_APP)
        lua = folder / "requests.lua"
        lua.write_text(CHECKOUT_LUA)
        port = free_port()
        bare = start(["bare_app:app", "--app-dir", str(folder)], {}, port)
        try:
            for conns in connections:
                url = f"http://127.0.0.1:{port}/item"
                wrk(binary, url, conns, WARM_UP_SECONDS, None, [], {})
                r = wrk(binary, url, conns, seconds, None, [], {})
                rows.append(row("bare FastAPI GET (baseline)", "-", 1, conns, r))
        finally:
            bare.stop()
        for kind in kinds:
            if kind != "postgresql":
                skipped = "skipped: raw asyncpg, PostgreSQL only"
                rows.append([BASELINE_LABEL, kind, "-", "-", "-", "-", "-", skipped])
            for count in workers:
                for conns in connections:
                    measured, comparison = await measure_tender(
                        binary,
                        lua,
                        folder,
                        kind=kind,
                        workers=count,
                        connections=conns,
                        seconds=seconds,
                        carts=carts,
                        baseline_carts=baseline_carts,
                    )
                    rows += measured
                    if comparison is not None:
                        comparisons.append(comparison)
    print_table(
        f"Checkout over HTTP, {seconds} s per row after a {WARM_UP_SECONDS} s warm-up, wrk "
        "(p50/p99 in ms; errors: answers that were not 2xx, by status)",
        ["endpoint", "db", "workers", "conns", "req/s", "p50", "p99", "errors"],
        rows,
    )
    if comparisons:
        print(
            "\nPOST /checkout against its baseline, tender / baseline "
            "(goal: req/s >= 0.6x, p99 <= 2x)"
        )
        for comparison in comparisons:
            print("  " + comparison.text())
    elif "postgresql" not in kinds:
        print(f"\n{BASELINE_LABEL}: skipped, it runs on PostgreSQL only (--db postgresql)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--carts",
        type=int,
        default=9000,
        help="carts prepared per run, a sixth of them for the warm-up; more than a run places",
    )
    parser.add_argument(
        "--baseline-carts",
        type=int,
        default=9000,
        help="carts for the baseline per PostgreSQL run, a sixth for its warm-up; 0 skips it",
    )
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--connections", nargs="+", type=int, default=[8, 32])
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.seconds,
            arguments.carts,
            arguments.baseline_carts,
            arguments.db,
            arguments.workers,
            arguments.connections,
        )
    )
