"""One database's service for the per-route crash tests: a service that stays up for setting
cases up and retrying them, and services armed with one crash point, each started for one
request and dead after it.

Services are forked from a template that has imported tender already (``forkserver``): a start
takes a tenth of a second instead of a second, which is what lets every money route be crashed
at every point it passes, on both databases, within a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
INJECTED = re.compile(r"fault injection: crash point (\w+) in process (\d+)")
RETRY_BUDGET = 30.0
"""Seconds a retry keeps asking: PostgreSQL notices a dead client's connection at once, and
the claim on the key goes with it, so this is far more than any retry needs."""
READY_WITHIN = 30.0
"""Seconds a forked service may take to answer ``/ready`` (a tenth of one, when idle)."""
GONE_WITHIN = 10.0
"""Seconds a stopped service, or one past its crash point, may take to be gone."""


@dataclass(frozen=True, slots=True)
class Call:
    """One state-changing request, as a client would send it again."""

    path: str
    body: dict[str, Any] | None
    headers: Mapping[str, str]
    """The caller's credentials: the merchant's token, or a shopper's session id."""
    expect: int


class Template:
    """The forking template: one per database, for as long as that database's tests run."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.crash.forkserver"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def fork(self, env: Mapping[str, str], port: int, log: Path) -> int:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        order = {"env": dict(env), "port": port, "log": str(log)}
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError("the service template exited")
        return int(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Running:
    """One forked service process."""

    pid: int
    url: str
    log: Path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def crashed_at(self) -> str | None:
        """The crash point that ended this process, if one did."""
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        found = [m.group(1) for m in INJECTED.finditer(text) if int(m.group(2)) == self.pid]
        return found[0] if found else None

    async def gone(self) -> None:
        deadline = time.monotonic() + GONE_WITHIN
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"process {self.pid} still runs: {self.tail()}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            await self.gone()
        except AssertionError:
            os.kill(self.pid, signal.SIGKILL)
            await self.gone()

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Stack:
    """The services of one database: ``steady`` for setting up and retrying, and one armed
    service per crash."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self.env = {k: v for k, v in env.items() if k != "TENDER_FAULT_INJECTION"}
        self.logs = logs
        self.template = Template()
        self.started = 0
        self.steady: Running | None = None

    async def start(self, plan: str = "") -> Running:
        """A service, ready; ``plan`` arms its crash points (``TENDER_FAULT_INJECTION``)."""
        env = {**self.env, "TENDER_FAULT_INJECTION": plan} if plan else self.env
        port = free_port()
        self.started += 1
        log = self.logs / f"service-{self.started}.log"
        running = Running(self.template.fork(env, port, log), f"http://127.0.0.1:{port}", log)
        await _ready(running)
        return running

    async def close(self) -> None:
        if self.steady is not None:
            await self.steady.stop()
        self.template.close()


async def _ready(running: Running) -> None:
    deadline = time.monotonic() + READY_WITHIN
    async with httpx.AsyncClient(base_url=running.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if not running.alive():
                raise AssertionError(f"the service died while starting: {running.tail()}")
            try:
                if (await client.get("/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.01)
    raise AssertionError(f"the service was not ready in {READY_WITHIN} s: {running.tail()}")


async def send(url: str, call: Call, key: str | None) -> httpx.Response:
    """Send ``call`` once (with ``key`` as its Idempotency-Key, if any)."""
    headers = {**call.headers, **({"Idempotency-Key": key} if key else {})}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post(call.path, json=call.body, headers=headers)


async def answer(url: str, call: Call, key: str | None) -> httpx.Response:
    """Send ``call`` until it is answered, as a client retrying after a crash would: no
    connection, a 5xx or the key still claimed by the dead attempt is no answer yet."""
    deadline = time.monotonic() + RETRY_BUDGET
    while True:
        try:
            response = await send(url, call, key)
        except httpx.TransportError:
            response = None
        if response is not None and not _unanswered(response):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer to {call.path} in {RETRY_BUDGET} s")
        await asyncio.sleep(0.02)


def _unanswered(response: httpx.Response) -> bool:
    if response.status_code >= 500:
        return True
    return response.status_code == 409 and "IdempotencyKeyInUse" in response.text
