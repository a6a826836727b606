"""Every money-moving route, crashed at every crash point its request passes, then retried.

For each route and point, a service armed with ``TENDER_FAULT_INJECTION=<point>=1`` gets the
route's request with an ``Idempotency-Key`` and dies at that point, unanswered. The same
request, same key, same body, is then sent to a service without crash points, as a client
retrying would. The retry must answer what an uncrashed request of the route answers (a replay
if the crash came after the commit), a second retry must replay it byte for byte, and the
database must hold exactly what the uncrashed request left: the card's balance moved once, one
hold, charge or refund, nothing held that should not be, and a clean ledger audit.

Without a key, the crash that matters is after the commit: a retry cannot know the first
attempt happened. ``test_a_retry_without_a_key`` records what each route does then, which is
why clients must send a key to retry safely (the README says so).

The redirect provider's signed callback is the exception: providers deliver it again, without
a key, whenever they got no answer. ``test_a_delivery_again_after_a_crash_counts_once`` crashes
its delivery at every point it passes and delivers it again: it must answer as one uncrashed
delivery does, every time, and confirm the payment once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tender.db.engine import Database
from tests.crash.effects import Digest, Effects, effects
from tests.crash.routes import ALONE, PROVIDER, REDELIVERED, ROUTES, Route, Shop
from tests.crash.service import a_database, admin_headers, run_cli, service_env
from tests.crash.stack import Call, Running, Stack, answer, send

pytestmark = [pytest.mark.slow, pytest.mark.crash]

DATABASES = [
    pytest.param(name, marks=pytest.mark.xdist_group(f"crash-routes-{name}"))
    for name in ("sqlite", "postgresql")
]
"""One group per database: with ``-n 2 --dist loadgroup`` the two run side by side, each with
its own template and steady service."""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
BASE = re.compile(r"http://127\.0\.0\.1:\d+")
"""The service's own address, in Glue's links: a replay tells the address of the service that
answered first (the armed one)."""
REFERENCE = re.compile(r"\bTND-[A-Z2-9]{10}\b")
"""An order number tender chose (Glue's checkout names none)."""
SECRETS = frozenset({"code", "cardId"})
"""Answer fields that differ between runs by design (a new card's code, or its last four)."""


@dataclass
class Bench:
    """One database's services, its own view of the rows, and each route's uncrashed run."""

    kind: str
    stack: Stack
    steady: Running
    shop: Shop
    database: Database
    controls: dict[str, tuple[Any, Digest]] = field(default_factory=dict)

    async def control(self, route: Route, *, keyed: bool = True) -> tuple[Any, Digest]:
        """What the route answers and leaves when nothing crashes."""
        if route.name not in self.controls:
            tag = f"{self.kind}-{route.name}-control"
            call = await route.prepare(self.shop, tag)
            first = await send(self.steady.url, call, f"{tag}-key" if keyed else None)
            assert first.status_code == call.expect, first.text
            found = await effects(self.database, tag)
            assert found.problems == [], found.problems
            self.controls[route.name] = (shape(first.json(), tag), found.digest)
        return self.controls[route.name]

    async def crash(self, route: Route, tag: str, point: str, key: str | None) -> Call:
        """Prepare the case's request on the steady service while a service armed at ``point``
        starts (each takes a good part of a case's time), then send it there: it must die at
        ``point``, unanswered. Answers the request, for the retries."""
        starting = asyncio.ensure_future(self.stack.start(f"{point}=1"))
        try:
            call = await route.prepare(self.shop, tag)
        except BaseException:
            await (await starting).stop()
            raise
        armed = await starting
        try:
            response = await send(armed.url, call, key)
        except httpx.TransportError:
            pass
        else:
            await armed.stop()
            raise AssertionError(
                f"{call.path} was answered ({response.status_code}) by a service armed at "
                f"{point}: the request never passed it"
            )
        await armed.gone()
        assert armed.crashed_at() == point, armed.tail()
        return call


def shape(answer: Any, tag: str) -> Any:
    """An answer with what differs between two runs of a case (ids, times, the case's tag, a
    new card's code) replaced by placeholders."""
    if isinstance(answer, dict):
        return {k: "<secret>" if k in SECRETS else shape(v, tag) for k, v in answer.items()}
    if isinstance(answer, list):
        return [shape(v, tag) for v in answer]
    if isinstance(answer, str):
        answer = UUID.sub("<id>", answer.replace(tag, "<case>"))
        return REFERENCE.sub("<reference>", BASE.sub("<base>", TIME.sub("<time>", answer)))
    return answer


@pytest.fixture(scope="module", params=DATABASES)
async def bench(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bench]:
    kind: str = request.param
    logs = tmp_path_factory.mktemp(f"crash-routes-{kind}")
    async with a_database(kind, logs) as url:
        env = {**service_env(url, pool_size=2), **PROVIDER}
        migrated = run_cli(env, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        stack = Stack(env, logs)
        database = Database(url, pool_size=1)
        try:
            steady = stack.steady = await stack.start()
            async with httpx.AsyncClient(base_url=steady.url, timeout=30) as client:
                shop = Shop(client, admin_headers("crash-routes@example.com"))
                await shop.open()
                yield Bench(kind, stack, steady, shop, database)
        finally:
            await stack.close()
            await database.dispose()


KEYED = [
    pytest.param(route, point, id=f"{route.name}-{point}")
    for route in ROUTES
    for point in route.keyed_points
]


def call_tag(bench: Bench, route: Route, point: str) -> str:
    return f"{bench.kind}-{route.name}-{point}"


async def sent_again_after(
    bench: Bench, route: Route, point: str, key: str | None
) -> tuple[Call, httpx.Response, Digest]:
    """``route``'s request crashed at ``point`` and sent again (with ``key``, if any): the
    second attempt answers as an uncrashed one does and leaves the same rows, given with it."""
    tag = call_tag(bench, route, point)
    call = await bench.crash(route, tag, point, key)
    again = await answer(bench.steady.url, call, key)
    expected_answer, expected_rows = await bench.control(route, keyed=key is not None)
    found = await effects(bench.database, tag)
    assert found.problems == [], found.problems
    assert route.effect(found) == 1
    assert found.digest == expected_rows
    assert again.status_code == call.expect, again.text
    assert shape(again.json(), tag) == expected_answer
    return call, again, expected_rows


@pytest.mark.parametrize(("route", "point"), KEYED)
async def test_a_keyed_retry_after_a_crash_happens_once(
    bench: Bench, route: Route, point: str
) -> None:
    key = f"{bench.kind}-{route.name}-{point}-key"
    call, retried, _ = await sent_again_after(bench, route, point, key)
    # Before the commit nothing happened and the retry runs; after it, the retry is replayed.
    replayed = "true" if point == "after_commit" else "false"
    assert retried.headers.get("idempotent-replayed") == replayed
    again = await answer(bench.steady.url, call, key)
    assert again.headers.get("idempotent-replayed") == "true"
    assert (again.status_code, again.content) == (retried.status_code, retried.content)


@pytest.mark.parametrize("route", [pytest.param(r, id=r.name) for r in ROUTES])
async def test_a_retry_without_a_key(bench: Bench, route: Route) -> None:
    """The first attempt committed and died unanswered; the retry cannot tell. A route that
    moves an amount (issue, load, refund) moves it again; a transition (confirming, removing a
    card too), or redeeming or adding a card the cart already holds, is refused, the first one
    standing. Nothing is lost either way, and the ledger stays balanced."""
    tag = f"{bench.kind}-{route.name}-keyless"
    call = await bench.crash(route, tag, "unit_committed", None)

    retried = await answer(bench.steady.url, call, None)
    found: Effects = await effects(bench.database, tag)
    assert found.problems == [], found.problems
    status, times = route.keyless
    assert retried.status_code == status, retried.text
    assert route.effect(found) == times
    if times == 1:
        _, expected_rows = await bench.control(route)
        assert found.digest == expected_rows


REDELIVERIES = [
    pytest.param(route, point, id=f"{route.name}-{point}")
    for route in REDELIVERED
    for point in ALONE
]


@pytest.mark.parametrize(("route", "point"), REDELIVERIES)
async def test_a_delivery_again_after_a_crash_counts_once(
    bench: Bench, route: Route, point: str
) -> None:
    """The provider's callback, without a key (providers send none): the first delivery dies
    at ``point``, before or after its commit, unanswered, and the provider delivers the same
    signed callback again, and once more. Each delivery answers what one uncrashed delivery
    answers, and the payment is confirmed once: one authorization, one event."""
    call, again, rows = await sent_again_after(bench, route, point, None)
    once_more = await answer(bench.steady.url, call, None)
    assert (once_more.status_code, once_more.content) == (again.status_code, again.content)
    assert (await effects(bench.database, call_tag(bench, route, point))).digest == rows


def test_the_ledger_verifies_after_every_crash(bench: Bench) -> None:
    """The operator's own check, run last on the database every case above crashed into."""
    verified = run_cli(bench.stack.env, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
