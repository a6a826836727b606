"""The service as deployed: two uvicorn worker processes on one database. Idempotency keys and
rate limits live in the database, so they hold whichever worker a request lands on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tender.db.engine import Database
from tests.api.conftest import SECRET, SIGNING_KEY
from tests.ports import free_port

pytestmark = pytest.mark.xdist_group("workers")


@pytest.fixture
def server(db: Database, tmp_path: object) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "TENDER_DATABASE_URL": db.url,
        "TENDER_SECRET_KEY": SECRET,
        "TENDER_ENV": "test",
        "TENDER_SWEEP_INTERVAL_SECONDS": "0",
        "TENDER_ENV_FILE": os.devnull,
        "TENDER_DB_POOL_SIZE": "4",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tender.api.app:app_from_env",
            "--factory",
            "--workers",
            "2",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("the two-worker server did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def admin_headers() -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    from tender.auth.jwt import mint_admin_token
    from tender.domain.principals import parse_scopes

    token = mint_admin_token(
        key=SIGNING_KEY,
        subject="ops@example.com",
        ttl=timedelta(minutes=10),
        scopes=parse_scopes("manage_giftcards view_giftcards manage_orders manage_payments"),
        now=datetime.now(UTC),
    )
    return {"Authorization": f"Bearer {token}"}


async def test_one_key_across_two_workers_issues_one_card(server: str) -> None:
    headers = {**admin_headers(), "Idempotency-Key": "two-workers"}
    body = {"amount": {"centAmount": 500, "currency": "EUR"}}
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.post("/giftcards", json=body, headers=headers) for _ in range(30))
        )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {201, 409}, statuses
        created = {r.json()["id"] for r in responses if r.status_code == 201}
        assert len(created) == 1
        listing = await client.get("/giftcards", headers=admin_headers())
        assert [c["id"] for c in listing.json()["results"]] == list(created)


async def test_rate_limits_count_across_workers(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        cart = (
            await client.post(
                "/carts", json={"currency": "EUR", "country": "DE"}, headers=admin_headers()
            )
        ).json()
        session = (
            await client.post(
                "/sessions", json={"cart": {"cartRef": {"id": cart["id"]}}}, headers=admin_headers()
            )
        ).json()
        browser = {"X-Session-Id": session["id"]}
        # Fresh connections each time, so the attempts spread over both workers.
        statuses = []
        for _ in range(12):
            async with httpx.AsyncClient(base_url=server, timeout=30) as fresh:
                response = await fresh.post(
                    "/session/giftcards", json={"code": "1234-5678"}, headers=browser
                )
                statuses.append(response.status_code)
        assert statuses[:10] == [400] * 10
        assert statuses[10:] == [429, 429]
