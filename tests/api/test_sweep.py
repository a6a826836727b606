"""The background sweep forgets what has outlived its use: rate-limit counters of past windows,
sessions long expired (but not a promise of an order number still to be placed) and the origins
they allowed, next to tokens and idempotency keys. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tender.api.app import background_maintenance
from tender.db import purge
from tender.db.models import BrowserOriginRow, RateLimitRow, SessionRow
from tender.db.rate_limit_store import SqlLimitCounters
from tests.api.conftest import Api
from tests.helpers import ADDRESS


async def _hit(conn: Any, key: str, at: int, window: int = 60) -> int:
    """One hit on a rate-limit counter at Unix time ``at``, in a window of ``window`` s."""
    counted = await SqlLimitCounters(conn, lambda: float(at)).claim([(key, window)])
    return counted[key].count


async def _cart(api: Api, h: dict[str, str], method: int | None = None) -> str:
    lines = [
        {
            "sku": "TEA",
            "name": "Tea",
            "quantity": 1,
            "price": {"centAmount": 1000, "currency": "EUR"},
            "taxRate": "19.00",
        }
    ]
    body = {
        "currency": "EUR",
        "country": "DE",
        "customerEmail": "ada@example.com",
        "lineItems": lines if method else [],
    }
    cart = (await api.client.post("/carts", json=body, headers=h)).json()
    if method:
        actions = [
            {"action": "setShippingAddress", "address": ADDRESS},
            {"action": "setBillingAddress", "address": ADDRESS},
            {"action": "setShippingMethod", "shippingMethodId": method},
        ]
        updated = await api.client.post(
            f"/carts/{cart['id']}", json={"version": 1, "actions": actions}, headers=h
        )
        assert updated.status_code == 200, updated.text
    return str(cart["id"])


async def _session(api: Api, h: dict[str, str], cart_id: str, **metadata: Any) -> None:
    created = await api.client.post(
        "/sessions", json={"cart": {"cartRef": {"id": cart_id}}, "metadata": metadata}, headers=h
    )
    assert created.status_code == 201, created.text


async def _rows(api: Api, table: Any, column: Any) -> set[Any]:
    async def read(conn: Any) -> set[Any]:
        return {row[0] for row in await conn.execute(select(table.c[column]))}

    return await api.runtime.db.read(read)


async def _sweep_until(api: Api, done: Callable[[], Awaitable[bool]]) -> None:
    """Run the real background loop until ``done``, then stop it."""
    api.runtime.settings.sweep_interval_seconds = 0.01
    task = asyncio.create_task(background_maintenance(api.runtime))
    try:
        for _ in range(500):
            if await done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the sweep did not finish")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_sweep_forgets_expired_limits_sessions_and_origins(api: Api) -> None:
    h = await api.headers()
    method = (
        await api.client.post(
            "/shipping-methods",
            json={"name": "Std", "price": {"centAmount": 0, "currency": "EUR"}, "taxRate": "0"},
            headers=h,
        )
    ).json()["id"]
    plain, promised, ordered = await _cart(api, h), await _cart(api, h), await _cart(api, h, method)
    await _session(api, h, plain, allowedOrigins=["https://old.example"])
    await _session(api, h, promised, futureOrderNumber="SHOP-9")
    await _session(api, h, ordered, futureOrderNumber="SHOP-10")
    card = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 5000, "currency": "EUR"}}, headers=h
    )
    added = await api.client.post(
        f"/carts/{ordered}/giftcards", json={"code": card.json()["code"]}, headers=h
    )
    assert added.status_code == 201, added.text
    placed = await api.client.post("/orders", json={"cartId": ordered}, headers=h)
    assert placed.status_code == 201, placed.text

    now = api.clock.now()
    window = int(now.timestamp())

    async def counters(conn: Any) -> None:
        await _hit(conn, "cards:old", window - 7200)
        await _hit(conn, "cards:recent", window - 600)

    await api.runtime.db.transaction(counters)

    # A day and more later: the first three sessions expired longer ago than the payment
    # window, one expired within it, one is live.
    api.clock.advance(hours=25, minutes=2)
    h = await api.headers()  # the first token has long expired
    recent = await _cart(api, h)
    await _session(api, h, recent)
    api.clock.advance(hours=1, minutes=1)
    h = await api.headers()
    live = await _cart(api, h)
    await _session(api, h, live, allowedOrigins=["https://shop.example"])

    async def counted(conn: Any) -> None:
        now = int(api.clock.now().timestamp())
        await _hit(conn, "cards:now", now)
        # A day's window began hours ago and still counts: it is kept.
        await _hit(conn, "cards:today", now, window=86400)

    await api.runtime.db.transaction(counted)
    sessions = SessionRow.__table__
    assert len(await _rows(api, sessions, "cart_id")) == 5

    async def swept() -> bool:
        return "https://old.example" not in await _rows(
            api, BrowserOriginRow.__table__, "origin"
        ) and "cards:old" not in await _rows(api, RateLimitRow.__table__, "key")

    await _sweep_until(api, swept)
    assert await _rows(api, sessions, "cart_id") == {promised, recent, live}
    assert await _rows(api, RateLimitRow.__table__, "key") == {"cards:now", "cards:today"}
    assert await _rows(api, BrowserOriginRow.__table__, "origin") == {"https://shop.example"}


async def test_a_promised_number_is_kept_for_an_unplaced_cart_for_a_month_at_most(
    api: Api,
) -> None:
    client = await api.new_client()

    async def headers() -> dict[str, str]:
        granted = await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=client
        )
        return {"Authorization": f"Bearer {granted.json()['access_token']}"}

    h = await headers()
    first, second = await _cart(api, h), await _cart(api, h)
    await _session(api, h, first, futureOrderNumber="SHOP-11")
    grace = timedelta(seconds=api.runtime.settings.order_payment_window_seconds)
    ttl = timedelta(seconds=api.runtime.settings.session_ttl_seconds)
    sessions = SessionRow.__table__

    async def sweep() -> None:
        while await api.runtime.db.transaction(
            lambda conn: purge.forget_expired(conn, api.clock.now(), session_grace=grace)
        ):
            pass

    api.clock.advance(seconds=(ttl + grace + purge.PROMISE_KEPT).total_seconds() - 60)
    await sweep()
    assert await _rows(api, sessions, "cart_id") == {first}
    h = await headers()
    taken = await api.client.post(
        "/sessions",
        json={"cart": {"cartRef": {"id": second}}, "metadata": {"futureOrderNumber": "SHOP-11"}},
        headers=h,
    )
    assert taken.status_code == 409, taken.text
    api.clock.advance(seconds=120)
    await sweep()
    assert await _rows(api, sessions, "cart_id") == set()
    await _session(api, h, second, futureOrderNumber="SHOP-11")


async def test_purge_works_in_batches(api: Api, monkeypatch: Any) -> None:
    """However far behind, each statement deletes at most one batch; the sweep repeats."""
    monkeypatch.setattr(purge, "BATCH", 3)
    start = int(api.clock.now().timestamp()) - 7200

    async def counters(conn: Any) -> None:
        for n in range(8):
            await _hit(conn, f"cards:{n}", start)

    await api.runtime.db.transaction(counters)
    grace = timedelta(hours=24)
    more = [
        await api.runtime.db.transaction(
            lambda conn: purge.forget_expired(conn, api.clock.now(), session_grace=grace)
        )
        for _ in range(4)
    ]
    assert more == [True, True, False, False]

    async def count(conn: Any) -> int:
        return int((await conn.execute(select(func.count()).select_from(purge.limits))).scalar())

    assert await api.runtime.db.read(count) == 0


async def test_a_step_that_keeps_failing_stops_none_of_the_others(
    api: Api, monkeypatch: Any, caplog: Any
) -> None:
    """A hold the sweep cannot expire (it fails the same way every round) must not keep the
    counters, sessions and origins from being forgotten, nor go unreported."""

    async def broken(*_: Any, **__: Any) -> int:
        raise RuntimeError("a hold that cannot be expired")

    monkeypatch.setattr(api.runtime.ledger, "sweep_expired_holds", broken)
    now = int(api.clock.now().timestamp())
    await api.runtime.db.transaction(lambda conn: _hit(conn, "cards:stale", now - 7200))

    async def forgotten() -> bool:
        return "cards:stale" not in await _rows(api, RateLimitRow.__table__, "key")

    await _sweep_until(api, forgotten)
    failures = [r for r in caplog.records if "background maintenance of holds" in r.getMessage()]
    assert failures
