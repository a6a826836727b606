"""Shipping methods in SQLAlchemy Core."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.checkout_rows import shipping, shipping_from_row
from tender.domain.shipping import ShippingMethod

_GET_SHIPPING = select(shipping).where(shipping.c.id == bindparam("b_id"))


MAX_ID = 2**31 - 1
"""The largest ``shipping_methods.id``: an ``INTEGER``."""


class SqlShippingStore:
    """One transaction's shipping methods. Each is read at most once: a cart's totals ask for
    their method several times while an order is placed."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._methods: dict[int, ShippingMethod | None] = {}

    async def insert_shipping_method(self, method: ShippingMethod) -> ShippingMethod:
        result = await self.conn.execute(
            insert(shipping)
            .values(
                name=method.name,
                carrier_name=method.carrier_name,
                currency=method.currency,
                price=method.price,
                tax_rate_bp=method.tax_rate_bp,
                free_above=method.free_above,
                countries=list(method.countries),
                delivery_time=method.delivery_time,
                active=method.active,
                created_at=method.created_at,
                names=dict(method.names) or None,
            )
            .returning(shipping)
        )
        stored = shipping_from_row(result.one())
        self._methods[stored.id] = stored
        return stored

    async def shipping_methods(self) -> list[ShippingMethod]:
        rows = await self.conn.execute(select(shipping).order_by(shipping.c.id))
        return [shipping_from_row(r) for r in rows]

    async def shipping_method(self, method_id: int) -> ShippingMethod | None:
        """``None`` for an id the column could not hold (it is a 32-bit integer on PostgreSQL,
        which refuses a larger one with an error, not with no row), as for any unknown id."""
        if not 1 <= method_id <= MAX_ID:
            return None
        if method_id not in self._methods:
            row = (await self.conn.execute(_GET_SHIPPING, {"b_id": method_id})).first()
            self._methods[method_id] = shipping_from_row(row) if row else None
        return self._methods[method_id]

    async def set_shipping_active(self, method_id: int, active: bool) -> ShippingMethod | None:
        if not 1 <= method_id <= MAX_ID:
            return None
        result = await self.conn.execute(
            update(shipping)
            .where(shipping.c.id == method_id)
            .values(active=active)
            .returning(shipping)
        )
        row = result.first()
        self._methods[method_id] = shipping_from_row(row) if row else None
        return self._methods[method_id]
