"""Payments and their transactions in SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from tender.db import direct, pending
from tender.db.checkout_rows import (
    payment_from_row,
    payment_values,
    payments,
    transaction_from_row,
    transactions,
)
from tender.domain.orders import TransactionState
from tender.domain.payments import Payment, Transaction

_ID: BindParameter[Any] = bindparam("b_id")
_INSERT_PAYMENT = insert(payments)
_TX = "tx_"
"""The prefix of a transaction's columns where they are read joined to their payment."""
_WITH_TRANSACTIONS = select(
    payments, *(column.label(f"{_TX}{column.name}") for column in transactions.c)
).select_from(payments.outerjoin(transactions, transactions.c.payment_id == payments.c.id))


def _with_transactions(condition: ColumnElement[bool], *order: ColumnElement[Any]) -> Select[Any]:
    """Payments and their transactions in one statement: each payment's row once per
    transaction, or once with empty transaction columns when it has none."""
    return _WITH_TRANSACTIONS.where(condition).order_by(
        *order, transactions.c.created_at, transactions.c.id
    )


_PAYMENTS_OF_CART = _with_transactions(
    payments.c.cart_id == bindparam("b_cart"), payments.c.position
)
_GET_PAYMENT = _with_transactions(payments.c.id == _ID)
_UPDATE_PAYMENT = update(payments).where(payments.c.id == _ID)
_INSERT_TRANSACTION = insert(transactions)
_UPDATE_TRANSACTION = update(transactions).where(transactions.c.id == _ID)


def _payment_row(payment: Payment) -> dict[str, Any]:
    """Every column but the id. Insert and update write the same columns, so an update stores
    the whole payment it was given, which is then also exactly what the store remembers."""
    return {
        "cart_id": payment.cart_id,
        "method": payment.method,
        "provider": payment.provider,
        "currency": payment.currency,
        "card_ref": payment.card_ref,
        "card_last4": payment.card_last4,
        "position": payment.position,
        "created_at": payment.created_at,
        "redeemed": payment.redeemed,
        **payment_values(payment),
    }


