"""Carts in SQLAlchemy Core."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from tender.db import direct
from tender.db.checkout_rows import cart_from_row, cart_identity, cart_values, carts
from tender.db.client_store import clients
from tender.domain.cart import Cart
from tender.domain.checkout_ports import StaleWrite
from tender.domain.principals import owning_client

# Statements of the checkout's hot paths are built once; the SET clause of an UPDATE and the
# columns of an INSERT come from the parameters passed with them.
_ID: BindParameter[Any] = bindparam("b_id")
_INSERT_CART = insert(carts)
_GET_CART = select(carts).where(carts.c.id == _ID)
_LOCK_CART = _GET_CART.with_for_update()
_LOCK_OWNED_CART = _GET_CART.where(carts.c.owner == bindparam("b_owner")).with_for_update()
_SAVE_CART = update(carts).where(carts.c.id == _ID, carts.c.version == bindparam("b_version"))
_LOCK_FLAG = update(carts).where(carts.c.id == _ID).values(version=carts.c.version + 1)


class SqlCartStore:
    """One transaction's carts. It remembers the carts it read and keeps that memory up to date
    with its own writes: placing an order reads the same cart many times, and inside one
    transaction, under the cart's lock, nobody else can change it."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._carts: dict[str, Cart] = {}
        self._locked: set[str] = set()

    async def insert_cart(self, cart: Cart) -> None:
        await self.conn.execute(
            _INSERT_CART, {"id": cart.id, **cart_values(cart), **cart_identity(cart)}
        )

    async def get_cart(
        self, cart_id: str, *, lock: bool = False, owner: str | None = None
    ) -> Cart | None:
        cached = self._carts.get(cart_id)
        if cached is not None and (not lock or cart_id in self._locked):
            return cached
        if not lock:
            statement, values = _GET_CART, {"b_id": cart_id}
        elif owner is None:
            statement, values = _LOCK_CART, {"b_id": cart_id}
        else:
            statement, values = _LOCK_OWNED_CART, {"b_id": cart_id, "b_owner": owner}
        row = (await direct.execute(self.conn, statement, values)).first()
        if row is None:
            return None
        cart = cart_from_row(row)
        self._carts[cart_id] = cart
        if lock:
            self._locked.add(cart_id)
        return cart

    async def owner_active(self, owner: str) -> bool:
        client = owning_client(owner)
        if client is None:
            return True
        found = await self.conn.execute(
            select(clients.c.active).where(clients.c.client_id == client)
        )
        return bool(found.scalar())

    async def save_cart(self, cart: Cart, *, expected_version: int) -> None:
        result = await direct.execute(
            self.conn,
            _SAVE_CART,
            {"b_id": cart.id, "b_version": expected_version, **cart_values(cart)},
        )
        if not result.rowcount:
            self._carts.pop(cart.id, None)
            raise StaleWrite(f"the cart is no longer at version {expected_version}")
        self._carts[cart.id] = cart

    async def set_cart_locked(self, cart_id: str, locked: bool, now: datetime) -> None:
        await direct.execute(
            self.conn, _LOCK_FLAG, {"b_id": cart_id, "locked": locked, "updated_at": now}
        )
        cached = self._carts.get(cart_id)
        if cached is not None:
            self._carts[cart_id] = replace(
                cached, locked=locked, version=cached.version + 1, updated_at=now
            )
