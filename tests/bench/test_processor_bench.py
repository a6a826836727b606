"""The processor benchmark's preparation: its prepared requests are answered as the benchmark
expects (balance of a fresh card, a redemption that holds once), by tender and, on PostgreSQL,
by the asyncpg baseline against the same schema; the audit it runs afterwards finds nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bench.checkout_http import SECRET
from bench.common import CLOCK_TICKS, pg_url_for, server_cpu, server_cpu_since
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
    statements = {(app, call): int(count) for app, call, _, _, _, count, _, _, _ in rows}
    hand_offs = {(app, call): count for app, call, _, _, _, _, count, _, _ in rows}
    connections = {(app, call): int(count) for app, call, _, _, _, _, _, count, _ in rows}
    server = [ms for *_, ms in rows]
    if db.is_sqlite:
        assert server == ["-", "-"]  # no server to measure
    else:  # the server's CPU, where its processes can be seen (other tests' backends too)
        assert all(ms == "-" or float(ms) >= 0 for ms in server), server
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


def test_the_servers_cpu_is_counted_process_by_process(tmp_path: Path) -> None:
    """``bench.common.server_cpu`` reads user and system time of every process whose name
    begins with ``postgres`` (a name may hold spaces and parentheses), and of no other;
    ``server_cpu_since`` adds what each used since, whichever processes came and went."""
    tail = "S 1 1 1 0 -1 4194560 1 0 0 0 {utime} {stime} 0 0 20 0 1 0 100 0 0"

    def process(pid: int, name: str, utime: int, stime: int) -> None:
        (tmp_path / str(pid)).mkdir(exist_ok=True)
        (tmp_path / str(pid) / "stat").write_text(
            f"{pid} ({name}) " + tail.format(utime=utime, stime=stime)
        )

    process(10, "postgres", 300, 100)
    process(11, "postgres: walwriter (x)", 50, 50)
    process(12, "python3", 9_000, 9_000)
    process(13, "(postgres)", 7_000, 7_000)  # a name that only contains it
    process(14, "postgres", 4_000, 0)  # another client's backend, about to end
    (tmp_path / "self").mkdir()  # not a process id
    (tmp_path / "15").mkdir()  # a process that ended before its stat was read
    before = server_cpu(tmp_path)
    assert before == {"10": 400 / CLOCK_TICKS, "11": 100 / CLOCK_TICKS, "14": 4000 / CLOCK_TICKS}

    process(10, "postgres", 330, 110)  # 40 ticks more
    (tmp_path / "14" / "stat").unlink()  # ended: what it used before is not taken off
    process(16, "postgres", 20, 5)  # started meanwhile: counted whole
    process(11, "postgres", 6, 1)  # its id taken by a new process: counted whole
    assert server_cpu_since(before, tmp_path) == pytest.approx((40 + 25 + 7) / CLOCK_TICKS)
    assert server_cpu_since(None, tmp_path) is None
    assert server_cpu(tmp_path / "12") is None  # no process directories in it
    assert server_cpu(tmp_path / "missing") is None
    assert server_cpu_since(before, tmp_path / "missing") is None