def _transaction_row(t: Transaction) -> dict[str, Any]:
    return {
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


def _assemble(rows: Sequence[Any]) -> list[Payment]:
    """The payments of rows read by ``_with_transactions``, in the order they first appear."""
    firsts: dict[str, Any] = {}
    found: dict[str, list[Transaction]] = {}
    for row in rows:
        payment_id = row._mapping["id"]
        if payment_id not in firsts:
            firsts[payment_id] = row
            found[payment_id] = []
        if row._mapping[f"{_TX}id"] is not None:
            found[payment_id].append(transaction_from_row(row, _TX))
    return [payment_from_row(row, found[payment_id]) for payment_id, row in firsts.items()]


@dataclass
class _CartPayments:
    """One cart's payments as this transaction last read or wrote them, row by row: a payment
    without its transactions, and each transaction. A write replaces the whole row it wrote, so
    the copy is always what reading the rows again would give, whatever fields they have."""

    payments: dict[str, Payment] = field(default_factory=dict)
    transactions: dict[str, dict[str, Transaction]] = field(default_factory=dict)
    _whole: dict[str, Payment] = field(default_factory=dict)
    """Each payment as ``get`` last assembled it, until a write to it or its transactions: a
    redemption or an order reads the same payments several times."""

    @classmethod
    def of(cls, found: Sequence[Payment]) -> _CartPayments:
        remembered = cls()
        for payment in found:
            remembered.put(payment)
            for t in payment.transactions:
                remembered.transactions[payment.id][t.id] = t
        return remembered

    def put(self, payment: Payment) -> None:
        row = replace(payment, transactions=()) if payment.transactions else payment
        self.payments[payment.id] = row
        self.transactions.setdefault(payment.id, {})
        self._whole.pop(payment.id, None)

    def add_transaction(self, transaction: Transaction) -> None:
        self.transactions[transaction.payment_id][transaction.id] = transaction
        self._whole.pop(transaction.payment_id, None)

    def change_transaction(self, transaction_id: str, **changes: Any) -> None:
        for payment_id, txs in self.transactions.items():
            if transaction_id in txs:
                txs[transaction_id] = replace(txs[transaction_id], **changes)
                self._whole.pop(payment_id, None)

    def get(self, payment_id: str) -> Payment:
        whole = self._whole.get(payment_id)
        if whole is None:
            row, txs = self.payments[payment_id], self.transactions[payment_id]
            if txs:
                ordered = sorted(txs.values(), key=lambda t: (t.created_at, t.id))
                row = replace(row, transactions=tuple(ordered))
            whole = self._whole[payment_id] = row
        return whole

    def all(self) -> list[Payment]:
        ordered = sorted(self.payments.values(), key=lambda p: p.position)
        return [self.get(p.id) for p in ordered]


class SqlPaymentStore:
    """One transaction's payments. It remembers the payments of every cart it read: placing an
    order reads them many times, and inside one transaction, under the cart's lock, nobody else
    can change them."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._carts: dict[str, _CartPayments] = {}
        self._cart_of: dict[str, str] = {}
        """The cart of each remembered payment."""

    def _remembered(self, payment_id: str) -> _CartPayments | None:
        cart_id = self._cart_of.get(payment_id)
        return None if cart_id is None else self._carts[cart_id]

    def _forget(self, cart_id: str) -> None:
        remembered = self._carts.pop(cart_id, None)
        for payment_id in remembered.payments if remembered else ():
            self._cart_of.pop(payment_id, None)

    async def insert_payment(self, payment: Payment) -> None:
        """Queued with the append-only rows (``tender.db.pending``): every read of payments
        flushes first, and so does every update."""
        row = {"id": payment.id, **_payment_row(payment)}
        await pending.append(self.conn, _INSERT_PAYMENT, [row])
        remembered = self._carts.get(payment.cart_id)
        if remembered is not None:
            remembered.put(payment)
            self._cart_of[payment.id] = payment.cart_id

    async def payments(self, cart_id: str) -> list[Payment]:
        remembered = self._carts.get(cart_id)
        if remembered is not None:
            return remembered.all()
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        found = _assemble(
            (await direct.execute(self.conn, _PAYMENTS_OF_CART, {"b_cart": cart_id})).all()
        )
        self._carts[cart_id] = _CartPayments.of(found)
        self._cart_of.update((p.id, cart_id) for p in found)
        return found

    async def payments_of(self, cart_ids: Sequence[str]) -> dict[str, list[Payment]]:
        """The payments of many carts in one query (lists of orders)."""
        found: dict[str, list[Payment]] = {cart_id: [] for cart_id in cart_ids}
        if not cart_ids:
            return found
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        statement = _with_transactions(
            payments.c.cart_id.in_(list(cart_ids)), payments.c.cart_id, payments.c.position
        )
        for payment in _assemble((await self.conn.execute(statement)).all()):
            found[payment.cart_id].append(payment)
        return found

    async def payment(self, payment_id: str) -> Payment | None:
        remembered = self._remembered(payment_id)
        if remembered is not None:
            return remembered.get(payment_id)
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        found = _assemble(
            (await direct.execute(self.conn, _GET_PAYMENT, {"b_id": payment_id})).all()
        )
        return found[0] if found else None

    async def update_payment(self, payment: Payment) -> None:
        await self.update_payments([payment])

    async def update_payments(self, changed: Sequence[Payment]) -> None:
        if not changed:
            return
        await pending.flush(self.conn, _INSERT_PAYMENT)
        await direct.execute_many(
            self.conn, _UPDATE_PAYMENT, [{"b_id": p.id, **_payment_row(p)} for p in changed]
        )
        for payment in changed:
            self._remember_update(payment)

    def _remember_update(self, payment: Payment) -> None:
        remembered = self._remembered(payment.id)
        if remembered is None:
            return
        if self._cart_of[payment.id] == payment.cart_id:
            remembered.put(payment)
        else:  # moved to another cart: both carts' lists are read again when asked for
            self._forget(self._cart_of[payment.id])
            self._forget(payment.cart_id)

    async def insert_transaction(self, transaction: Transaction) -> None:
        await pending.append(self.conn, _INSERT_TRANSACTION, [_transaction_row(transaction)])
        remembered = self._remembered(transaction.payment_id)
        if remembered is not None:
            remembered.add_transaction(transaction)

    async def update_transaction(
        self, transaction_id: str, *, state: TransactionState, error_code: str | None, now: datetime
    ) -> None:
        await pending.flush(self.conn, _INSERT_TRANSACTION)
        await direct.execute(
            self.conn,
            _UPDATE_TRANSACTION,
            {
                "b_id": transaction_id,
                "state": state.value,
                "error_code": error_code,
                "updated_at": now,
            },
        )
        for remembered in self._carts.values():
            remembered.change_transaction(
                transaction_id, state=state, error_code=error_code, updated_at=now
            )
