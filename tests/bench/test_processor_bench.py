"""The processor benchmark's preparation: its prepared requests are answered as the benchmark
expects (balance of a fresh card, a redemption that holds once), by tender and, on PostgreSQL,
by the asyncpg baseline against the same schema; the audit it runs afterwards finds nothing."""

from __future__ import annotations

import httpx
import pytest
from bench.checkout_http import SECRET
from bench.common import pg_url_for
from bench.processor_http import CARD_AMOUNT, HEADERS, REDEEM_CENTS, audit, prepare

from bench import baseline_processor, processor_cost
from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.runtime import Runtime


async def send(client: httpx.AsyncClient, line: str) -> httpx.Response:
    """One prepared line ("PATH SESSION BODY") as the benchmark's Lua script sends it."""
    path, session, body = line.split(" ", 2)
    return await client.post(path, content=body, headers={**HEADERS, "X-Session-Id": session})


async def answers_as_prepared(client: httpx.AsyncClient, balance: str, redeem: str) -> None:
    response = await send(client, balance)
    assert response.status_code == 200, response.text
    assert response.json()["amount"]["centAmount"] == CARD_AMOUNT
    response = await send(client, redeem)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "Success"
    assert response.json()["redeemedAmount"]["centAmount"] == REDEEM_CENTS
    again = await send(client, balance)
    assert again.json()["amount"]["centAmount"] == CARD_AMOUNT - REDEEM_CENTS


async def test_prepared_requests_redeem_once(db: Database) -> None:
    with_baseline = db.url.startswith("postgresql")
    balance, redeem = await prepare(db, 1, 1 if with_baseline else 0, cards=2)
    assert len(set(balance)) == len(balance) == (2 if with_baseline else 1)
    settings = Settings(
        env=Environment.TEST, database_url=db.url, secret_key=SECRET, sweep_interval_seconds=0
    )
    runtime = Runtime(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await answers_as_prepared(client, balance[0], redeem[0])
    finally:
        await runtime.close()
    assert await audit(db) == []
    if not with_baseline:
        return
    app = baseline_processor.app
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BASELINE_DATABASE_URL", pg_url_for(db))
        env.setenv("BASELINE_SECRET_KEY", SECRET)
        env.setenv("BASELINE_POOL_SIZE", "1")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await answers_as_prepared(client, balance[1], redeem[1])
    assert await audit(db) == []


async def test_the_cost_of_one_call_is_counted(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bench.processor_cost`` on a few requests: every call answered as prepared, and the
    statements of one call as few as they are now (a statement more is a regression to see)."""
    # One call at a time needs one connection: the bench's ten would crowd the racing tests
    # that run beside this one out of PostgreSQL's hundred.
    monkeypatch.setenv("BASELINE_POOL_SIZE", "1")
    rows = await processor_cost.measure(db, requests=4, warm_up=2)
    statements = {(app, call): int(count) for app, call, _, _, _, count, _, _ in rows}
    hand_offs = {(app, call): count for app, call, _, _, _, _, count, _ in rows}
    connections = {(app, call): int(count) for app, call, _, _, _, _, _, count in rows}
    if db.is_sqlite:
        # A balance: session; the budgets' claims, one statement that commits on its own; the
        # card; their give-back, the same. A redemption is keyed, as the enabler sends it:
        # session, then in the request's one transaction (BEGIN IMMEDIATE) the kept answer's
        # read, the claims, the unit (cart, payments, card, hold, five tables' rows) and the
        # give-back, each after a savepoint of its own, and the answer kept.
        assert statements == {("tender", "balance"): 5, ("tender", "redeem"): 18}
        # A balance: the claims and the give-back, one each; BEGIN IMMEDIATE with the unit's
        # first statement, its commit (the rest runs on the loop's thread). A keyed
        # redemption: BEGIN IMMEDIATE with the key's read, and the commit; its claims and
        # give-back join its transaction, and everything in it runs on the loop's thread.
        assert hand_offs == {("tender", "balance"): "4", ("tender", "redeem"): "2"}
        # the one the last request left waiting, for every step (a lease, as on PostgreSQL)
        assert connections == {("tender", "balance"): 0, ("tender", "redeem"): 0}
    else:
        assert statements == {
            # session with its cart's currency, the budgets' claims, card, their give-back
            ("tender", "balance"): 4,
            # keyed: session; BEGIN with the key's claim and the unit's savepoint; the
            # claim's outcome with the kept answer; the budgets' claims (apart); cart,
            # payments, card, hold, rows; the keep, COMMIT; the give-back once the
            # transaction has ended
            ("tender", "redeem"): 12,
            ("baseline", "balance"): 2,
            ("baseline", "redeem"): 12,
        }
        assert connections == {
            ("tender", "balance"): 0,  # the one the last request left waiting, for every step
            ("tender", "redeem"): 0,
            ("baseline", "balance"): 1,
            ("baseline", "redeem"): 1,
        }
        assert set(hand_offs.values()) == {"-"}
