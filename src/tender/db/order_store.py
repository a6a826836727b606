"""Orders in SQLAlchemy Core."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from tender.db.checkout_rows import order_from_row, orders, sessions
from tender.db.idempotency_store import advisory_key
from tender.domain.checkout_ports import StaleWrite
from tender.domain.orders import Order, OrderState
from tender.domain.ports import Page

_ID: BindParameter[Any] = bindparam("b_id")
_INSERT_ORDER = insert(orders)
_ORDER_BY_ID = select(orders).where(orders.c.id == _ID)
_ORDER_BY_CART = select(orders).where(orders.c.cart_id == _ID)
_SAVE_ORDER = update(orders).where(orders.c.id == _ID, orders.c.version == bindparam("b_version"))


class SqlOrderStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_order(self, order: Order) -> None:
        await self.conn.execute(
            _INSERT_ORDER,
            {
                "id": order.id,
                "reference": order.reference,
                "cart_id": order.cart_id,
                "owner": order.owner,
                "state": order.state.value,
                "version": order.version,
                "currency": order.currency,
                "snapshot": order.snapshot,
                "grand_total": order.grand_total,
                "created_at": order.created_at,
                "updated_at": order.updated_at,
            },
        )

    async def _order_where(self, statement: Any, value: str) -> Order | None:
        row = (await self.conn.execute(statement, {"b_id": value})).first()
        return order_from_row(row) if row else None

    async def order(self, order_id: str) -> Order | None:
        return await self._order_where(_ORDER_BY_ID, order_id)

    async def order_by_cart(self, cart_id: str) -> Order | None:
        return await self._order_where(_ORDER_BY_CART, cart_id)

    async def orders_by_reference(
        self, reference: str, owner: str | None, *, limit: int
    ) -> list[Order]:
        stmt = select(orders).where(orders.c.reference == reference)
        if owner is not None:
            stmt = stmt.where(orders.c.owner == owner)
        rows = await self.conn.execute(stmt.order_by(orders.c.id).limit(limit))
        return [order_from_row(row) for row in rows]

    async def save_order(self, order: Order, *, expected_version: int) -> None:
        result = await self.conn.execute(
            _SAVE_ORDER,
            {
                "b_id": order.id,
                "b_version": expected_version,
                "state": order.state.value,
                "version": order.version,
                "snapshot": order.snapshot,
                "grand_total": order.grand_total,
                "updated_at": order.updated_at,
            },
        )
        if not result.rowcount:
            raise StaleWrite(f"the order is no longer at version {expected_version}")

    async def list_orders(
        self, *, owner: str | None, state: OrderState | None, after: str | None, limit: int
    ) -> Page[Order]:
        conditions: list[Any] = []
        if owner is not None:
            conditions.append(orders.c.owner == owner)
        if state is not None:
            conditions.append(orders.c.state == state.value)
        if after is not None:
            conditions.append(orders.c.id > after)
        stmt = select(orders).where(and_(True, *conditions)).order_by(orders.c.id).limit(limit + 1)
        items = [order_from_row(r) for r in await self.conn.execute(stmt)]
        return Page.of(items, limit, lambda order: order.id)

    async def take_order_number(self, owner: str, number: str) -> bool:
        """PostgreSQL: an advisory lock on the client's number until commit comes first, so
        that of two transactions after one number (on different carts, or one placing an
        order and one promising it to a session: two tables no constraint spans) the second
        asks after the first has committed, and sees its row (each statement of ``READ
        COMMITTED`` reads what is committed when it starts). SQLite has one writer already."""
        if self.conn.dialect.name == "postgresql":
            name = json.dumps(["tender/order-number", owner, number]).encode()
            digest = hashlib.sha256(name).digest()
            await self.conn.execute(select(func.pg_advisory_xact_lock(advisory_key(digest))))
        used = await self.conn.execute(
            select(sessions.c.cart_id)
            .where(sessions.c.future_order_number == number, sessions.c.owner == owner)
            .limit(1)
        )
        placed = await self.conn.execute(
            select(orders.c.id).where(orders.c.reference == number, orders.c.owner == owner)
        )
        return used.first() is None and placed.first() is None
