"""Rows queued until commit (events, payment transactions, ledger activities and entries):
a transaction reads its own writes, and a rollback writes none of them, a wrong PIN's too
(its attempt is counted apart)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tender.db.ledger_store import SqlLedgerStore
from tender.domain.checkout_ports import Work
from tender.domain.customers import Customer
from tender.domain.errors import DomainError, InvalidCredentials
from tender.domain.events import NewEvent
from tender.domain.ledger import ActivityType
from tender.domain.money import Money
from tender.domain.orders import TransactionState, TransactionType
from tender.domain.payments import PaymentMethodSelection, Transaction
from tender.services.checkout_data import CheckoutData
from tests.checkout.conftest import ADDRESS, OWNER, Shop


async def _events(shop: Shop) -> list[str]:
    found = await shop.tx(lambda w: w.events.events(owner=None, after=None, limit=1000))
    return [e.type for e in found]


async def test_a_transaction_reads_the_rows_it_queued(shop: Shop) -> None:
    card = await shop.card(5000)
    view = await shop.ready_cart()
    added, payment = await shop.tx(
        lambda w: shop.runtime.carts.add_gift_card(
            w, cart_id=view.cart.id, owner=OWNER, code=card.code, pin=None
        )
    )
    now = shop.clock.now()

    async def work(w: Work) -> None:
        before = len(await _events_in(w))
        await w.events.append_events(
            [NewEvent("Probe", "cart", view.cart.id, OWNER, {})], correlation_id="c-1", now=now
        )
        assert len(await _events_in(w)) == before + 1
        tx = Transaction(
            "tx-probe",
            payment.id,
            TransactionType.AUTHORIZATION,
            TransactionState.PENDING,
            100,
            "EUR",
            None,
            None,
            now,
            now,
        )
        await w.payments.insert_transaction(tx)
        # a second store on the same connection has no cache: it must see the queued row
        fresh = replace(w, payments=type(w.payments)(w.payments.conn))  # type: ignore[attr-defined]
        found = await fresh.payments.payment(payment.id)
        assert found is not None
        assert [t.id for t in found.transactions] == ["tx-probe"]
        await fresh.payments.update_transaction(
            "tx-probe", state=TransactionState.SUCCESS, error_code=None, now=now
        )
        hold = await w.provider.reserve(
            ref=payment.card_ref or "", amount=Money(700, "EUR"), reference="r", expires_in=None
        )
        await w.provider.capture(hold_ref=hold, amount=Money(700, "EUR"))
        ledger_store = SqlLedgerStore(w.payments.conn)  # type: ignore[attr-defined]
        totals = await ledger_store.reference_totals(payment.card_ref or "", "r")
        assert totals == {ActivityType.HOLD: 700, ActivityType.CAPTURE: 700}
        assert await ledger_store.audit() == []

    async def _events_in(w: Work) -> list[object]:
        return list(await w.events.events(owner=None, after=None, limit=1000))

    await shop.tx(work)
    assert "Probe" in await _events(shop)
    stored = await shop.tx(lambda w: w.payments.payment(payment.id))
    assert stored is not None
    assert [(t.id, t.state) for t in stored.transactions] == [
        ("tx-probe", TransactionState.SUCCESS)
    ]
    assert await shop.balance(card) == (4300, 0)
    assert await shop.audit() == []
    assert added.totals.gift_cards > 0


async def test_a_rollback_writes_none_of_the_queued_rows(shop: Shop) -> None:
    card = await shop.card(5000)
    view = await shop.ready_cart()
    before = await _events(shop)
    now = shop.clock.now()

    async def work(w: Work) -> None:
        await w.events.append_events(
            [NewEvent("Doomed", "cart", view.cart.id, OWNER, {})], correlation_id=None, now=now
        )
        hold = await w.provider.reserve(
            ref=card.card.id, amount=Money(700, "EUR"), reference="r", expires_in=None
        )
        await w.provider.capture(hold_ref=hold, amount=Money(700, "EUR"))
        raise DomainError("changed my mind")

    with pytest.raises(DomainError, match="changed my mind"):
        await shop.tx(work)
    assert await _events(shop) == before
    assert await shop.balance(card) == (5000, 0)
    history = await shop.runtime.db.read(
        lambda c: SqlLedgerStore(c).list_activities(card.card.id, after=None, limit=100)
    )
    assert [a.type.value for a in history.items] == ["issue"]
    assert await shop.audit() == []


async def test_a_wrong_pin_keeps_none_of_the_rows_queued_before_it(shop: Shop) -> None:
    view = await shop.ready_cart()
    card = await shop.card(5000, pin="1234")
    before = await _events(shop)
    now = shop.clock.now()

    async def work(w: Work) -> None:
        await w.events.append_events(
            [NewEvent("BeforeWrongPin", "cart", view.cart.id, OWNER, {})],
            correlation_id=None,
            now=now,
        )
        await w.provider.authenticate(code=card.code, pin="0000")

    with pytest.raises(InvalidCredentials):
        await shop.tx(work)
    assert await _events(shop) == before
    counted = await shop.runtime.db.read(lambda c: SqlLedgerStore(c).get_card(card.card.id))
    assert counted is not None
    assert counted.failed_pin_attempts == 1


async def test_posting_unchanged_checkout_data_changes_nothing(shop: Shop) -> None:
    view = await shop.ready_cart()
    data = CheckoutData(
        customer=Customer(email="ada@example.com"),
        billing_address=ADDRESS,
        shipping_address=ADDRESS,
        payment_methods=(PaymentMethodSelection("invoice"),),
        shipping_method_id=view.cart.shipping_method_id,
    )
    first, changed = await shop.tx(
        lambda w: shop.runtime.checkout_data.store(w, cart_id=view.cart.id, owner=OWNER, data=data)
    )
    events = await _events(shop)
    again, changed_again = await shop.tx(
        lambda w: shop.runtime.checkout_data.store(w, cart_id=view.cart.id, owner=OWNER, data=data)
    )
    assert not changed_again
    assert again.version == first.version
    assert await _events(shop) == events
    different = replace(data, customer=Customer(email="grace@example.com"))
    third, changed_third = await shop.tx(
        lambda w: shop.runtime.checkout_data.store(
            w, cart_id=view.cart.id, owner=OWNER, data=different
        )
    )
    assert changed_third
    assert third.version == first.version + 1
    assert await _events(shop) == [*events, "CheckoutDataUpdated"]
    del changed
