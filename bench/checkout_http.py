"""Requests/s and p50/p99 for placing orders over HTTP (Spryker ``POST /checkout``, two gift
cards per order) and for adding a gift card to a cart, on SQLite and PostgreSQL, with 1 and 2
uvicorn workers, at 8 and 32 connections (wrk), next to a bare FastAPI endpoint measured in
the same run. After each run the books are audited: no error, no lost or leftover hold.
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

from bench.common import KEY, fresh_database, print_table
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
from tender.domain.money import Money
from tender.runtime import Runtime
from tender.services.shipping import add_shipping_method

SECRET = KEY.decode() + "-http-bench-secret"
ADDRESS = {
    "salutation": "Ms",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "Main St",
    "address2": "1",
    "zipCode": "10115",
    "city": "Berlin",
    "iso2Code": "DE",
}
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
local ids = {}
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do table.insert(ids, line) end
  tid = tonumber(tid) or 0
  step = tonumber(args[2])
end
function request()
  local i = tid + counter * step + 1
  counter = counter + 1
  local line = ids[((i - 1) % #ids) + 1]
  local sep = string.find(line, " ")
  local path = string.sub(line, 1, sep - 1)
  local body = string.sub(line, sep + 1)
  return wrk.format("POST", path, nil, body)
end
"""


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


def start(args: list[str], env: dict[str, str], port: int) -> Server:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
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


def wrk(
    binary: str,
    url: str,
    connections: int,
    seconds: int,
    script: Path | None,
    args: list[str],
    headers: dict[str, str],
) -> WrkResult:
    command = [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
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
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return WrkResult(rps, ms("50"), ms("99"), total, errors)


async def prepare(db: Database, count: int, folder: Path) -> tuple[dict[str, str], Path, Path]:
    """A client token, ``count`` carts ready to place with two gift cards each (checkout file),
    and ``count`` fresh carts and cards for adding a card (add-card file)."""
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        jwt_secret=SECRET,
        sweep_interval_seconds=0,
    )
    runtime = Runtime(settings)
    try:
        client, secret = await runtime.db.transaction(
            lambda c: runtime.oauth.create_client(
                SqlClientStore(c), name="bench", scopes="manage_orders manage_giftcards"
            )
        )
        token = await runtime.db.transaction(
            lambda c: runtime.oauth.issue_token(SqlClientStore(c), client=client, scope=None)
        )
        del secret
        owner = f"client:{client.client_id}"
        method = await runtime.db.transaction(
            lambda c: add_shipping_method(
                runtime.work(c, actor=None).store,
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
                SqlLedgerStore(c), amount=Money(5000, "EUR"), count=3 * count
            )
        )
        checkout_lines, add_lines = [], []
        for start in range(0, count, 200):

            async def batch(conn: Any, start: int = start) -> None:
                w = runtime.work(conn, actor=owner)
                for i in range(start, min(start + 200, count)):
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
                                "billingAddress": ADDRESS,
                                "shippingAddress": ADDRESS,
                                "shipment": {"idShipmentMethod": method.id},
                                "payments": [{"paymentMethodName": "giftcard"}],
                            },
                        }
                    }
                    checkout_lines.append(f"/checkout {json.dumps(document)}")
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
        checkout_file.write_text("\n".join(checkout_lines) + "\n")
        add_file = folder / "add.txt"
        add_file.write_text("\n".join(add_lines) + "\n")
        return (
            {"Authorization": f"Bearer {token.access_token}", "Content-Type": "application/json"},
            checkout_file,
            add_file,
        )
    finally:
        await runtime.close()


async def audit(db: Database) -> list[str]:
    return await db.read(lambda c: SqlLedgerStore(c).audit())


async def main(seconds: int, carts: int) -> None:
    binary = ensure_wrk()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bare_app.py").write_text(BARE_APP)
        lua = folder / "requests.lua"
        lua.write_text(CHECKOUT_LUA)
        port = free_port()
        bare = start(["bare_app:app", "--app-dir", str(folder)], {}, port)
        try:
            for connections in (8, 32):
                r = wrk(binary, f"http://127.0.0.1:{port}/item", connections, seconds, None, [], {})
                rows.append(
                    [
                        "bare FastAPI GET (baseline)",
                        "-",
                        "1",
                        str(connections),
                        f"{r.rps:,.0f}",
                        f"{r.p50:.1f}",
                        f"{r.p99:.1f}",
                        str(r.errors),
                    ]
                )
        finally:
            bare.stop()
        for kind in ("sqlite", "postgresql"):
            for workers in (1, 2):
                for connections in (8, 32):
                    async with fresh_database(kind) as db:
                        headers, checkout_file, add_file = await prepare(db, carts, folder)
                        env = {
                            "TENDER_DATABASE_URL": db.url,
                            "TENDER_SECRET_KEY": SECRET,
                            "TENDER_JWT_SECRET": SECRET,
                            "TENDER_ENV": "test",
                            "TENDER_SWEEP_INTERVAL_SECONDS": "0",
                            "TENDER_ENV_FILE": str(folder / "none.env"),
                            "TENDER_CARD_ATTEMPTS_PER_CLIENT_MINUTE": "1000000",
                        }
                        port = free_port()
                        server = start(
                            ["tender.api.app:app_from_env", "--factory", "--workers", str(workers)],
                            env,
                            port,
                        )
                        try:
                            for label, data in (
                                ("POST /checkout, 2 gift cards", checkout_file),
                                ("POST /carts/{id}/giftcards", add_file),
                            ):
                                r = wrk(
                                    binary,
                                    f"http://127.0.0.1:{port}",
                                    connections,
                                    seconds,
                                    lua,
                                    [str(data), "2"],
                                    headers,
                                )
                                rows.append(
                                    [
                                        label,
                                        kind,
                                        str(workers),
                                        str(connections),
                                        f"{r.rps:,.0f}",
                                        f"{r.p50:.1f}",
                                        f"{r.p99:.1f}",
                                        f"{r.errors} of {r.requests}",
                                    ]
                                )
                        finally:
                            server.stop()
                        problems = await audit(db)
                        if problems:
                            rows.append(
                                [
                                    "AUDIT FAILED",
                                    kind,
                                    str(workers),
                                    str(connections),
                                    "-",
                                    "-",
                                    "-",
                                    "; ".join(problems[:3]),
                                ]
                            )
    print_table(
        f"Checkout over HTTP, {seconds} s per row, wrk -t2 (p50/p99 in ms; errors: non-2xx, "
        "incl. orders past the prepared carts)",
        ["endpoint", "db", "workers", "conns", "req/s", "p50", "p99", "errors"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--carts", type=int, default=2500, help="carts prepared per run; more than a run can place"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.carts))
