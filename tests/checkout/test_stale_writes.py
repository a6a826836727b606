"""A save at a version the row no longer has raises (409 Conflict) and writes nothing: a caller
can never carry on as if a lost write had happened."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tender.domain.checkout_ports import StaleWrite, Work
from tender.domain.customers import Customer
from tender.domain.errors import Conflict
from tender.domain.orders import OrderState
from tests.checkout.conftest import OWNER, Shop


async def test_a_stale_order_save_raises_and_changes_nothing(shop: Shop) -> None:
    rt = shop.runtime
    view = await shop.ready_cart()
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=view.cart.id, owner=OWNER))
    order = placed.order

    async def stale_save(w: Work) -> None:
        moved = replace(order, state=OrderState.CANCELLED, version=order.version + 1)
        await w.orders.save_order(moved, expected_version=order.version - 1)

    with pytest.raises(StaleWrite) as raised:
        await shop.tx(stale_save)
    assert isinstance(raised.value, Conflict)
    stored = await shop.tx(lambda w: w.orders.order(order.id))
    assert stored is not None
    assert (stored.state, stored.version) == (OrderState.PROCESSING, order.version)


async def test_a_stale_cart_save_raises_and_changes_nothing(shop: Shop) -> None:
    view = await shop.ready_cart()
    cart = await shop.tx(lambda w: w.carts.get_cart(view.cart.id))
    assert cart is not None

    async def stale_save(w: Work) -> None:
        await w.carts.save_cart(
            replace(cart, customer=Customer(email="eve@example.com"), version=cart.version + 1),
            expected_version=cart.version - 1,
        )

    with pytest.raises(StaleWrite):
        await shop.tx(stale_save)
    stored = await shop.tx(lambda w: w.carts.get_cart(cart.id))
    assert stored is not None
    assert stored.customer == cart.customer
    assert stored.version == cart.version


async def test_a_transition_from_an_outdated_order_is_a_conflict(shop: Shop) -> None:
    """The order moved on after it was read: moving it again from the old copy raises."""
    rt = shop.runtime
    view = await shop.ready_cart()
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=view.cart.id, owner=OWNER))
    await shop.tx(lambda w: rt.orders.reopen(w, order_id=placed.order.id, owner=OWNER))
    with pytest.raises(StaleWrite):
        await shop.tx(lambda w: rt.orders._move(w, placed.order, OrderState.CANCELLED))
    stored = await shop.tx(lambda w: w.orders.order(placed.order.id))
    assert stored is not None
    assert stored.state is OrderState.CHECKOUT
