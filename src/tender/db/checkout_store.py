"""Carts, orders, payments, sessions and events in SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from tender.db import pending
from tender.db.checkout_rows import (
    cart_from_row,
    cart_values,
    carts,
    events,
    order_from_row,
    orders,
    origins,
    payment_from_row,
    payment_values,
    payments,
    session_from_row,
    sessions,
    shipping,
    shipping_from_row,
    transaction_from_row,
    transactions,
)
from tender.domain.cart import Cart
from tender.domain.checkout_ports import StaleWrite
from tender.domain.events import Event, NewEvent
from tender.domain.orders import (
    Order,
    OrderState,
    TransactionState,
)
from tender.domain.payments import Payment, Transaction
from tender.domain.ports import Page
from tender.domain.sessions import Session
from tender.domain.shipping import ShippingMethod

# Statements of the checkout's hot paths are built once; the SET clause of an UPDATE and the
# columns of an INSERT come from the parameters passed with them.
_ID: BindParameter[Any] = bindparam("b_id")
_INSERT_CART = insert(carts)
_GET_CART = select(carts).where(carts.c.id == _ID)
_LOCK_CART = _GET_CART.with_for_update()
_SAVE_CART = update(carts).where(carts.c.id == _ID, carts.c.version == bindparam("b_version"))
_LOCK_FLAG = update(carts).where(carts.c.id == _ID).values(version=carts.c.version + 1)
_GET_SHIPPING = select(shipping).where(shipping.c.id == _ID)
_INSERT_PAYMENT = insert(payments)
_PAYMENTS_OF_CART = (
    select(payments).where(payments.c.cart_id == bindparam("b_cart")).order_by(payments.c.position)
)
_TRANSACTIONS_OF_CART = (
    select(transactions)
    .join(payments, payments.c.id == transactions.c.payment_id)
    .where(payments.c.cart_id == bindparam("b_cart"))
    .order_by(transactions.c.created_at, transactions.c.id)
)
_GET_PAYMENT = select(payments).where(payments.c.id == _ID)
_TRANSACTIONS_OF_PAYMENT = (
    select(transactions)
    .where(transactions.c.payment_id == _ID)
    .order_by(transactions.c.created_at, transactions.c.id)
)
_UPDATE_PAYMENT = update(payments).where(payments.c.id == _ID)
_INSERT_TRANSACTION = insert(transactions)
_UPDATE_TRANSACTION = update(transactions).where(transactions.c.id == _ID)
_INSERT_ORDER = insert(orders)
_ORDER_BY_ID = select(orders).where(orders.c.id == _ID)
_ORDER_BY_CART = select(orders).where(orders.c.cart_id == _ID)
_ORDER_BY_REFERENCE = select(orders).where(orders.c.reference == _ID)
_SAVE_ORDER = update(orders).where(orders.c.id == _ID, orders.c.version == bindparam("b_version"))
_GET_SESSION = select(sessions).where(sessions.c.token_hash == _ID)
_FUTURE_ORDER_NUMBER = (
    select(sessions.c.future_order_number)
    .where(sessions.c.cart_id == _ID, sessions.c.future_order_number.is_not(None))
    .order_by(sessions.c.created_at.desc())
    .limit(1)
)
_INSERT_EVENTS = insert(events)


class SqlCheckoutStore:
    """One transaction's store. It remembers the carts it locked and their payments, and keeps
    that memory up to date with its own writes: placing an order reads the same rows many times,
    and inside one transaction, under the cart's lock, nobody else can change them."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._carts: dict[str, Cart] = {}
        self._locked: set[str] = set()
        self._payments: dict[str, list[Payment]] = {}
        self._shipping: dict[int, ShippingMethod | None] = {}

    # carts ------------------------------------------------------------------------------

    async def insert_cart(self, cart: Cart) -> None:
        await self.conn.execute(_INSERT_CART, {"id": cart.id, **cart_values(cart)})

    async def get_cart(self, cart_id: str, *, lock: bool = False) -> Cart | None:
        cached = self._carts.get(cart_id)
        if cached is not None and (not lock or cart_id in self._locked):
            return cached
        row = (
            await self.conn.execute(_LOCK_CART if lock else _GET_CART, {"b_id": cart_id})
        ).first()
        if row is None:
            return None
        cart = cart_from_row(row)
        self._carts[cart_id] = cart
        if lock:
            self._locked.add(cart_id)
        return cart

    async def save_cart(self, cart: Cart, *, expected_version: int) -> None:
        result = await self.conn.execute(
            _SAVE_CART, {"b_id": cart.id, "b_version": expected_version, **cart_values(cart)}
        )
        if not result.rowcount:
            self._carts.pop(cart.id, None)
            raise StaleWrite(f"the cart is no longer at version {expected_version}")
        self._carts[cart.id] = cart

    async def set_cart_locked(self, cart_id: str, locked: bool, now: datetime) -> None:
        await self.conn.execute(_LOCK_FLAG, {"b_id": cart_id, "locked": locked, "updated_at": now})
        cached = self._carts.get(cart_id)
        if cached is not None:
            self._carts[cart_id] = replace(
                cached, locked=locked, version=cached.version + 1, updated_at=now
            )

    # shipping methods ---------------------------------------------------------------------

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
            )
            .returning(shipping)
        )
        return shipping_from_row(result.one())

    async def shipping_methods(self) -> list[ShippingMethod]:
        rows = await self.conn.execute(select(shipping).order_by(shipping.c.id))
        return [shipping_from_row(r) for r in rows]

    async def shipping_method(self, method_id: int) -> ShippingMethod | None:
        if method_id not in self._shipping:
            row = (await self.conn.execute(_GET_SHIPPING, {"b_id": method_id})).first()
            self._shipping[method_id] = shipping_from_row(row) if row else None
        return self._shipping[method_id]

    # payments ---------------------------------------------------------------------------

    async def insert_payment(self, payment: Payment) -> None:
        await self.conn.execute(
            _INSERT_PAYMENT,
            {
                "id": payment.id,
                "cart_id": payment.cart_id,
                "method": payment.method,
                "provider": payment.provider,
                "currency": payment.currency,
                "card_ref": payment.card_ref,
                "card_last4": payment.card_last4,
                "position": payment.position,
                "created_at": payment.created_at,
                **payment_values(payment),
            },
        )
        cached = self._payments.get(payment.cart_id)
        if cached is not None:
            cached.append(replace(payment, transactions=()))
            cached.sort(key=lambda p: p.position)

    @staticmethod
    def _assemble(rows: Sequence[Any], tx_rows: Sequence[Any]) -> list[Payment]:
        by_payment: dict[str, list[Transaction]] = {r._mapping["id"]: [] for r in rows}
        for row in tx_rows:
            tx = transaction_from_row(row)
            if tx.payment_id in by_payment:
                by_payment[tx.payment_id].append(tx)
        return [payment_from_row(r, by_payment[r._mapping["id"]]) for r in rows]

    async def payments(self, cart_id: str) -> list[Payment]:
        if cart_id in self._payments:
            return list(self._payments[cart_id])
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        params = {"b_cart": cart_id}
        rows = (await self.conn.execute(_PAYMENTS_OF_CART, params)).all()
        tx_rows = (await self.conn.execute(_TRANSACTIONS_OF_CART, params)).all() if rows else []
        found = self._assemble(rows, tx_rows)
        self._payments[cart_id] = found
        return list(found)

    async def payments_of(self, cart_ids: Sequence[str]) -> dict[str, list[Payment]]:
        """The payments of many carts in two queries (lists of orders)."""
        found: dict[str, list[Payment]] = {cart_id: [] for cart_id in cart_ids}
        if not cart_ids:
            return found
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        rows = (
            await self.conn.execute(
                select(payments)
                .where(payments.c.cart_id.in_(list(cart_ids)))
                .order_by(payments.c.cart_id, payments.c.position)
            )
        ).all()
        if not rows:
            return found
        tx_rows = (
            await self.conn.execute(
                select(transactions)
                .where(transactions.c.payment_id.in_([r._mapping["id"] for r in rows]))
                .order_by(transactions.c.created_at, transactions.c.id)
            )
        ).all()
        for payment in self._assemble(rows, tx_rows):
            found[payment.cart_id].append(payment)
        return found

    async def payment(self, payment_id: str) -> Payment | None:
        for cached in self._payments.values():
            for payment in cached:
                if payment.id == payment_id:
                    return payment
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        rows = (await self.conn.execute(_GET_PAYMENT, {"b_id": payment_id})).all()
        if not rows:
            return None
        tx_rows = (await self.conn.execute(_TRANSACTIONS_OF_PAYMENT, {"b_id": payment_id})).all()
        return (self._assemble(rows, tx_rows))[0]

    def _remember(self, change: Callable[[Payment], Payment], *, payment_id: str) -> None:
        """Apply ``change`` to the remembered copy of a payment, if there is one."""
        for cached in self._payments.values():
            for i, payment in enumerate(cached):
                if payment.id == payment_id:
                    cached[i] = change(payment)
                    return

    async def update_payment(self, payment: Payment) -> None:
        values = payment_values(payment)
        await self.conn.execute(_UPDATE_PAYMENT, {"b_id": payment.id, **values})
        self._remember(
            lambda p: replace(
                p,
                status=payment.status,
                amount_planned=payment.amount_planned,
                upper_limit=payment.upper_limit,
                hold_ref=payment.hold_ref,
                updated_at=payment.updated_at,
            ),
            payment_id=payment.id,
        )

    async def insert_transaction(self, transaction: Transaction) -> None:
        t = transaction
        await pending.append(
            self.conn,
            _INSERT_TRANSACTION,
            [
                {
                    "id": t.id,
                    "payment_id": t.payment_id,
                    "type": t.type.value,
                    "state": t.state.value,
                    "amount": t.amount,
                    "currency": t.currency,
                    "interaction_id": t.interaction_id,
                    "error_code": t.error_code,
                    "created_at": t.created_at,
                    "updated_at": t.updated_at,
                }
            ],
        )
        self._remember(
            lambda p: replace(p, transactions=(*p.transactions, t)), payment_id=t.payment_id
        )

    async def update_transaction(
        self,
        transaction_id: str,
        *,
        state: TransactionState,
        error_code: str | None,
        now: datetime,
    ) -> None:
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        await self.conn.execute(
            _UPDATE_TRANSACTION,
            {
                "b_id": transaction_id,
                "state": state.value,
                "error_code": error_code,
                "updated_at": now,
            },
        )

        for cached in self._payments.values():
            for i, p in enumerate(cached):
                if any(t.id == transaction_id for t in p.transactions):
                    cached[i] = replace(
                        p,
                        transactions=tuple(
                            replace(t, state=state, error_code=error_code, updated_at=now)
                            if t.id == transaction_id
                            else t
                            for t in p.transactions
                        ),
                    )

    # orders -----------------------------------------------------------------------------

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

    async def order_by_reference(self, reference: str) -> Order | None:
        return await self._order_where(_ORDER_BY_REFERENCE, reference)

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

    # sessions ---------------------------------------------------------------------------

    async def insert_session(self, session: Session) -> None:
        await self.conn.execute(
            insert(sessions).values(
                token_hash=session.token_hash,
                cart_id=session.cart_id,
                owner=session.owner,
                metadata=session.metadata,
                future_order_number=session.future_order_number,
                expires_at=session.expires_at,
                created_at=session.created_at,
                updated_at=session.updated_at,
            )
        )

    async def session(self, token_hash: bytes) -> Session | None:
        row = (await self.conn.execute(_GET_SESSION, {"b_id": token_hash})).first()
        return session_from_row(row) if row else None

    async def order_number_taken(self, number: str) -> bool:
        used = await self.conn.execute(
            select(sessions.c.cart_id).where(sessions.c.future_order_number == number).limit(1)
        )
        placed = await self.conn.execute(
            select(orders.c.id).where(orders.c.reference == number).limit(1)
        )
        return used.first() is not None or placed.first() is not None

    async def latest_session(self, cart_id: str) -> Session | None:
        row = (
            await self.conn.execute(
                select(sessions)
                .where(sessions.c.cart_id == cart_id)
                .order_by(sessions.c.created_at.desc())
                .limit(1)
            )
        ).first()
        return session_from_row(row) if row else None

    async def future_order_number(self, cart_id: str) -> str | None:
        """The order number a session promised for this cart, if any (the newest one)."""
        row = (await self.conn.execute(_FUTURE_ORDER_NUMBER, {"b_id": cart_id})).first()
        return str(row[0]) if row else None

    async def allow_origins(self, allowed: Sequence[str], until: datetime) -> None:
        for origin in allowed:
            current = (
                await self.conn.execute(
                    select(origins.c.expires_at).where(origins.c.origin == origin)
                )
            ).first()
            if current is None:
                await self.conn.execute(insert(origins).values(origin=origin, expires_at=until))
            elif current[0] < until:
                await self.conn.execute(
                    update(origins).where(origins.c.origin == origin).values(expires_at=until)
                )

    async def origin_allowed(self, origin: str, now: datetime) -> bool:
        row = await self.conn.execute(
            select(origins.c.origin).where(origins.c.origin == origin, origins.c.expires_at > now)
        )
        return row.first() is not None

    async def forget_origins(self, now: datetime) -> None:
        await self.conn.execute(delete(origins).where(origins.c.expires_at <= now))

    # events -----------------------------------------------------------------------------

    async def append_events(
        self, new: Sequence[NewEvent], *, correlation_id: str | None, now: datetime
    ) -> None:
        await pending.append(
            self.conn,
            _INSERT_EVENTS,
            [
                {
                    "type": e.type,
                    "object_type": e.object_type,
                    "object_id": e.object_id,
                    "owner": e.owner,
                    "payload": e.payload,
                    "correlation_id": correlation_id,
                    "created_at": now,
                }
                for e in new
            ],
        )

    async def events(self, *, owner: str | None, after: int | None, limit: int) -> list[Event]:
        await pending.flush(self.conn, _INSERT_EVENTS)
        stmt = select(events)
        if owner is not None:
            stmt = stmt.where(events.c.owner == owner)
        if after is not None:
            stmt = stmt.where(events.c.id > after)
        rows = await self.conn.execute(stmt.order_by(events.c.id).limit(limit))
        return [
            Event(
                id=r.id,
                type=r.type,
                object_type=r.object_type,
                object_id=r.object_id,
                payload=r.payload,
                correlation_id=r.correlation_id,
                created_at=r.created_at,
            )
            for r in rows
        ]
