"""Orders racing for the same gift cards, placed at the same moment from separate processes
(PostgreSQL) or tasks (SQLite): one wins cleanly, the other is refused with no hold left behind
and nothing moved onto another payment; cards used in opposite orders never deadlock."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tender.config import Environment, Settings
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import upgrade
from tender.domain.cart import (
    SetShippingMethod,
)
from tender.domain.errors import DomainError
from tender.domain.money import Money
from tender.domain.payments import GiftCardReservationFailed, GiftCardShortfall
from tender.runtime import Runtime
from tender.services.shipping import add_shipping_method
from tests.checkout.conftest import OWNER, ready_cart
from tests.conftest import create_pg_database, drop_pg_database, pg_deadlocks

pytestmark = pytest.mark.xdist_group("checkout-placing-race")
SECRET = "placing-race-secret-0123456789abcdefghijklmn"


def runtime_for(url: str) -> Runtime:
    return Runtime(
        Settings(
            env=Environment.TEST,
            database_url=url,
            secret_key=SECRET,
            sweep_interval_seconds=0,
            db_pool_size=3,
        )
    )


async def _cart_with_cards(rt: Runtime, codes: list[str], unit: int) -> str:
    async def work(conn: Any) -> str:
        w = rt.work(conn, actor="test")
        view = await ready_cart(rt, w, unit=unit, email="a@b.de")
        for code in codes:
            await rt.carts.add_gift_card(w, cart_id=view.cart.id, owner=OWNER, code=code, pin=None)
        return view.cart.id

    return await rt.db.transaction(work)


async def _prepare(
    url: str, balances: list[int], carts: list[tuple[list[int], int]]
) -> tuple[list[str], list[str]]:
    """Cards with ``balances``; carts each holding the given cards (by index), of ``unit``."""
    rt = runtime_for(url)
    try:
        await upgrade(rt.db.engine)
        issued = []
        for balance in balances:
            cards = await rt.db.transaction(
                lambda c, b=balance: rt.ledger.issue(SqlLedgerStore(c), amount=Money(b, "EUR"))
            )
            issued.append(cards[0])
        cart_ids = [
            await _cart_with_cards(rt, [issued[i].code for i in order], unit)
            for order, unit in carts
        ]
        method = await rt.db.transaction(
            lambda c: add_shipping_method(
                rt.work(c, actor=None).shipping,
                clock=rt.clock,
                name="Free",
                carrier_name="x",
                price=Money(0, "EUR"),
                tax_rate_bp=0,
            )
        )
        for cart_id in cart_ids:

            async def choose(conn: Any, cart_id: str = cart_id) -> None:
                w = rt.work(conn, actor="test")
                cart = await rt.carts.lock(w, cart_id=cart_id, owner=OWNER)
                await rt.carts.update(
                    w,
                    cart_id=cart_id,
                    owner=OWNER,
                    version=cart.version,
                    actions=[SetShippingMethod(method.id)],
                )

            await rt.db.transaction(choose)
        return [c.card.id for c in issued], cart_ids
    finally:
        await rt.close()


async def _place(
    url: str, cart_id: str, start: Callable[[], Awaitable[None]]
) -> tuple[str, float, float]:
    """Place the cart once ``start`` returns, with a connection already open; answers how it
    ended, and when placing began and ended (wall clock, comparable across processes)."""
    rt = runtime_for(url)
    try:
        await rt.db.read(lambda c: c.execute(text("SELECT 1")))
        await start()
        began = time.time()
        try:
            await asyncio.wait_for(
                rt.db.transaction(
                    lambda c: rt.orders.place(
                        rt.work(c, actor="test"), cart_id=cart_id, owner=OWNER
                    )
                ),
                timeout=30,
            )
        except GiftCardShortfall as error:
            outcome = f"shortfall: {error.detail}"
        except GiftCardReservationFailed as error:
            cause = type(error.__cause__).__name__
            outcome = f"refused: {error.detail} ({cause})"
        except DomainError as error:
            outcome = f"error: {error.code}"
        else:
            outcome = "placed"
        return outcome, began, time.time()
    finally:
        await rt.close()


def _place_in_process(url: str, cart_id: str, barrier: Any) -> tuple[str, float, float]:
    """In a process of its own: every process waits at ``barrier`` with its connection open,
    so the placings start together (spawning alone differs by tens of milliseconds, longer
    than a placing takes)."""

    async def together() -> None:
        await asyncio.to_thread(barrier.wait, 30)

    return asyncio.run(_place(url, cart_id, together))


async def _books(url: str, card_ids: list[str]) -> tuple[list[tuple[int, int]], list[str]]:
    rt = runtime_for(url)
    try:
        cards = [
            await rt.db.read(lambda c, i=i: rt.ledger.get(SqlLedgerStore(c), card_id=i))
            for i in card_ids
        ]
        problems = await rt.db.read(lambda c: SqlLedgerStore(c).audit())
        return [(c.posted, c.held) for c in cards], problems
    finally:
        await rt.close()


def _race(url: str, cart_ids: list[str], processes: bool) -> list[str]:
    """Place every cart at once; the placings must have run at the same time, or this raced
    nothing."""
    if processes:
        context = multiprocessing.get_context("spawn")
        with (
            context.Manager() as manager,
            ProcessPoolExecutor(len(cart_ids), mp_context=context) as pool,
        ):
            barrier = manager.Barrier(len(cart_ids))
            n = len(cart_ids)
            ended = list(pool.map(_place_in_process, [url] * n, cart_ids, [barrier] * n))
    else:

        async def together() -> list[tuple[str, float, float]]:
            at = asyncio.get_running_loop().time() + 0.05

            async def start() -> None:
                await asyncio.sleep(max(0.0, at - asyncio.get_running_loop().time()))

            return list(await asyncio.gather(*(_place(url, c, start) for c in cart_ids)))

        ended = asyncio.run(together())
    began_last = max(began for _, began, _ in ended)
    first_done = min(done for _, _, done in ended)
    assert began_last < first_done, f"the placings did not overlap: {ended}"
    return [outcome for outcome, _, _ in ended]


def _same_card(url: str, processes: bool) -> None:
    # One card of 100.00; two carts of 84.90 each, both covered by it when added.
    card_ids, cart_ids = asyncio.run(_prepare(url, [10_000], [([0], 8_490), ([0], 8_490)]))
    outcomes = _race(url, cart_ids, processes)
    assert outcomes.count("placed") == 1, outcomes
    loser = next(o for o in outcomes if o != "placed")
    # Refused either while reserving (the card is named, with the reason) or, when the winner
    # committed first, before reserving: the card no longer covers its share, and says what
    # it still covers (the invoice never takes the difference).
    assert (
        loser.startswith("refused: gift card ****")
        and "available 15.10 EUR, requested 84.90 EUR (InsufficientFunds)" in loser
    ) or (loser.startswith("shortfall: gift card ****") and "covers only 15.10 EUR" in loser), loser
    balances, problems = asyncio.run(_books(url, card_ids))
    assert balances == [(10_000, 8_490)]  # the winner's hold, and nothing left by the loser
    assert problems == []


def _opposite_order(url: str, processes: bool, rounds: int) -> None:
    for _ in range(rounds):
        # Two cards of 60.00; carts of 84.90 that need both, added in opposite orders.
        card_ids, cart_ids = asyncio.run(
            _prepare(url, [6_000, 6_000], [([0, 1], 8_490), ([1, 0], 8_490)])
        )
        outcomes = _race(url, cart_ids, processes)
        assert all(o == "placed" or o.startswith(("refused", "shortfall")) for o in outcomes), (
            outcomes
        )
        assert outcomes.count("placed") == 1, outcomes
        balances, problems = asyncio.run(_books(url, card_ids))
        assert sum(held for _, held in balances) == 8_490
        assert problems == []


def test_two_orders_want_one_card_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        _same_card(url, processes=True)
    finally:
        asyncio.run(drop_pg_database(url))


def test_opposite_card_order_never_deadlocks_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        _opposite_order(url, processes=False, rounds=15)
        _opposite_order(url, processes=True, rounds=2)
        # A deadlock is retried and ends like a clean race: only PostgreSQL's count tells.
        assert asyncio.run(pg_deadlocks(url)) == 0
    finally:
        asyncio.run(drop_pg_database(url))


def test_two_orders_want_one_card_on_sqlite(tmp_path: Path) -> None:
    _same_card(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", processes=False)
    _same_card(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", processes=True)


def test_opposite_card_orders_place_one_on_sqlite(tmp_path: Path) -> None:
    _opposite_order(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", processes=False, rounds=15)
