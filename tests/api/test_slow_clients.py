"""Clients that send their body slowly, or never read their answer, hold no database connection.

A request takes one connection of a small pool for its statements. If it kept it while waiting
on its client, a few such clients (one shopper's page, or anyone sending junk credentials
with an ``Origin``) would hold the whole pool, and every other shopper would wait for a
connection until the pool's limit answered 503. Each test parks more such requests than the
pool has connections, then asks for an ordinary answer, which must come at once; on SQLite a
keyed request's writer's turn must not be held while its answer waits to be read either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tender.api.app import create_app
from tender.runtime import Runtime
from tests.api.conftest import Api
from tests.api.journeys import browser, card, new_cart

POOL = 2
PARKED = POOL + 2
PROMPT_SECONDS = 10.0
"""Far below the 30 s a request waits for a connection before its 503."""

Message = dict[str, Any]


@pytest.fixture
async def api(api: Api) -> AsyncIterator[Api]:
    """The same database, behind an app whose requests share a pool of ``POOL``."""
    settings = api.runtime.settings.model_copy(update={"db_pool_size": POOL})
    runtime = Runtime(settings, clock=api.clock)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime, api.clock)
    await runtime.close()


def scope_of(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"host", b"test"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("203.0.113.9", 50000),
        "server": ("test", 80),
        "state": {},
    }


async def never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def sends(body: bytes, *, whole: bool = True) -> Callable[..., Any]:
    """A client that sends ``body`` (or, not ``whole``, only the start of a longer one) and
    then nothing more: it waits for its answer, or keeps the rest of its body for good."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not whole}
        return await never()

    return receive


async def never_reads(message: Message) -> None:
    """A client that never reads its answer: the first write blocks for good."""
    await never()


async def read_all(message: Message) -> None:
    return None


def park(api: Api, scope: dict[str, Any], receive: Any, send: Any) -> asyncio.Task[None]:
    app = api.client._transport.app  # type: ignore[attr-defined]
    return asyncio.create_task(app(scope, receive, send))


async def prompt(api: Api, call: Awaitable[httpx.Response]) -> httpx.Response:
    try:
        return await asyncio.wait_for(call, PROMPT_SECONDS)
    except TimeoutError:
        pytest.fail("a request waited for a connection held by clients that do not read")


@contextlib.asynccontextmanager
async def parked_meanwhile(tasks: list[asyncio.Task[None]]) -> AsyncIterator[None]:
    """The block runs once every parked request has run up to its client; they stop after."""
    await asyncio.sleep(0.5)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def shop(api: Api) -> tuple[dict[str, str], dict[str, str], str]:
    h = await api.headers()
    cart = await new_cart(api, h)
    page = await browser(api, h, cart["id"])
    issued = await card(api, h, 10_000)
    return h, page, issued["code"]


async def test_answers_nobody_reads_hold_no_connection(
    api: Api, shop: tuple[dict[str, str], dict[str, str], str]
) -> None:
    h, page, code = shop
    body = json.dumps({"code": code}).encode()
    headers = {**page, "Content-Type": "application/json"}
    parked = [
        park(api, scope_of("POST", "/balance", headers, body), sends(body), never_reads)
        for _ in range(PARKED)
    ]
    # Junk credentials from a page: the origin is looked up before the 401 is sent.
    junk = {"Authorization": "Bearer tnd_at_junk", "Origin": "https://elsewhere.example"}
    parked += [
        park(api, scope_of("GET", "/giftcards", junk, b""), sends(b""), never_reads)
        for _ in range(PARKED)
    ]
    async with parked_meanwhile(parked):
        answer = await prompt(api, api.client.get("/session/cart", headers=page))
        assert answer.status_code == 200, answer.text
        listed = await prompt(api, api.client.get("/giftcards", headers=h))
        assert listed.status_code == 200, listed.text


async def test_bodies_that_never_end_hold_no_connection(
    api: Api, shop: tuple[dict[str, str], dict[str, str], str]
) -> None:
    _, page, code = shop
    whole = json.dumps({"code": code}).encode()
    headers = {**page, "Content-Type": "application/json"}
    parked = [
        park(api, scope_of("POST", path, headers, whole), sends(whole[:5], whole=False), read_all)
        for path in ("/balance", "/redeem", "/session/giftcards")
        for _ in range(PARKED)
    ]
    async with parked_meanwhile(parked):
        balance = await prompt(api, api.client.post("/balance", json={"code": code}, headers=page))
        assert balance.status_code == 200, balance.text


async def test_a_kept_answer_nobody_reads_holds_no_connection_nor_the_writers_turn(
    api: Api, shop: tuple[dict[str, str], dict[str, str], str]
) -> None:
    """A keyed request commits its change and its answer, then sends it: the sending waits on
    the client, the transaction must not (on SQLite it holds the one writer's turn)."""
    h, page, code = shop
    body = json.dumps({"amount": {"centAmount": 100, "currency": "EUR"}}).encode()
    parked = [
        park(
            api,
            scope_of(
                "POST",
                "/giftcards",
                {**h, "Content-Type": "application/json", "Idempotency-Key": f"parked-{n}"},
                body,
            ),
            sends(body),
            never_reads,
        )
        for n in range(PARKED)
    ]
    async with parked_meanwhile(parked):
        issued = await prompt(
            api, api.client.post("/giftcards", content=body, headers={**h, **JSON})
        )
        assert issued.status_code == 201, issued.text
        redeemed = await prompt(
            api,
            api.client.post(
                "/redeem",
                json={"code": code, "redeemAmount": {"centAmount": 100, "currencyCode": "EUR"}},
                headers={**page, "Idempotency-Key": "after-the-parked-ones"},
            ),
        )
        assert redeemed.status_code == 200, redeemed.text
    # Each parked request committed before it waited on its client: a retry gets its answer.
    retried = await api.client.post(
        "/giftcards", content=body, headers={**h, **JSON, "Idempotency-Key": "parked-0"}
    )
    assert retried.headers["idempotent-replayed"] == "true"


JSON = {"Content-Type": "application/json"}
