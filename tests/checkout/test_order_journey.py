"""The whole journey through the services, on SQLite and PostgreSQL: a cart, two gift cards
(one with a PIN), invoice for the rest, place, confirm, complete, partial refund, cancel."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tender.domain.errors import InvalidCredentials
from tender.domain.ledger import HoldStatus
from tender.domain.money import Money
from tender.domain.orders import OrderState, TransactionState, TransactionType
from tender.domain.payments import PaymentCaptured
from tender.services.orders import PaymentNotAuthorized
from tests.checkout.conftest import OWNER, Shop


def kinds(payment: object) -> list[tuple[str, str, int]]:
    return [(t.type.value, t.state.value, t.amount) for t in payment.transactions]  # type: ignore[attr-defined]


async def test_split_tender_journey(shop: Shop) -> None:
    rt = shop.runtime
    first = await shop.card(3000)
    second = await shop.card(2500, pin="4711")
    view = await shop.ready_cart(unit=4000, quantity=2)  # 80.00 + 4.90 shipping
    cart_id = view.cart.id
    assert view.totals.grand_total == 8490

    with pytest.raises(InvalidCredentials):
        await shop.tx(
            lambda w: rt.carts.add_gift_card(
                w, cart_id=cart_id, owner=OWNER, code=second.code, pin="0000"
            )
        )
    view, p1 = await shop.tx(
        lambda w: rt.carts.add_gift_card(w, cart_id=cart_id, owner=OWNER, code=first.code, pin=None)
    )
    assert (p1.amount_planned, p1.upper_limit) == (3000, 3000)
    view, p2 = await shop.tx(
        lambda w: rt.carts.add_gift_card(
            w, cart_id=cart_id, owner=OWNER, code=second.code, pin="4711"
        )
    )
    assert (p2.amount_planned, p2.upper_limit) == (2500, 2500)
    assert view.totals.gift_cards == 5500
    assert view.totals.remaining == 2990

    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    order = placed.order
    assert order.state is OrderState.PROCESSING
    assert placed.redirect.url is None
    assert await shop.balance(first) == (3000, 3000)
    assert await shop.balance(second) == (2500, 2500)
    invoice = next(p for p in placed.view.payments if p.method == "invoice")
    assert kinds(invoice) == [("Authorization", "Pending", 2990)]

    with pytest.raises(PaymentNotAuthorized):
        await shop.tx(lambda w: rt.orders.complete(w, order_id=order.id, owner=OWNER))
    await shop.tx(
        lambda w: rt.orders.confirm_external(
            w,
            payment_id=invoice.id,
            owner=OWNER,
            payload=[{"type": "invoice-confirmation"}],
            from_server=True,
        )
    )

    done = await shop.tx(lambda w: rt.orders.complete(w, order_id=order.id, owner=OWNER))
    assert done.order.state is OrderState.COMPLETED
    assert await shop.balance(first) == (0, 0)
    assert await shop.balance(second) == (0, 0)
    by_id = {p.id: p for p in done.payments}
    assert kinds(by_id[p1.id]) == [("Authorization", "Success", 3000), ("Charge", "Success", 3000)]

    refunded = await shop.tx(
        lambda w: rt.orders.refund_payment(
            w, payment_id=p1.id, owner=OWNER, amount=Money(1000, "EUR")
        )
    )
    assert refunded.refundable == 2000
    assert await shop.balance(first) == (1000, 0)

    cancelled = await shop.tx(lambda w: rt.orders.cancel(w, order_id=order.id, owner=OWNER))
    assert cancelled.order.state is OrderState.CANCELLED
    assert await shop.balance(first) == (3000, 0)
    assert await shop.balance(second) == (2500, 0)
    invoice_after = next(p for p in cancelled.payments if p.id == invoice.id)
    assert invoice_after.total(TransactionType.REFUND) == 2990
    assert all(
        t.state is not TransactionState.PENDING for p in cancelled.payments for t in p.transactions
    )
    assert await shop.audit() == []
    async with rt.db.engine.connect() as conn:
        types = [r[0] for r in await conn.execute(text("SELECT type FROM events ORDER BY id"))]
    for expected in (
        "CartCreated",
        "GiftCardAdded",
        "OrderPlaced",
        "PaymentAuthorized",
        "OrderCompleted",
        "OrderCancelled",
        "PaymentTransactionAdded",
    ):
        assert expected in types


async def test_reopen_releases_and_edits_reallocate(shop: Shop) -> None:
    rt = shop.runtime
    card = await shop.card(10_000)
    view = await shop.ready_cart(unit=4000, quantity=1, method=None)  # 40.00 + 4.90
    cart_id = view.cart.id
    view, payment = await shop.tx(
        lambda w: rt.carts.add_gift_card(w, cart_id=cart_id, owner=OWNER, code=card.code, pin=None)
    )
    assert payment.amount_planned == 4490
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    assert await shop.balance(card) == (10_000, 4490)
    reopened = await shop.tx(lambda w: rt.orders.reopen(w, order_id=placed.order.id, owner=OWNER))
    assert reopened.order.state is OrderState.CHECKOUT
    assert await shop.balance(card) == (10_000, 0)
    from tender.domain.cart import ChangeLineItemQuantity

    current = await shop.tx(lambda w: rt.carts.get(w, cart_id=cart_id, owner=OWNER))
    line_id = current.cart.line_items[0].id
    edited = await shop.tx(
        lambda w: rt.carts.update(
            w,
            cart_id=cart_id,
            owner=OWNER,
            version=current.cart.version,
            actions=[ChangeLineItemQuantity(line_id, 2)],
        )
    )
    assert edited.totals.grand_total == 8490
    assert edited.gift_cards[0].amount_planned == 8490
    again = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    assert again.order.id == placed.order.id
    assert again.order.reference == placed.order.reference
    assert await shop.balance(card) == (10_000, 8490)
    assert await shop.audit() == []


async def test_completing_after_holds_expired_reserves_again_or_names_the_card(
    shop: Shop,
) -> None:
    from datetime import timedelta

    from tender.db.ledger_store import SqlLedgerStore
    from tender.domain.payments import GiftCardReservationFailed

    rt = shop.runtime
    plenty = await shop.card(10_000)
    view = await shop.ready_cart(unit=4000, quantity=1, method=None)  # 44.90
    cart_id = view.cart.id
    await shop.tx(
        lambda w: rt.carts.add_gift_card(
            w, cart_id=cart_id, owner=OWNER, code=plenty.code, pin=None
        )
    )
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    shop.clock.advance(hours=25)  # past the 24 h payment window
    swept = await rt.db.transaction(lambda c: rt.ledger.sweep_expired_holds(SqlLedgerStore(c)))
    assert swept == 1
    assert await shop.balance(plenty) == (10_000, 0)
    done = await shop.tx(lambda w: rt.orders.complete(w, order_id=placed.order.id, owner=OWNER))
    assert done.order.state is OrderState.COMPLETED
    assert await shop.balance(plenty) == (10_000 - 4490, 0)
    # The charge names the renewed hold, the one the money was really taken from.
    paid = next(p for p in done.payments if p.is_gift_card)
    by_type = {t.type: t for t in paid.transactions}
    dead_hold = by_type[TransactionType.AUTHORIZATION].interaction_id
    assert paid.hold_ref is not None
    assert paid.hold_ref != dead_hold
    assert by_type[TransactionType.CHARGE].interaction_id == paid.hold_ref
    renewed = await rt.db.read(lambda c: SqlLedgerStore(c).get_hold(paid.hold_ref or ""))
    dead = await rt.db.read(lambda c: SqlLedgerStore(c).get_hold(dead_hold or ""))
    assert renewed is not None
    assert dead is not None
    assert (renewed.status, renewed.captured_amount) == (HoldStatus.CAPTURED, 4490)
    assert (dead.status, dead.captured_amount) == (HoldStatus.EXPIRED, 0)

    scarce = await shop.card(5_000)
    view = await shop.ready_cart(unit=4000, quantity=1, method=None)
    other_cart = view.cart.id
    await shop.tx(
        lambda w: rt.carts.add_gift_card(
            w, cart_id=other_cart, owner=OWNER, code=scarce.code, pin=None
        )
    )
    second = await shop.tx(lambda w: rt.orders.place(w, cart_id=other_cart, owner=OWNER))
    shop.clock.advance(hours=25)
    await rt.db.transaction(lambda c: rt.ledger.sweep_expired_holds(SqlLedgerStore(c)))
    # Someone else spends the card meanwhile.
    await rt.db.transaction(
        lambda c: rt.ledger.reserve(
            SqlLedgerStore(c),
            card_id=scarce.card.id,
            amount=Money(4000, "EUR"),
            expires_in=timedelta(hours=1),
        )
    )
    with pytest.raises(GiftCardReservationFailed, match=f"\\*\\*\\*\\*{scarce.card.code_last4}"):
        await shop.tx(lambda w: rt.orders.complete(w, order_id=second.order.id, owner=OWNER))
    assert await shop.balance(scarce) == (5_000, 4000)  # nothing captured from a dead hold
    assert await shop.audit() == []


async def test_reopening_is_refused_while_captured_money_would_be_taken_again(shop: Shop) -> None:
    """Placing again reserves and completing captures each card's amount: after a capture,
    reopening would charge the card twice for one order. The merchant refunds first."""
    rt = shop.runtime
    card = await shop.card(50_000)
    view = await shop.ready_cart(unit=4000, quantity=2)  # 84.90
    cart_id = view.cart.id
    _, payment = await shop.tx(
        lambda w: rt.carts.add_gift_card(w, cart_id=cart_id, owner=OWNER, code=card.code, pin=None)
    )
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    order_id = placed.order.id
    await shop.tx(
        lambda w: rt.orders.capture_payment(
            w, payment_id=payment.id, owner=OWNER, amount=Money(6000, "EUR")
        )
    )
    with pytest.raises(PaymentCaptured, match="refund it before reopening"):
        await shop.tx(lambda w: rt.orders.reopen(w, order_id=order_id, owner=OWNER))
    assert await shop.balance(card) == (44_000, 0)  # 60.00 taken, the rest released at capture

    await shop.tx(
        lambda w: rt.orders.refund_payment(
            w, payment_id=payment.id, owner=OWNER, amount=Money(6000, "EUR")
        )
    )
    reopened = await shop.tx(lambda w: rt.orders.reopen(w, order_id=order_id, owner=OWNER))
    assert reopened.order.state is OrderState.CHECKOUT
    await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    done = await shop.tx(lambda w: rt.orders.complete(w, order_id=order_id, owner=OWNER))
    assert done.order.state is OrderState.COMPLETED
    assert await shop.balance(card) == (50_000 - 8490, 0)  # one order, paid once
    assert await shop.audit() == []


async def test_completing_after_the_hold_is_overdue_but_not_yet_swept(shop: Shop) -> None:
    """Between a hold's time running out and the sweep, its money still counts as held: the
    renewal gives it back first, so a card that holds exactly the order's amount is charged
    instead of being refused as empty."""
    rt = shop.runtime
    exact = await shop.card(4490)
    view = await shop.ready_cart(unit=4000, quantity=1, method=None)  # 44.90
    cart_id = view.cart.id
    await shop.tx(
        lambda w: rt.carts.add_gift_card(w, cart_id=cart_id, owner=OWNER, code=exact.code, pin=None)
    )
    placed = await shop.tx(lambda w: rt.orders.place(w, cart_id=cart_id, owner=OWNER))
    shop.clock.advance(hours=25)  # no sweep
    done = await shop.tx(lambda w: rt.orders.complete(w, order_id=placed.order.id, owner=OWNER))
    assert done.order.state is OrderState.COMPLETED
    assert await shop.balance(exact) == (0, 0)
    assert await shop.audit() == []
