"""Exactly once across crashes, shown on the service as deployed.

``tender serve --workers 2`` runs on a SQLite file and on PostgreSQL while several clients
issue, load, build carts paid by gift cards (added by the backend, or redeemed by the page
through the processor), place, capture or complete, and refund, every request with an
``Idempotency-Key``. The test SIGKILLs a worker at random moments (uvicorn's
supervisor starts a new one, as in production), and the after_commit crash point kills
workers between the commit and the answer. Every request that got no answer is retried with
the same key and body until it gets one. Afterwards the ledger audit must be clean, every
acknowledged or retried operation must have happened exactly once, every card must hold what
the answered operations put on it, and every hold must belong to a payment of an order.

``TENDER_CRASH_SEED`` replays a run's choices (amounts, kill moments, which worker); the
moments requests reach the workers still differ between runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.crash.audit import audit
from tests.crash.load import Caller, Journey, Tally, client_loop, eur
from tests.crash.service import Service, a_database, admin_headers, run_cli, service_env
from tests.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.crash, pytest.mark.xdist_group("workers")]

SEED = int(os.environ.get("TENDER_CRASH_SEED", "8"))
CLIENTS = 6
MIN_KILLS = 20
KILL_GAP = (0.3, 1.5)
"""Seconds between two kills, drawn uniformly."""
WORKERS = 2
MIN_WORKER_AGE = 0.3
"""A worker is killed only after it has served this long, so kills hit requests, not imports.
Restarting takes seconds on a busy machine, so at times neither worker serves: requests then
wait in the listening socket's backlog, which the supervisor keeps open."""
AFTER_COMMIT = 0.005
"""Probability of the after_commit crash point per request with a key."""
PHASE_LIMIT = 300.0
"""Seconds the kills may take to reach MIN_KILLS and one injected crash."""
RETRY_BUDGET = 90.0
"""Seconds a client retries one operation: longer than any lease a crashed request could leave
behind (60 s), so a retry that runs an operation twice shows up as a double, not as lost."""
REQUEST_TIMEOUT = 15.0


@dataclass
class Run:
    journeys: list[Journey]
    kills: int
    injected: int
    other_deaths: int
    """Workers that died neither by the test's SIGKILL nor by the crash point (the supervisor
    replaces a worker that does not answer its ping in time)."""
    requests: int
    seconds: float

    def summary(self, kind: str) -> str:
        ops = [op for j in self.journeys for op in j.ops]
        retried = [op for op in ops if op.retried]
        replayed = [op for op in retried if op.replayed]
        return (
            f"crash test on {kind} (seed {SEED}): {self.seconds:.0f} s, {len(self.journeys)} "
            f"journeys, {len(ops)} operations in {self.requests} requests; {self.kills} SIGKILLs, "
            f"{self.injected} injected after_commit crashes, {self.other_deaths} other worker "
            f"deaths; {len(retried)} operations retried, {len(replayed)} of them answered by a "
            "replay"
        )


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with a_database(request.param, tmp_path) as url:
        yield url


async def drive(service: Service, rng: random.Random) -> Run:
    """Clients run journeys while workers are killed; once there were enough kills and at least
    one injected crash, the clients finish the journeys under way and stop."""
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        created = await client.post(
            "/shipping-methods",
            json={"name": "Free", "price": eur(0), "taxRate": "19.00", "countries": ["DE"]},
            headers=admin_headers("crash-test@example.com"),
        )
    assert created.status_code == 201, created.text
    shipping_method_id = created.json()["id"]
    tally, stop, started = Tally(), asyncio.Event(), time.monotonic()
    clients = [
        asyncio.create_task(
            client_loop(
                Caller(
                    service.url,
                    admin_headers("crash-test@example.com"),
                    tally,
                    budget=RETRY_BUDGET,
                    timeout=REQUEST_TIMEOUT,
                ),
                random.Random(f"{rng.random()}-{n}"),
                f"c{n}",
                shipping_method_id,
                stop,
            )
        )
        for n in range(CLIENTS)
    ]
    kills = 0
    try:
        while time.monotonic() - started < PHASE_LIMIT:
            if kills >= MIN_KILLS and service.log.injected:
                break
            await asyncio.sleep(rng.uniform(*KILL_GAP))
            serving = service.serving_workers(MIN_WORKER_AGE)
            if serving and tally.in_flight:
                service.kill(rng.choice(serving))
                kills += 1
    finally:
        stop.set()
        journeys = [j for done in await asyncio.gather(*clients) for j in done]
    await asyncio.to_thread(service.wait_ready)  # the supervisor brought the workers back
    service.log.read()
    crashed = {pid for _, pid in service.log.injected}
    return Run(
        journeys,
        kills,
        len(crashed),
        len(set(service.log.died) - crashed - set(service.killed)),
        tally.requests,
        time.monotonic() - started,
    )


async def test_no_crash_loses_or_doubles_an_operation(database_url: str, tmp_path: Path) -> None:
    kind = database_url.split(":", 1)[0].split("+", 1)[0]
    env = service_env(database_url, pool_size=4, faults=f"after_commit={AFTER_COMMIT}")
    migrated = run_cli(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    service = Service(env, free_port(), tmp_path / "service.log", workers=WORKERS)
    service.start()
    try:
        await asyncio.to_thread(service.wait_ready)
        run = await drive(service, random.Random(f"{SEED}-{kind}"))
    finally:
        service.stop()
    summary = run.summary(kind)
    print(summary)  # noqa: T201  (pytest -s or -rP shows the figures of a passing run)

    verified = run_cli(env, "ledger", "verify")
    assert verified.returncode == 0, f"{summary}\nledger audit:\n{verified.stdout}"
    findings = await audit(database_url, run.journeys)
    assert findings.report() == [], summary + "\n" + "\n".join(findings.report())
    assert run.kills >= MIN_KILLS, f"{summary}\nfewer than {MIN_KILLS} kills in {PHASE_LIMIT} s"
    assert run.injected >= 1, f"{summary}\nthe after_commit crash point never fired"
    retried = [op for j in run.journeys for op in j.ops if op.retried]
    assert any(op.replayed for op in retried), (
        f"{summary}\nno retried operation was answered by a replay: the window between the "
        "commit and the answer was not exercised"
    )
    redeemed = [j for j in run.journeys if j.paid_by == "redeem" and j.finished]
    assert len(redeemed) >= 10, f"{summary}\nonly {len(redeemed)} journeys redeemed their card"
    assert any(op.retried for j in redeemed for op in j.ops if op.kind == "redeem"), (
        f"{summary}\nno redemption was retried: the processor's route went uncrashed"
    )
