"""A hypothesis state machine over the order life cycle: add and remove gift cards, redeem one
from the shopper's page (the processor's ``POST /redeem``), change the cart, place, back to
checkout, capture part of a card, confirm the invoice, complete, refund, cancel, and the
merchant's payment intents (capture, refund, cancel, reverse). After every step: no card's
available balance below zero, the ledger's holds equal the gift card authorizations still open,
the books sum to zero, the cards never keep more of the shopper's money than the order's grand
total (nothing while back in checkout but a redemption placing keeps), and before placing only
redemptions hold money."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tender.config import Environment, Settings
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import upgrade
from tender.domain.cart import (
    ChangeLineItemQuantity,
)
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError
from tender.domain.money import Money
from tender.domain.orders import OrderState
from tender.domain.payments import PaymentMethodSelection
from tender.runtime import Runtime
from tender.services.orders.intents import IntentAction, PaymentIntent
from tender.services.shipping import add_shipping_method
from tests.checkout.conftest import OWNER, ready_cart
from tests.conftest import FakeClock, clean, create_pg_database, drop_pg_database

T = TypeVar("T")
SECRET = "lifecycle-machine-secret-0123456789abcdefghij"
BALANCES = (3_000, 2_500, 9_000)


class Backend:
    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.runtime = Runtime(
            Settings(
                env=Environment.TEST,
                database_url=url,
                secret_key=SECRET,
                sweep_interval_seconds=0,
                db_pool_size=2,
            ),
            clock=self.clock,
        )
        self.run(upgrade(self.runtime.db.engine))

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.runtime.close())
        self.loop.close()


class Lifecycle(RuleBasedStateMachine):
    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.rt = self.backend.runtime
        self.backend.run(clean(self.rt.db))
        self.codes: list[str] = []
        self.card_ids: list[str] = []
        for balance in BALANCES:
            issued = self.tx_ledger(
                lambda s, b=balance: self.rt.ledger.issue(s, amount=Money(b, "EUR"))
            )[0]
            self.codes.append(issued.code)
            self.card_ids.append(issued.card.id)
        method = self.tx(
            lambda w: add_shipping_method(
                w.shipping,
                clock=self.rt.clock,
                name="S",
                carrier_name="x",
                price=Money(490, "EUR"),
                tax_rate_bp=1900,
            )
        )
        invoice = PaymentMethodSelection("invoice", "x")
        view = self.tx(
            lambda w: ready_cart(
                self.rt, w, unit=4000, email="a@b.de", shipping=method.id, method=invoice
            )
        )
        self.cart_id = view.cart.id
        self.line_id = view.cart.line_items[0].id
        _, self.session = self.tx(
            lambda w: self.rt.sessions.create(
                w, owner=OWNER, cart_id=self.cart_id, metadata={}, creator="machine"
            )
        )
        self.order_id: str | None = None
        self.state: OrderState | None = None
        self.has_cards = False
        """Whether the cart has an active gift card payment, as the invariant last read it."""

    def tx(self, work: Callable[[Work], Awaitable[T]]) -> T:
        return self.backend.run(
            self.rt.db.transaction(lambda c: work(self.rt.work(c, actor="machine")))
        )

    def tx_ledger(self, work: Callable[[SqlLedgerStore], Awaitable[T]]) -> T:
        return self.backend.run(self.rt.db.transaction(lambda c: work(SqlLedgerStore(c))))

    def attempt(
        self,
        step: str,
        work: Callable[[Work], Awaitable[Any]],
        allowed: bool,
        refusals: tuple[str, ...] = (),
        *,
        unforeseen: tuple[str, ...] = (),
    ) -> bool:
        """Run ``work``. When the model says it is not ``allowed``, it must fail with one of
        ``refusals`` (error codes); when it is, it must succeed, or fail only with one of the
        ``unforeseen`` codes, which depend on what the model does not follow (balances after
        partial captures, a card added already). Returns whether it succeeded; successes are
        counted per step, so a run in which a step never succeeds fails (see ``_run``)."""
        refused: DomainError | None = None
        try:
            self.tx(work)
        except DomainError as error:
            refused = error
        if refused is None:
            assert allowed, f"{step}: expected a refusal"
            SUCCEEDED[step] = SUCCEEDED.get(step, 0) + 1
            return True
        expected = unforeseen if allowed else refusals
        assert refused.code in expected, (step, allowed, refused.code, refused.detail)
        return False

    @property
    def editable(self) -> bool:
        return self.state in (None, OrderState.CHECKOUT)

    def payments(self) -> list[Any]:
        return self.tx(lambda w: w.payments.payments(self.cart_id))

    @rule(index=st.integers(0, len(BALANCES) - 1))
    def add_card(self, index: int) -> None:
        self.attempt(
            "add_card",
            lambda w: self.rt.carts.add_gift_card(
                w, cart_id=self.cart_id, owner=OWNER, code=self.codes[index], pin=None
            ),
            allowed=self.editable,
            refusals=("CartLocked",),
            unforeseen=("GiftCardAlreadyAdded", "GiftCardNotUsable"),
        )

    @rule(index=st.integers(0, len(BALANCES) - 1), amount=st.sampled_from([700, 2_000, 20_000]))
    def redeem(self, index: int, amount: int) -> None:
        """The shopper's page redeems at most ``amount`` of a card on the session's cart."""

        async def redeem(w: Work) -> Any:
            return await self.rt.redemptions.redeem(
                w, session=self.session, code=self.codes[index], pin=None, amount=eur(amount)
            )

        self.attempt(
            "redeem",
            redeem,
            allowed=self.editable,
            refusals=("CartLocked",),
            unforeseen=("CartPaidInFull", "GiftCardAlreadyAdded", "GiftCardNotUsable"),
        )

    @precondition(lambda self: self.has_cards)
    @rule(action=st.sampled_from(list(IntentAction)), fraction=st.sampled_from([1, 2]))
    def intent(self, action: IntentAction, fraction: int) -> None:
        """The merchant's backend sends one payment intent for a gift card payment: capturing
        and refunding part or all of what they can, cancelling and reversing all."""
        cards = [p for p in self.payments() if p.is_gift_card and p.active]
        # A payment the action can act on if there is one (the refusals are tried too).
        can = {
            IntentAction.CAPTURE: [p for p in cards if p.authorized > 0],
            IntentAction.CANCEL: [p for p in cards if p.authorized > 0],
            IntentAction.REFUND: [p for p in cards if p.refundable > 0],
            IntentAction.REVERSE: [p for p in cards if p.brings > 0],
        }[action] or cards
        if not can:
            return
        payment = can[0]
        amount = None
        if action is IntentAction.CAPTURE:
            amount = eur(max(1, payment.authorized // fraction))
        elif action is IntentAction.REFUND:
            amount = eur(max(1, payment.refundable // fraction))

        async def units(work: Callable[[Work], Awaitable[T]]) -> T:
            return await self.rt.db.transaction(lambda c: work(self.rt.work(c, actor="machine")))

        try:
            outcome = self.backend.run(
                self.rt.orders.perform(
                    units,
                    payment_id=payment.id,
                    owner=OWNER,
                    intent=PaymentIntent(action, amount),
                )
            )
        except DomainError as error:
            # What the payment's state decides (nothing open to capture or cancel, nothing
            # charged to refund, a redemption's cart not placed yet): the model does not follow
            # amounts, so these refusals are allowed; anything else fails the run.
            assert error.code in INTENT_REFUSALS, (action, error.code, error.detail)  # noqa: PT017
            return
        SUCCEEDED[f"intent_{action.value}_{outcome.value}"] = (
            SUCCEEDED.get(f"intent_{action.value}_{outcome.value}", 0) + 1
        )

    @rule(data=st.data())
    def remove_card(self, data: st.DataObject) -> None:
        active = [p for p in self.payments() if p.is_gift_card and p.active]
        if not active:
            return
        payment = data.draw(st.sampled_from(active))
        self.attempt(
            "remove_card",
            lambda w: self.rt.carts.remove_gift_card(
                w, cart_id=self.cart_id, owner=OWNER, payment_id=payment.id
            ),
            allowed=self.editable and not payment.already_reserved,
            # A redeemed card holding its money is given back by a payment intent instead.
            refusals=("CartLocked", "RedeemedPaymentKept"),
        )

    @rule(quantity=st.integers(1, 3))
    def change_quantity(self, quantity: int) -> None:
        async def change(w: Work) -> Any:
            cart = await self.rt.carts.lock(w, cart_id=self.cart_id, owner=OWNER)
            return await self.rt.carts.update(
                w,
                cart_id=self.cart_id,
                owner=OWNER,
                version=cart.version,
                actions=[ChangeLineItemQuantity(self.line_id, quantity)],
            )

        self.attempt("change_quantity", change, allowed=self.editable, refusals=("CartLocked",))

    @rule()
    def place(self) -> None:
        async def place(w: Work) -> Any:
            placed = await self.rt.orders.place(w, cart_id=self.cart_id, owner=OWNER)
            self.order_id = placed.order.id
            return placed

        if self.attempt(
            "place",
            place,
            allowed=self.editable,
            refusals=("OrderAlreadyPlaced", "CartLocked"),
            # ``RedeemedBeyondTotal``: the cart's total fell below what redemptions hold.
            unforeseen=("GiftCardReservationFailed", "GiftCardShortfall", "RedeemedBeyondTotal"),
        ):
            self.state = OrderState.PROCESSING

    def _order_call(
        self,
        name: str,
        allowed_from: tuple[OrderState, ...],
        target: OrderState,
        refusals: tuple[str, ...] = (),
    ) -> None:
        if self.order_id is None:
            return
        order_id = self.order_id
        ok = self.attempt(
            name,
            lambda w: getattr(self.rt.orders, name)(w, order_id=order_id, owner=OWNER),
            allowed=self.state in allowed_from,
            refusals=("InvalidOrderStateTransition",),
            unforeseen=refusals,
        )
        if ok:
            self.state = target

    @precondition(lambda self: self.order_id is not None)
    @rule()
    def reopen(self) -> None:
        # Refused while captured money would be taken again by placing: refund it first.
        self._order_call(
            "reopen", (OrderState.PROCESSING,), OrderState.CHECKOUT, refusals=("PaymentCaptured",)
        )

    @precondition(lambda self: self.state is OrderState.PROCESSING)
    @rule(fraction=st.sampled_from([1, 2]))
    def capture_part(self, fraction: int) -> None:
        held = [p for p in self.payments() if p.is_gift_card and p.authorized > 0]
        if not held or self.state is not OrderState.PROCESSING:
            return
        payment = held[0]
        amount = Money(max(1, payment.authorized // fraction), "EUR")
        self.attempt(
            "capture_part",
            lambda w: self.rt.orders.capture_payment(
                w, payment_id=payment.id, owner=OWNER, amount=amount
            ),
            allowed=True,
        )

    @precondition(lambda self: self.state is OrderState.PROCESSING)
    @rule()
    def confirm_invoice(self) -> None:
        pending = [p for p in self.payments() if p.method == "invoice" and p.active]
        if not pending or self.state is not OrderState.PROCESSING:
            return
        self.attempt(
            "confirm_invoice",
            lambda w: self.rt.orders.confirm_external(
                w,
                payment_id=pending[0].id,
                owner=OWNER,
                payload=[{"type": "invoice-confirmation"}],
                from_server=True,
            ),
            allowed=True,
            unforeseen=("PaymentTransactionRefused",),
        )

    @precondition(lambda self: self.order_id is not None)
    @rule()
    def complete(self) -> None:
        self._order_call(
            "complete",
            (OrderState.PROCESSING,),
            OrderState.COMPLETED,
            # A partial capture released the rest: the merchant must settle for less.
            refusals=("PaymentNotAuthorized", "PaymentsShortOfTotal"),
        )

    @precondition(lambda self: self.order_id is not None)
    @rule()
    def cancel(self) -> None:
        self._order_call(
            "cancel",
            (OrderState.CHECKOUT, OrderState.PROCESSING, OrderState.COMPLETED),
            OrderState.CANCELLED,
        )

    @rule(fraction=st.sampled_from([1, 2, 3]))
    def refund_part(self, fraction: int) -> None:
        charged = [p for p in self.payments() if p.is_gift_card and p.refundable > 0]
        if not charged:
            return
        payment = charged[0]
        amount = Money(max(1, payment.refundable // fraction), "EUR")
        self.attempt(
            "refund_part",
            lambda w: self.rt.orders.refund_payment(
                w, payment_id=payment.id, owner=OWNER, amount=amount
            ),
            allowed=True,
        )

    @invariant()
    def money_is_consistent(self) -> None:
        async def read() -> tuple[list[Any], list[Any], list[str], Any]:
            cards = [
                await self.rt.db.read(
                    lambda c, i=i: self.rt.ledger.get(SqlLedgerStore(c), card_id=i)
                )
                for i in self.card_ids
            ]
            payments = await self.rt.db.read(
                lambda c: self.rt.work(c, actor=None).payments.payments(self.cart_id)
            )
            problems = await self.rt.db.read(lambda c: SqlLedgerStore(c).audit())
            order_id = self.order_id
            order = None
            if order_id is not None:
                order = await self.rt.db.read(
                    lambda c: self.rt.work(c, actor=None).orders.order(order_id)
                )
            return cards, payments, problems, order

        cards, payments, problems, order = self.backend.run(read())
        self.has_cards = any(p.is_gift_card and p.active for p in payments)
        assert problems == []
        assert all(card.available >= 0 for card in cards)
        open_authorizations = sum(p.authorized for p in payments if p.is_gift_card)
        assert sum(card.held for card in cards) == open_authorizations
        if self.state in (None, OrderState.CHECKOUT):
            # Before placing, only a card redeemed from the shopper's page holds money.
            assert all(p.authorized == 0 for p in payments if p.is_gift_card and not p.redeemed)
            assert all(p.authorized == 0 for p in payments if p.redeemed and not p.active)
        if self.state is OrderState.CANCELLED:
            assert open_authorizations == 0
        if order is not None and self.state in (OrderState.PROCESSING, OrderState.COMPLETED):
            brought = sum(p.brings for p in payments if p.is_gift_card)
            assert brought <= order.grand_total, (brought, order.grand_total)
        refunded_or_kept = sum(c.posted for c in cards)
        charged = sum(p.charged - p.total_refunded for p in payments if p.is_gift_card)
        assert refunded_or_kept + charged == sum(BALANCES)
        if order is not None:
            assert charged <= order.grand_total
        if self.state is OrderState.CHECKOUT:
            # Back in checkout nothing keeps captured money but a redemption that placing
            # will keep as it is (captured whole: reopening refused any other capture).
            kept = [p for p in payments if p.already_reserved]
            assert all(p.refundable == 0 for p in payments if p.is_gift_card and p not in kept)


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


INTENT_REFUSALS = (
    "PaymentTransactionRefused",  # nothing open to capture or cancel, nothing to refund
    "PaymentNotInOrder",  # capturing or refunding a redemption whose cart is not placed
    "InvalidStateTransition",  # capturing outside Processing
    "InvalidOrderStateTransition",
)
EXPLORE = os.environ.get("TENDER_MACHINE_EXPLORE") == "1"
"""Draw new examples on every run (a hunt on a developer's machine). By default the examples
are the same on every run, so that the steps required below are reached on every run, in CI
above all: with fresh draws one run in about fifteen took no intent on."""

SUCCEEDED: dict[str, int] = {}
"""Successful steps of a run, by name. How far each example gets depends on its draws, so a
run is only required to have redeemed a card, placed orders, cancelled one, taken
one on from Processing (completed, back to Checkout, or a card captured) and carried out a
payment intent (every run tried had more)."""


def _run(url: str) -> None:
    Lifecycle.backend = Backend(url)
    SUCCEEDED.clear()
    try:
        run_state_machine_as_test(
            Lifecycle,
            settings=settings(
                max_examples=50,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                derandomize=not EXPLORE,
            ),
        )
    finally:
        Lifecycle.backend.close()
    succeeded = sorted(SUCCEEDED.items())
    assert SUCCEEDED.get("add_card"), succeeded
    assert SUCCEEDED.get("place"), succeeded
    assert SUCCEEDED.get("cancel"), succeeded
    taken_on = ("complete", "reopen", "capture_part", "intent_capture_approved")
    assert any(SUCCEEDED.get(step) for step in taken_on), succeeded
    assert SUCCEEDED.get("redeem"), succeeded
    assert any(name.startswith("intent_") for name in SUCCEEDED), succeeded


def test_order_lifecycle_on_sqlite(tmp_path: Path) -> None:
    _run(f"sqlite+aiosqlite:///{tmp_path / 'lifecycle.db'}")


@pytest.mark.xdist_group("lifecycle-pg")
def test_order_lifecycle_on_postgresql() -> None:
    url = asyncio.run(create_pg_database())
    try:
        _run(url)
    finally:
        asyncio.run(drop_pg_database(url))
