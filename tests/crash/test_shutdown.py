"""What ``tender serve`` does on SIGTERM with a request in flight, shown on the service as
deployed (``tender serve``, one worker) on a SQLite file and on PostgreSQL.

A deploy (systemd, Kubernetes) sends SIGTERM and, some seconds later, SIGKILL. In between, the
service stops taking connections, answers the requests it has begun, stops its background
sweep, closes its database pool and exits 0. A request still running once
``TENDER_SHUTDOWN_GRACE_SECONDS`` have passed is cancelled, so that the process is gone before
the SIGKILL; it leaves nothing behind, its transaction rolled back whole.

A request is kept in flight without any pause built into the service: the test holds what the
request needs and waits until it sees the request waiting for it. On PostgreSQL that is the
card's row (``FOR UPDATE``), and the request is seen in ``pg_blocking_pids``. On SQLite it is
the database's write lock, taken by a connection of the test's (``BEGIN IMMEDIATE``) as an
outside writer would (a shell, a backup tool): the request is seen holding tender's own writer
lock (``tender.db.writer_lock``), which it takes before SQLite's. (A request queued for that
writer lock behind another tender process is ``tests/test_writer_lock.py``'s.)
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url

from tender.db.engine import Database
from tender.db.migrate import upgrade
from tests.api.conftest import assert_error
from tests.conftest import PG_ADMIN_URL
from tests.crash.effects import Effects, effects
from tests.crash.routes import BALANCE, LOAD, REDEEM, Shop, eur
from tests.crash.service import Service, a_database, admin_headers, service_env
from tests.ports import free_port

WITHIN = 10.0
"""Seconds any awaited condition may take: far more than any takes (a tenth of one, idle)."""
GRACE = 1
"""``TENDER_SHUTDOWN_GRACE_SECONDS`` where the request outlasts it."""
EXIT_AFTER_GRACE = 5.0
"""Seconds past the grace period the process may take to exit: a second or less."""


class Lock(Protocol):
    """What another client holds that a request needs, taken and given back by the test."""

    async def take(self, card_id: str) -> None: ...

    async def waited_for(self) -> bool:
        """Whether a request of the service waits for it now."""
        ...

    async def release(self) -> None: ...


class RowLock:
    """PostgreSQL: the card's row, ``FOR UPDATE`` in an open transaction."""

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.conn: asyncpg.Connection[Any] | None = None

    async def take(self, card_id: str) -> None:
        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.execute("BEGIN")
        await self.conn.execute("SELECT id FROM cards WHERE id = $1 FOR UPDATE", card_id)

    async def waited_for(self) -> bool:
        assert self.conn is not None
        query = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
        return bool(await self.conn.fetchval(query, self.conn.get_server_pid()))

    async def release(self) -> None:
        if self.conn is not None:
            await self.conn.close()  # rolls back
            self.conn = None


class OutsideWriter:
    """SQLite: the database's write lock, held by a connection outside tender."""

    def __init__(self, url: str) -> None:
        self.path = make_url(url).database or ""
        self.conn: sqlite3.Connection | None = None

    async def take(self, card_id: str) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    async def waited_for(self) -> bool:
        """tender's writer lock is held: by the request, in its turn to write, which waits for
        SQLite's lock now (nothing else of the service writes)."""
        fd = os.open(f"{self.path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    async def release(self) -> None:
        if self.conn is not None:
            self.conn.close()  # rolls back
            self.conn = None


@dataclass
class Place:
    """One database, migrated, for this module's services."""

    kind: str
    url: str
    root: Path

    def lock(self) -> Lock:
        return OutsideWriter(self.url) if self.kind == "sqlite" else RowLock(self.url)

    def service(self, name: str, **settings: str) -> Service:
        env = {**service_env(self.url, pool_size=2), **settings}
        return Service(env, free_port(), self.root / f"{name}.log", workers=1)

    async def quiet(self) -> None:
        """Until the stopped service's connections have ended: on PostgreSQL a backend that
        waited for a lock can outlive its client, and rolls back only as it notices it gone."""
        if self.kind != "postgresql":
            return
        name = self.url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(PG_ADMIN_URL)

        async def ended() -> bool:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
            return await conn.fetchval(query, name) == 0

        try:
            await until(ended, "the service's backends end")
        finally:
            await conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def place(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Place]:
    kind: str = request.param
    root = tmp_path_factory.mktemp(f"shutdown-{kind}")
    async with a_database(kind, root) as url:
        database = Database(url, pool_size=1)
        try:
            await upgrade(database.engine)
        finally:
            await database.dispose()
        yield Place(kind, url, root)


@pytest.fixture
def started() -> Iterator[list[Service]]:
    """The services a test starts: SIGKILLed at its end if the test left any running."""
    services: list[Service] = []
    yield services
    for service in services:
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(10)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WITHIN} s: {what}")
        await asyncio.sleep(0.02)


