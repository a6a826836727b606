"""What one processor call costs the server, counted in process: CPU milliseconds, Python
function calls, database round trips and connections taken from the pool per ``POST /balance``
and ``POST /redeem``, for tender and for the asyncpg baseline (``bench/baseline_processor.py``)
on the same PostgreSQL database.

The ASGI apps are called directly, with no HTTP server or client in the figures, on uvloop as
uvicorn's workers run them: one request at a time, and then ``--concurrency`` at once (8 by
default), as a worker under load serves them. A request costs less CPU in company, since one
turn of the event loop serves several; an app that waits for more round trips gains more.
Calls and round trips do not depend on how busy the host is, unlike requests/s: they are the
figures to compare across sittings; CPU per request varies with the host like req/s.
A redemption carries an ``Idempotency-Key``, as the enabler's ``submit`` sends one.
With several at once, the PostgreSQL server's CPU per request is read from ``/proc`` too,
where its processes can be seen (``-`` otherwise): at two workers both cores are busy, and the
server's share counts as much as the worker's. Statements are counted for tender only, by a
SQLAlchemy listener, with a ``BEGIN`` and a ``COMMIT`` for each transaction (on PostgreSQL
each is a round trip; SQLite has none); the baseline's round trips are those its docstring
lists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvloop
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from bench.checkout_http import SECRET
from bench.common import fresh_database, pg_url_for, print_table, server_cpu, server_cpu_since
from bench.processor_http import ORIGIN, prepare
from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.db.sqlite_driver import OneHopConnection

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
WARM_UP = 20
CONCURRENCY = 8


async def post(app: Asgi, line: str) -> None:
    """One prepared line (``PATH SESSION BODY``) as a request straight into the app."""
    path, token, text = line.split(" ", 2)
    body = text.encode()
    headers = {
        "x-session-id": token,
        "origin": ORIGIN,
        "content-type": "application/json",
        "content-length": str(len(body)),
        "host": "bench",
    }
    if path == "/redeem":  # as the enabler's submit sends it: one key a redemption
        headers["idempotency-key"] = f"redeem-{token}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    await app(scope, receive, send)
    if answer["status"] >= 300 or b'"Failure"' in answer["body"]:
        raise RuntimeError(f"{path} answered {answer['status']}: {answer['body'][:200]!r}")


async def cost(
    app: Asgi, lines: list[str], requests: int, warm_up: int, concurrency: int
) -> tuple[float, float, float, float | None]:
    """CPU ms per request over ``requests`` lines one at a time after a warm-up, then over
    ``requests`` more sent ``concurrency`` at once (and the PostgreSQL server's CPU ms per
    request meanwhile, if its processes can be seen), then Python calls per request profiled
    over the lines left (a profile's own cost must not be in the CPU)."""
    for line in lines[:warm_up]:
        await post(app, line)
    alone = lines[warm_up : warm_up + requests]
    together = lines[warm_up + requests : warm_up + 2 * requests]
    profiled = lines[warm_up + 2 * requests :]
    started = time.process_time()
    for line in alone:
        await post(app, line)
    cpu = (time.process_time() - started) / len(alone) * 1000
    queue = iter(together)

    async def serve() -> None:
        for line in queue:
            await post(app, line)

    started, server_before = time.process_time(), server_cpu()
    await asyncio.gather(*(serve() for _ in range(concurrency)))
    cpu_together = (time.process_time() - started) / len(together) * 1000
    server_seconds = server_cpu_since(server_before)
    server = None if server_seconds is None else server_seconds / len(together) * 1000
    profile = cProfile.Profile()
    profile.enable()
    for line in profiled:
        await post(app, line)
    profile.disable()
    calls = pstats.Stats(profile).total_calls / len(profiled)  # type: ignore[attr-defined]
    return cpu, cpu_together, calls, server


@contextlib.contextmanager
def counting_hand_offs(count: list[int]) -> Iterator[None]:
    """Count SQLite's hand-offs to its connections' threads (``OneHopConnection._execute``)
    in ``count[0]`` for the block: on SQLite they are what round trips are on PostgreSQL."""
    handing = OneHopConnection._execute

    async def counted(self: OneHopConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await handing(self, fn, *args, **kwargs)

    OneHopConnection._execute = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        OneHopConnection._execute = handing  # type: ignore[method-assign]


def unbudgeted(db: Database) -> Settings:
    """tender on ``db`` with card lookup budgets no run can spend."""
    return Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        sweep_interval_seconds=0,
        card_attempts_per_session_minute=10**6,
        card_attempts_per_client_minute=10**6,
    )


async def measure(
    db: Database, requests: int, warm_up: int = WARM_UP, concurrency: int = CONCURRENCY
) -> list[list[str]]:
    """Rows of (app, call, CPU ms alone, CPU ms with ``concurrency`` at once, calls, round
    trips, SQLite's hand-offs, connections) on ``db``, a migrated, empty database; the
    baseline's only on PostgreSQL."""
    postgresql = not db.is_sqlite
    share = warm_up + 2 * requests + max(1, requests // 4) + 1  # and one to count round trips
    balance, redeem = await prepare(db, 2 * share if postgresql else share, 0, cards=2 * share)
    app = create_app(unbudgeted(db))
    statements: list[str] = []
    checkouts: list[int] = []

    def checked_out(*_: Any) -> None:
        checkouts.append(1)

    def executed(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN") and statements[-2:] == ["BEGIN", "COMMIT"]:
            del statements[-2]  # a BEGIN sent with statements of its own: counted as one trip
        statements.append(statement)

    def began(conn: Connection) -> None:
        """asyncpg's ``BEGIN`` and the ``COMMIT`` that follows (SQLite's ``BEGIN`` is an
        executed statement, and its commit no statement)."""
        if postgresql and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            statements.extend(["BEGIN", "COMMIT"])

    rows = []
    async with app.router.lifespan_context(app):
        named = (("balance", balance[:share]), ("redeem", redeem[:share]))
        # Every cost first: a listener, even removed, leaves SQLAlchemy announcing each
        # statement, which would count against the calls measured after it.
        costs = [await cost(app, lines[:-1], requests, warm_up, concurrency) for _, lines in named]
        for (name, lines), (cpu, together, calls, server) in zip(named, costs, strict=True):
            event.listen(Engine, "before_cursor_execute", executed)
            event.listen(Engine, "begin", began)
            event.listen(Pool, "checkout", checked_out)
            statements.clear()
            checkouts.clear()
            hand_offs = [0]
            try:
                with counting_hand_offs(hand_offs):
                    await post(app, lines[-1])
            finally:
                event.remove(Engine, "before_cursor_execute", executed)
                event.remove(Engine, "begin", began)
                event.remove(Pool, "checkout", checked_out)
            hops = str(hand_offs[0]) if db.is_sqlite else "-"
            counted = [str(len(statements)), hops, str(len(checkouts))]
            figures = [f"{cpu:.2f}", f"{together:.2f}", f"{calls:,.0f}"]
            rows.append(["tender", name, *figures, *counted, _server_ms(server, postgresql)])
            if os.environ.get("BENCH_SHOW_STATEMENTS"):
                print("\n".join(" ".join(s.split())[:100] for s in statements))
    if not postgresql:
        return rows
    os.environ["BASELINE_DATABASE_URL"] = pg_url_for(db)
    os.environ["BASELINE_SECRET_KEY"] = SECRET
    from bench.baseline_processor import app as baseline

    async with baseline.router.lifespan_context(baseline):
        for name, lines in (("balance", balance[share:]), ("redeem", redeem[share:])):
            cpu, together, calls, server = await cost(
                baseline, lines, requests, warm_up, concurrency
            )
            round_trips = "2" if name == "balance" else "12"
            figures = [f"{cpu:.2f}", f"{together:.2f}", f"{calls:,.0f}"]
            server_ms = _server_ms(server, postgresql)
            rows.append(["baseline", name, *figures, round_trips, "-", "1", server_ms])
    return rows


def _server_ms(server: float | None, postgresql: bool) -> str:
    return f"{server:.2f}" if postgresql and server is not None else "-"


async def main(requests: int, kinds: list[str], concurrency: int) -> None:
    for kind in kinds:
        async with fresh_database(kind) as db:
            rows = await measure(db, requests, concurrency=concurrency)
        print_table(
            f"One processor call in process on {kind}, {requests} requests each alone and "
            f"{requests} {concurrency} at once (CPU ms, Python calls and statements per "
            "request; on PostgreSQL statements are round trips, on SQLite hand-offs to a "
            "connection's thread are; connections taken from the pool; the PostgreSQL "
            "server's CPU per request meanwhile, all of its processes)",
            [
                "app",
                "call",
                "CPU ms",
                f"CPU ms, {concurrency} at once",
                "calls",
                "statements",
                "hand-offs",
                "connections",
                f"PostgreSQL CPU ms, {concurrency} at once",
            ],
            rows,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--db", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    arguments = parser.parse_args()
    # uvloop, as uvicorn's workers run, so that the figures are theirs
    uvloop.run(main(arguments.requests, arguments.db, arguments.concurrency))
