"""tender as deployed, for the crash test: ``tender serve --workers N`` in its own process
group, its log in a file, and the means to SIGKILL one of its workers.

uvicorn's supervisor replaces a worker that died (it checks every half second), so a killed
worker comes back by itself, exactly as in production; the test only has to find the worker
processes and kill them. A worker counts as serving once it has logged ``Started server
process [pid]``, which uvicorn does after the app is built, just before it accepts requests.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tender.auth.jwt import mint_admin_token
from tender.domain.principals import parse_scopes
from tests.api.conftest import SECRET, SIGNING_KEY
from tests.conftest import create_pg_database, drop_pg_database

TENDER = str(Path(sys.executable).with_name("tender"))
STARTED = re.compile(r"Started server process \[(\d+)\]")
INJECTED = re.compile(r"fault injection: crash point (\w+) in process (\d+)")
DIED = re.compile(r"Child process \[(\d+)\] died")


@contextlib.asynccontextmanager
async def a_database(kind: str, folder: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database for a service: a SQLite file in ``folder``, or a
    PostgreSQL database of its own, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'tender.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


def service_env(url: str, *, pool_size: int, faults: str | None = None) -> dict[str, str]:
    """A crash test's service on ``url``: no hold sweep (the tests count every hold), budgets
    no run spends, and the crash points of ``faults`` armed."""
    env = {
        **os.environ,
        "TENDER_DATABASE_URL": url,
        "TENDER_SECRET_KEY": SECRET,
        "TENDER_ENV": "test",
        "TENDER_ENV_FILE": os.devnull,
        "TENDER_SWEEP_INTERVAL_SECONDS": "0",
        "TENDER_DB_POOL_SIZE": str(pool_size),
        "TENDER_CARD_ATTEMPTS_PER_CLIENT_MINUTE": "1000000",
        "TENDER_CARD_ATTEMPTS_PER_SESSION_MINUTE": "1000",
    }
    if faults is not None:
        env["TENDER_FAULT_INJECTION"] = faults
    return env


def admin_headers(subject: str) -> dict[str, str]:
    """An admin token for every operation a crash test makes."""
    scopes = "manage_giftcards view_giftcards manage_orders manage_payments"
    token = mint_admin_token(
        key=SIGNING_KEY,
        subject=subject,
        ttl=timedelta(hours=1),
        scopes=parse_scopes(f"{scopes} manage_checkout_payment_intents"),
        now=datetime.now(UTC),
    )
    return {"Authorization": f"Bearer {token}"}


def run_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One ``tender`` command with the service's settings (never with crash points armed)."""
    quiet = {k: v for k, v in env.items() if k != "TENDER_FAULT_INJECTION"}
    return subprocess.run(
        [TENDER, *args], env=quiet, capture_output=True, text=True, timeout=120, check=False
    )


@dataclass
class ServiceLog:
    """What the service's log says so far, read incrementally."""

    path: Path
    offset: int = 0
    started: dict[int, float] = field(default_factory=dict)
    """Worker pid → when its start line was first read."""
    injected: list[tuple[str, int]] = field(default_factory=list)
    died: list[int] = field(default_factory=list)

    def read(self) -> None:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += complete
        now = time.monotonic()
        for line in chunk[:complete].decode("utf-8", "replace").splitlines():
            if match := STARTED.search(line):
                self.started.setdefault(int(match.group(1)), now)
            elif match := INJECTED.search(line):
                self.injected.append((match.group(1), int(match.group(2))))
            elif match := DIED.search(line):
                self.died.append(int(match.group(1)))


class Service:
    def __init__(self, env: Mapping[str, str], port: int, log_path: Path, *, workers: int) -> None:
        self.env = dict(env)
        self.count = workers
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = ServiceLog(log_path)
        self.killed: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log.path.open("ab")
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [TENDER, "serve", "--workers", str(self.count), *where],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until ``/ready`` answers 200 (database reachable, schema current)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the service was not ready in {timeout} s: {self.log_tail()}")

    def workers(self) -> list[int]:
        """Live worker processes of the supervisor (not the resource tracker, not zombies)."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == self.process.pid and state != "Z" and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def serving_workers(self, min_age: float) -> list[int]:
        """Workers that have been serving for ``min_age`` seconds and are not dying already."""
        self.log.read()
        now = time.monotonic()
        gone = set(self.killed) | {pid for _, pid in self.log.injected}
        return [
            pid
            for pid in self.workers()
            if pid not in gone and now - self.log.started.get(pid, now) >= min_age
        ]

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.killed.append(pid)

    def stop(self) -> None:
        """SIGTERM the supervisor (it stops its workers); SIGKILL whatever remains of ours."""
        if self.process is None:
            return
        workers = self.workers() if self.process.poll() is None else []
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.read()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.path.read_text("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])