def refused(port: int) -> bool:
    """Whether a new connection to ``port`` is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


async def rows(url: str, tag: str) -> Effects:
    database = Database(url, pool_size=1)
    try:
        return await effects(database, tag)
    finally:
        await database.dispose()


def log_of(service: Service) -> str:
    return service.log.path.read_text("utf-8", "replace")


def exit_of(service: Service, within: float) -> int:
    assert service.process is not None
    try:
        return service.process.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {within} s after SIGTERM: {log_of(service)}") from None


async def test_a_request_in_flight_at_sigterm_is_answered_and_the_process_exits_0(
    place: Place, started: list[Service]
) -> None:
    """A card load waiting for the card when SIGTERM comes: new connections are refused at
    once, the load is answered 200 once the card is free, the sweep and the pool close with
    nothing in the log, and the process exits 0 (it died of the SIGTERM uvicorn raised again,
    143, before ``serve`` took the signal over). The card was loaded once."""
    tag = f"shutdown-{place.kind}-answered"
    # The sweep runs all along on PostgreSQL, where it touches no card. On SQLite it would
    # queue for the same write lock as the load, and the test could not tell which it saw.
    sweep = "0.1" if place.kind == "postgresql" else "3600"
    service = place.service(tag, TENDER_SWEEP_INTERVAL_SECONDS=sweep)
    started.append(service)
    service.start()
    service.wait_ready()
    lock = place.lock()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        shop = Shop(client, admin_headers(f"{tag}@example.com"))
        card = await shop.card(tag)
        await lock.take(card["id"])
        try:
            body = {"amount": eur(LOAD), "reference": tag}
            load = asyncio.create_task(
                client.post(f"/giftcards/{card['id']}/load", json=body, headers=shop.headers)
            )
            await until(lock.waited_for, "the load waits for the card")
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            await until(lambda: asyncio.to_thread(refused, service.port), "connections refused")
            assert not load.done()
            assert service.process.poll() is None, "the process left a request unanswered"
        finally:
            await lock.release()
        answered = await load
    assert answered.status_code == 200, answered.text
    assert answered.json()["balance"]["posted"]["centAmount"] == BALANCE + LOAD, answered.text
    assert exit_of(service, WITHIN) == 0, log_of(service)

    log = log_of(service)
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log, log
    assert '"level": "error"' not in log, log
    found = await rows(place.url, tag)
    assert found.problems == [], found.problems
    assert found.digest["cards"] == [(BALANCE + LOAD, 0, "active")]
    assert found.digest["activities"] == [("issue", BALANCE, 1), ("load", LOAD, 1)]
    assert found.digest["entries"] == [("card", LOAD, 1), ("card", BALANCE, 1)]


async def test_a_request_past_the_grace_period_is_cancelled_and_leaves_nothing(
    place: Place, started: list[Service]
) -> None:
    """A redemption from the shopper's page that still waits for the card when the grace
    period ends is cancelled: it is answered 503 in the error shape (uvicorn's own answer was a
    plain-text 500, with a traceback in the log), the process exits 0 while the card is still
    locked, and the redemption left no hold, no payment, no ledger entry. On SQLite the wait
    (in SQLite's busy handler, which nothing interrupts) held up the exit until the outside
    writer let go; it now gives up after a step of it (``tender.db.sqlite_driver``)."""
    tag = f"shutdown-{place.kind}-cancelled"
    lock = place.lock()
    service = place.service(tag, TENDER_SHUTDOWN_GRACE_SECONDS=str(GRACE))
    started.append(service)
    service.start()
    service.wait_ready()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        shop = Shop(client, admin_headers(f"{tag}@example.com"))
        await shop.open()
        card, cart = await shop.card(tag), await shop.cart(tag)
        session = await shop.post("/sessions", {"cart": {"cartRef": {"id": cart}}}, 201)
        await lock.take(card["id"])
        try:
            amount = {"centAmount": REDEEM, "currencyCode": "EUR"}
            redeem = asyncio.create_task(
                client.post(
                    "/redeem",
                    json={"code": card["code"], "redeemAmount": amount},
                    headers={"X-Session-Id": session["id"]},
                )
            )
            await until(lock.waited_for, "the redemption waits for the card")
            assert service.process is not None
            signalled = time.monotonic()
            service.process.send_signal(signal.SIGTERM)
            exited = await asyncio.to_thread(exit_of, service, GRACE + EXIT_AFTER_GRACE)
            took = time.monotonic() - signalled
            try:
                answer: httpx.Response | None = await redeem
            except httpx.TransportError:
                answer = None  # the connection closed unanswered
        finally:
            await lock.release()
    assert answer is not None, log_of(service)
    body = assert_error(answer, 503, "ServiceUnavailable")
    assert "Idempotency-Key" in body["message"], body
    assert answer.headers["retry-after"] == "2"
    assert exited == 0, log_of(service)
    assert took >= GRACE, log_of(service)
    log = log_of(service)
    assert "Traceback" not in log, log
    assert "request cancelled before its answer" in log, log
    assert '"status": 503' in log, log

    await place.quiet()
    found = await rows(place.url, tag)
    assert found.problems == [], found.problems
    assert found.digest["cards"] == [(BALANCE, 0, "active")]
    assert found.digest["activities"] == [("issue", BALANCE, 1)]
    assert found.digest["entries"] == [("card", BALANCE, 1)]
    assert found.digest["holds"] == []
    assert found.digest["payments"] == []


async def test_ctrl_c_stops_the_service_in_order_and_exits_0(
    place: Place, started: list[Service]
) -> None:
    """Ctrl-C in the terminal of ``make run`` (SIGINT to the process group) stops the service
    as SIGTERM does: shut down in order, exit 0, and no "Aborted!" (the command line's word for
    a command that failed) after uvicorn's "Application shutdown complete"."""
    service = place.service(f"shutdown-{place.kind}-interrupted")
    started.append(service)
    service.start()
    service.wait_ready()
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGINT)
    assert exit_of(service, WITHIN) == 0, log_of(service)
    log = log_of(service)
    assert "Application shutdown complete." in log, log
    assert "Aborted" not in log, log
    assert "Traceback" not in log, log
