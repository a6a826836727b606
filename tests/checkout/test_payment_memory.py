"""The payment store remembers a cart's payments within a unit of work. Whatever field a write
changes, including one added to ``Payment`` or ``Transaction`` later, reading it back in the same
unit of work answers what was written, and so does a later unit of work reading the database."""

from __future__ import annotations

import dataclasses
import enum
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

from tender.domain.checkout_ports import Work
from tender.domain.ids import new_id
from tender.domain.orders import TransactionState, TransactionType
from tender.domain.payments import Payment, Transaction
from tests.checkout.conftest import OWNER, Shop

IDENTITY = {"id"}
"""A row is found by its id: changing it would make another row."""
WRITTEN_ELSEWHERE = {"transactions"}
"""A payment's transactions are written by ``insert_transaction`` and ``update_transaction``."""


def _next_char(c: str) -> str:
    for first, last in (("0", "9"), ("a", "z"), ("A", "Z")):
        if first <= c <= last:
            return first if c == last else chr(ord(c) + 1)
    return "x"


def other(value: Any, hint: Any) -> Any:
    """A value of the field's type that differs from ``value`` and fits its column (a string
    keeps its length)."""
    if value is None:
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        samples: dict[Any, Any] = {str: "x1", int: 1, bool: True, datetime: datetime.now(UTC)}
        if inner not in samples:
            raise AssertionError(f"no value for {hint}: teach this test the type")
        return samples[inner]
    if isinstance(value, enum.Enum):
        return next(m for m in type(value) if m is not value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, str):
        return "".join(_next_char(c) for c in value) if value else "x"
    if isinstance(value, datetime):
        return value + timedelta(seconds=90)
    raise AssertionError(f"no other value for {value!r} ({hint}): teach this test the type")


async def _cart_with_two_cards(shop: Shop) -> tuple[str, Payment, Payment]:
    view = await shop.ready_cart()
    found = []
    for minor in (2000, 3000):
        card = await shop.card(minor)
        _, payment = await shop.tx(
            lambda w, code=card.code: shop.runtime.carts.add_gift_card(
                w, cart_id=view.cart.id, owner=OWNER, code=code, pin=None
            )
        )
        found.append(payment)
    return view.cart.id, found[0], found[1]


async def _read_everywhere(w: Work, payment_id: str) -> tuple[Payment, list[Payment]]:
    payment = await w.payments.payment(payment_id)
    assert payment is not None
    return payment, await w.payments.payments(payment.cart_id)


async def _update_remembered(
    w: Work, payment: Payment, name: str, value: Any
) -> tuple[Payment, Payment, list[Payment]]:
    """Change one field of a payment the store remembers; what was written, then what the same
    unit of work reads back by id and by cart."""
    remembered = await w.payments.payments(payment.cart_id)
    before = next(p for p in remembered if p.id == payment.id)
    changed = dataclasses.replace(before, **{name: value})
    await w.payments.update_payment(changed)
    return (changed, *await _read_everywhere(w, payment.id))


async def test_every_field_of_a_payment_reads_back_as_updated(shop: Shop) -> None:
    cart_id, payment, _ = await _cart_with_two_cards(shop)
    other_cart = (await shop.ready_cart()).cart.id
    hints = typing.get_type_hints(Payment)
    names = [f.name for f in dataclasses.fields(Payment)]
    assert "cart_id" in names
    for name in names:
        if name in IDENTITY | WRITTEN_ELSEWHERE:
            continue
        value = other_cart if name == "cart_id" else other(getattr(payment, name), hints[name])
        changed, read, listed = await shop.tx(
            lambda w, p=payment, n=name, v=value: _update_remembered(w, p, n, v)
        )
        assert read == changed, name
        assert [p for p in listed if p.id == payment.id] == [changed], name
        stored, stored_list = await shop.tx(lambda w, p=payment: _read_everywhere(w, p.id))
        assert stored == changed, name
        assert stored_list == listed, name
        payment = changed
    assert payment.cart_id == other_cart
    remaining = await shop.tx(lambda w: w.payments.payments(cart_id))
    assert payment.id not in [p.id for p in remaining]


async def test_every_field_of_a_transaction_reads_back_as_written(shop: Shop) -> None:
    _, first, second = await _cart_with_two_cards(shop)
    hints = typing.get_type_hints(Transaction)
    now = shop.clock.now()
    template = Transaction(
        id="",
        payment_id=first.id,
        type=TransactionType.AUTHORIZATION,
        state=TransactionState.PENDING,
        amount=100,
        currency=first.currency,
        interaction_id=None,
        error_code=None,
        created_at=now,
        updated_at=now,
    )
    for f in dataclasses.fields(Transaction):
        if f.name in IDENTITY:
            continue
        value = (
            second.id if f.name == "payment_id" else other(getattr(template, f.name), hints[f.name])
        )
        written = dataclasses.replace(template, id=new_id(), **{f.name: value})

        async def insert(w: Work, written: Transaction = written) -> Payment:
            await w.payments.payments(first.cart_id)  # now in the store's memory
            await w.payments.insert_transaction(written)
            read, _ = await _read_everywhere(w, written.payment_id)
            return read

        read = await shop.tx(insert)
        assert written in read.transactions, f.name
        stored = await shop.tx(lambda w, pid=written.payment_id: w.payments.payment(pid))
        assert stored == read, f.name

    async def update(w: Work) -> tuple[Transaction, Payment]:
        before = (await w.payments.payments(first.cart_id))[0]
        tx = before.transactions[-1]
        later = now + timedelta(minutes=5)
        await w.payments.update_transaction(
            tx.id, state=TransactionState.FAILURE, error_code="Declined", now=later
        )
        expected = dataclasses.replace(
            tx, state=TransactionState.FAILURE, error_code="Declined", updated_at=later
        )
        read, _ = await _read_everywhere(w, before.id)
        return expected, read

    expected, read = await shop.tx(update)
    assert read.transactions[-1] == expected
    assert await shop.tx(lambda w: w.payments.payment(read.id)) == read
