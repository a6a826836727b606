"""Money routes raced over HTTP, on SQLite and PostgreSQL: a payment's capture, refund and cancel
against its order's completion, cancellation and reopening; a redemption given back while its
cart is placed or redeemed on again; two Glue checkouts reaching for the same cards; the hold
sweep, and placing, against reservations that lapsed. Whatever wins, the money is exactly
right: nothing captured after a cancel nor twice, never more refunded than captured, the
ledger's active holds equal to the open gift card authorizations, its books balanced. And no
unit waits on another in a cycle: PostgreSQL breaks a deadlock after a second by failing one
unit, which is retried, so the answers alone look right; no retry may happen.

Where the interleaving that matters is not the one two requests started together take, one
request waits at a point of its unit (an ``asyncio`` event, no sleeping) until the other got
to its own: on PostgreSQL only where the other can get there meanwhile, since on SQLite it
waits for the one writer."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select

from tender.db.ledger_store import SqlLedgerStore, holds
from tender.domain.ledger import Card
from tender.domain.orders import Order, OrderState, TransactionState, TransactionType
from tender.domain.payments import Payment
from tender.domain.redemption import CaptureMode
from tests.api.conftest import Api, assert_error
from tests.api.journeys import (
    add_card,
    card,
    checkout_document,
    new_cart,
    ready_cart,
    shipping_method,
)
from tests.api.operations_setup import INTENTS, action
from tests.api.processor import Shop, crosswise_redemptions, open_shop
from tests.conftest import Retries

T = TypeVar("T")
ROUNDS = 4
WINDOW = timedelta(minutes=30)
"""How long reservations last here: a step of the clock past it lets them lapse while the
merchant's tokens (an hour) still hold."""


async def in_turn(calls: Sequence[Awaitable[T]], turn: int) -> list[T]:
    """Every call at once, started from another one each round (SQLite runs them in the order
    they reach its writer, so each round tries another order there); the answers in the order
    of ``calls``."""
    first = turn % len(calls)
    order = [*range(first, len(calls)), *range(first)]
    answers = await asyncio.gather(*(calls[i] for i in order))
    return [answers[order.index(i)] for i in range(len(calls))]


def refused(response: httpx.Response, status: int) -> None:
    """Refused in the service's error shape with ``status``: never a server error."""
    assert_error(response, status)


def euros(cents: int) -> dict[str, Any]:
    return {"centAmount": cents, "currency": "EUR"}


# --- the books ---------------------------------------------------------------------------------


def replayed(payment: Payment) -> tuple[int, int, int]:
    """The payment's successful transactions in the order they happened, checked step by
    step: nothing charged or cancelled beyond what is open, nothing refunded beyond what was
    charged. Answers what is open, charged and refunded."""
    opened = charged = refunded = 0
    done = [t for t in payment.transactions if t.state is TransactionState.SUCCESS]
    what = f"payment {payment.id}: {[(t.type.value, t.amount) for t in done]}"
    for index, t in enumerate(done):
        if t.type is TransactionType.AUTHORIZATION:
            opened += t.amount
        elif t.type is TransactionType.CHARGE:
            at_once = index == 0 and payment.redeemed  # a redemption captured immediately
            assert at_once or t.amount <= opened, f"charged beyond the authorization: {what}"
            opened = max(opened - t.amount, 0)
            charged += t.amount
        elif t.type is TransactionType.CANCEL_AUTHORIZATION:
            assert t.amount <= opened, f"cancelled beyond the authorization: {what}"
            opened -= t.amount
        else:
            refunded += t.amount
            assert refunded <= charged, f"refunded beyond the charges: {what}"
    assert opened == payment.authorized, what
    return opened, charged, refunded


@dataclass
class Books:
    payments: list[Payment]
    orders: dict[str, Order | None]
    """By cart."""
    cards: dict[str, Card]

    def gift(self, cart_id: str) -> list[Payment]:
        return [p for p in self.payments if p.cart_id == cart_id and p.is_gift_card]

    def payment(self, payment_id: str) -> Payment:
        return next(p for p in self.payments if p.id == payment_id)


async def books(api: Api, issued: dict[str, int], carts: Sequence[str]) -> Books:
    """The carts' payments and orders and the cards (issued with these balances), checked: the
    ledger's audit is clean; each card holds exactly what its payments have open and has lost
    exactly what they charged and did not refund; an order out of Processing has nothing
    authorized open, and a cancelled one nothing left charged."""

    async def read(conn: Any) -> tuple[Books, list[str]]:
        work = api.runtime.work(conn, actor=None)
        payments = [p for cart in carts for p in await work.payments.payments(cart)]
        orders = {cart: await work.orders.order_by_cart(cart) for cart in carts}
        store = SqlLedgerStore(conn)
        found = {c.id: c for c in await store.get_cards(list(issued))}
        return Books(payments, orders, found), await store.audit()

    found, audit = await api.runtime.db.read(read)
    assert audit == []
    moved = {p.id: replayed(p) for p in found.payments if p.is_gift_card}
    for card_id, balance in issued.items():
        on_card = [p for p in found.payments if p.card_ref == card_id]
        opened = sum(moved[p.id][0] for p in on_card)
        kept = sum(moved[p.id][1] - moved[p.id][2] for p in on_card)
        now = found.cards[card_id]
        assert (now.posted, now.held) == (balance - kept, opened), (card_id, on_card)
    assert sum(c.held for c in found.cards.values()) == sum(p.authorized for p in found.payments)
    for cart, order in found.orders.items():
        if order is None or order.state is OrderState.PROCESSING:
            continue
        assert all(p.authorized == 0 for p in found.gift(cart)), order.state
        if order.state is OrderState.CANCELLED:
            assert all(p.refundable == 0 for p in found.gift(cart)), order.state
    return found


# --- 1. a payment's operations against its order's transition --------------------------------


@dataclass
class PlacedOrder:
    order: dict[str, Any]
    first: str
    """The payment of card A: 30.00 of the 44.90, all the card has."""
    second: str
    """The payment of card B (50.00): the 14.90 left."""
    issued: dict[str, int]


async def placed_on_two_cards(api: Api, h: dict[str, str], method: int) -> PlacedOrder:
    a, b = await card(api, h, 3000), await card(api, h, 5000)
    cart = await ready_cart(api, h, unit=4000, shipping=method)
    await add_card(api, h, cart["id"], a["code"])
    await add_card(api, h, cart["id"], b["code"])
    placed = await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    first, second = (p for p in order["payments"] if p["paymentMethod"] == "giftcard")
    assert first["amountPlanned"]["centAmount"] == 3000, order
    return PlacedOrder(order, first["id"], second["id"], {a["id"]: 3000, b["id"]: 5000})


TARGET = {
    "complete": OrderState.COMPLETED,
    "cancel": OrderState.CANCELLED,
    "reopen": OrderState.CHECKOUT,
}


@pytest.mark.parametrize(
    ("start", "move"),
    [
        ("Processing", "complete"),
        ("Processing", "cancel"),
        ("Processing", "reopen"),
        ("Completed", "cancel"),
    ],
)
async def test_payment_operations_racing_the_orders_transition(
    api: Api, db_retries: Retries, start: str, move: str
) -> None:
    """A placed order: card A captured, 10.00 of it refunded and card B's authorization
    cancelled at the moment the order is completed, cancelled or reopened (a completed one:
    refunds of both cards while it is cancelled). Each runs under the cart's lock on what the
    one before it left: whichever order they take, a transition that answered 200 is where
    the order ends, a capture that answered 200 took all of card A, and every cent is where
    the books say."""
    h = await api.headers()
    method = await shipping_method(api, h)
    for turn in range(ROUNDS):
        world = await placed_on_two_cards(api, h, method)
        order_id, cart_id = world.order["id"], world.order["cartId"]
        if start == "Completed":
            done = await api.client.post(f"/orders/{order_id}/complete", headers=h)
            assert done.status_code == 200, done.text
            ops = [
                (f"/payments/{world.first}/refund", {"amount": euros(1000)}),
                (f"/payments/{world.second}/refund", None),
                (f"/payments/{world.first}/refund", None),
            ]
        else:
            ops = [
                (f"/payments/{world.first}/capture", None),
                (f"/payments/{world.first}/refund", {"amount": euros(1000)}),
                (f"/payments/{world.second}/cancel", None),
            ]
        calls = [*ops, (f"/orders/{order_id}/{move}", None)]
        *answered, transition = await in_turn(
            [api.client.post(url, json=body, headers=h) for url, body in calls], turn
        )
        for answer in [*answered, transition]:
            if answer.status_code != 200:
                refused(answer, 409)
        found = await books(api, world.issued, [cart_id])
        order = found.orders[cart_id]
        assert order is not None
        moved = transition.status_code == 200
        assert order.state is (TARGET[move] if moved else OrderState(start))
        if start == "Processing" and answered[0].status_code == 200:
            assert found.payment(world.first).charged == 3000
    assert db_retries() == []


# --- 2. a redemption given back while its cart is placed or redeemed on -----------------------


async def redeemed_shop(api: Api) -> tuple[Shop, dict[str, Any], dict[str, Any], str]:
    """A 44.90 cart with 20.00 of card A (30.00) redeemed by the page, and card B (50.00) for
    the rest: the shop, both cards and the redemption's payment."""
    shop = await open_shop(api)
    a, b = await card(api, shop.h, 3000), await card(api, shop.h, 5000)
    redeemed = await shop.redeem(a["code"], 2000)
    assert redeemed.json()["result"] == "Success", redeemed.text
    return shop, a, b, str(redeemed.json()["paymentReference"])


def give_back(shop: Shop, payment: str, name: str) -> Awaitable[httpx.Response]:
    body: dict[str, Any] = action(name)
    if name == "reversePayment":
        body["actions"][0]["merchantReference"] = "changed mind"
    return shop.api.client.post(f"{INTENTS}/{payment}", json=body, headers=shop.h)


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
@pytest.mark.parametrize("name", ["cancelPayment", "reversePayment"])
async def test_a_redemption_given_back_while_its_cart_is_placed(
    api: Api, db_retries: Retries, capture: str, name: str
) -> None:
    """The connector gives the redemption back as the merchant places the cart, card B on it
    for the rest. Given back first, the redemption leaves the cart and card B covers all of
    it; placed first, the order keeps the payment with its money given back. The order is then
    completed, for less if need be: it takes exactly what the order still has, never the
    given-back money again (a released hold counts as lapsed, and capturing a lapsed hold
    reserves the card again)."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    refusable = capture == "immediate" and name == "cancelPayment"  # nothing is authorized
    for turn in range(ROUNDS):
        shop, a, b, payment = await redeemed_shop(api)
        issued = {a["id"]: 3000, b["id"]: 5000}
        await add_card(api, shop.h, shop.cart["id"], b["code"])
        placing = api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
        given, placed = await in_turn([give_back(shop, payment, name), placing], turn)
        assert placed.status_code == 201, placed.text
        if refusable:
            refused(given, 409)
        else:
            assert given.json() == {"outcome": "approved"}, given.text
        found = await books(api, issued, [shop.cart["id"]])
        left = not found.payment(payment).active  # given back before the cart was placed
        assert left == (placed.json()["payments"][0]["status"] == "removed")
        assert not (left and refusable)
        settle = {"settleForLess": {"reason": "a card was given back"}}
        order = placed.json()["id"]
        done = await api.client.post(f"/orders/{order}/complete", json=settle, headers=shop.h)
        assert done.status_code == 200, done.text
        await books(api, issued, [shop.cart["id"]])
        taken_a = 2000 if refusable else 0
        taken_b = 4490 if left else 2490
        assert await shop.held(a) == (3000 - taken_a, 0)
        assert await shop.held(b) == (5000 - taken_b, 0)
    assert db_retries() == []


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
@pytest.mark.parametrize("again", ["other card", "same card"])
async def test_a_redemption_given_back_while_the_page_redeems_again(
    api: Api, db_retries: Retries, capture: str, again: str
) -> None:
    """``reversePayment`` of the redemption while the page redeems all that is left, from card
    B or from card A once more. The second redemption takes only what the cart still needs
    when it runs (all of it once the first was given back), card A is on the cart at most
    once, and the cart's cards never cover more than its total."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    for turn in range(ROUNDS):
        shop, a, b, payment = await redeemed_shop(api)
        code = b["code"] if again == "other card" else a["code"]
        calls = [give_back(shop, payment, "reversePayment"), shop.redeem(code, 4490)]
        given, redeemed = await in_turn(calls, turn)
        assert given.json() == {"outcome": "approved"}, given.text
        found = await books(api, {a["id"]: 3000, b["id"]: 5000}, [shop.cart["id"]])
        first = found.payment(payment)
        assert not first.active
        later = [p for p in found.gift(shop.cart["id"]) if p.id != payment and p.active]
        if redeemed.status_code == 200 and redeemed.json()["result"] == "Success":
            (second,) = later
            ran_first = second.id < first.transactions[-1].id  # ids grow as they are made
            wanted = 2490 if ran_first else (4490 if again == "other card" else 3000)
            assert (second.amount_planned, second.brings) == (wanted, wanted), ran_first
        else:  # the card is on the cart while its first redemption holds money
            assert again == "same card"
            refused(redeemed, 400)
            assert later == []
        cart = await shop.current()
        covered = sum(p.amount_planned for p in later)
        assert cart["totals"]["remaining"]["centAmount"] == 4490 - covered
    assert db_retries() == []


# --- 3. two Glue checkouts reaching for the same cards ---------------------------------------


def glue_checkout(cart_id: str, shipping: int, codes: Sequence[str] | None) -> dict[str, Any]:
    """Glue's ``/checkout`` paying with gift cards: those on the cart, or ``codes`` sent in
    the document."""
    document = checkout_document("checkout", cart_id, shipping, "giftcard")
    if codes is not None:
        attributes = document["data"]["attributes"]
        entry = attributes["payments"][0]
        attributes["payments"] = [{**entry, "giftCard": {"code": code}} for code in codes]
    return document


@pytest.mark.parametrize("cards", ["on the carts", "in the documents"])
async def test_two_glue_checkouts_share_cards_enough_for_one(
    api: Api, db_retries: Retries, cards: str
) -> None:
    """Two 44.90 carts pay with cards A and B of 30.00 each, the first A then B, the second B
    then A (added to the carts before, or sent in the documents): there is money for one
    order. Both check out through Glue at once: one places, the other is refused (422, Glue's
    status for a conflict) with nothing reserved and its cart still open. Placing reserves
    the cards in card order, so neither waits for the other in a cycle."""
    h = await api.headers()
    method = await shipping_method(api, h)
    for turn in range(ROUNDS):
        a, b = await card(api, h, 3000), await card(api, h, 3000)
        carts = [(await new_cart(api, h, unit=4000))["id"] for _ in range(2)]
        documents = []
        orders = ([a["code"], b["code"]], [b["code"], a["code"]])
        for cart_id, codes in zip(carts, orders, strict=True):
            if cards == "on the carts":
                for code in codes:
                    await add_card(api, h, cart_id, code)
            sent = codes if cards == "in the documents" else None
            documents.append(glue_checkout(cart_id, method, sent))
        answers = await in_turn(
            [api.client.post("/checkout", json=d, headers=h) for d in documents], turn
        )
        assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
        loser = carts[[r.status_code for r in answers].index(422)]
        found = await books(api, {a["id"]: 3000, b["id"]: 3000}, carts)
        assert found.orders[loser] is None
        assert all(p.transactions == () for p in found.gift(loser)), found.gift(loser)
        assert sum(c.held for c in found.cards.values()) == 4490  # the winner's, no more
        still_open = await api.client.get(f"/carts/{loser}", headers=h)
        assert still_open.json()["locked"] is False, still_open.text
    assert db_retries() == []


# --- 4. the hold sweep, and placing, against reservations that lapsed ------------------------


@dataclass
class Mark:
    """A request a test watches, by its role."""

    role: str
    tripped: set[asyncio.Event] = field(default_factory=set)
    """The tripwires it has passed: each trips once."""


MARK: contextvars.ContextVar[Mark | None] = contextvars.ContextVar("mark", default=None)


async def marked(role: str, call: Awaitable[T], *ends: asyncio.Event) -> T:
    """``call`` as the request of ``role``; ``ends`` are set when it ends, however it ends, so
    that nothing waits for a call it never made."""
    MARK.set(Mark(role))
    try:
        return await call
    finally:
        for event in ends:
            event.set()


async def once(event: asyncio.Event, call: Awaitable[T]) -> T:
    await event.wait()
    return await call


Arm = Callable[..., asyncio.Event]


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Arm:
    """``arm(name, role, then=None, event=None)``: an event (``event``, or a new one) set once
    the request of ``role`` returned from its first call of the ledger store's ``name`` (the
    row it wrote locked until it ends); with ``then``, that request waits there until
    ``then`` is set."""

    def arm(
        name: str,
        role: str,
        then: asyncio.Event | None = None,
        event: asyncio.Event | None = None,
    ) -> asyncio.Event:
        tripped = event or asyncio.Event()
        original = getattr(SqlLedgerStore, name)

        async def watched(self: SqlLedgerStore, *args: Any, **kwargs: Any) -> Any:
            result = await original(self, *args, **kwargs)
            mark = MARK.get()
            if mark is not None and mark.role == role and tripped not in mark.tripped:
                mark.tripped.add(tripped)
                tripped.set()
                if then is not None:
                    await then.wait()
            return result

        monkeypatch.setattr(SqlLedgerStore, name, watched)
        return tripped

    return arm


async def sweep(api: Api) -> int:
    """One pass of the hold sweep, as the app's background loop runs it."""
    runtime = api.runtime
    return await runtime.db.transaction(
        lambda c: runtime.ledger.sweep_expired_holds(runtime.work(c, actor=None).ledger)
    )


async def overdue(api: Api) -> int:
    """Active holds past their time: what a sweep now would expire."""
    query = select(func.count()).where(
        holds.c.status == "active", holds.c.expires_at <= api.clock.now()
    )
    return int(await api.runtime.db.read(lambda conn: conn.scalar(query)))


async def lapsing_redemptions(api: Api) -> tuple[Shop, Shop, dict[str, int]]:
    """``crosswise_redemptions`` whose reservations last ``WINDOW``."""
    api.runtime.redemptions.payment_window = WINDOW
    api.runtime.orders.payment_window = WINDOW
    first, second, a, b = await crosswise_redemptions(api)
    return first, second, {a["id"]: 10_000, b["id"]: 10_000}


def lapse(api: Api) -> None:
    api.clock.advance(seconds=WINDOW.total_seconds() + 60)


async def place(shop: Shop) -> httpx.Response:
    return await shop.api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)


@pytest.mark.parametrize("first", ["sweep", "request"])
@pytest.mark.parametrize("request_", ["complete", "place"])
async def test_the_sweep_racing_what_it_expires(
    api: Api, db_retries: Retries, tripwire: Arm, first: str, request_: str
) -> None:
    """The first cart's reservations lapsed (and the second cart's, on the same cards) when
    its order is completed, or the cart placed, as the sweep expires them. Completing takes
    each card's money again to capture it, placing reserves the redemptions again; the sweep
    gives lapsed money back. The request starts once the sweep has locked the overdue holds
    (and their cards), or the sweep once the request has taken its first card (the sweep
    then waits for the card: it holds no hold while it waits, so the request, wanting the
    holds of its cards, goes on). The request succeeds, the money is taken once, and neither
    waits for the other in a cycle."""
    for _ in range(2):
        one, two, issued = await lapsing_redemptions(api)
        request = place(one)
        if request_ == "complete":
            placed = await request
            assert placed.status_code == 201, placed.text
            url = f"/orders/{placed.json()['id']}/complete"
            request = api.client.post(url, headers=one.h)
        lapse(api)
        due = await overdue(api)
        locked = tripwire("lock_overdue_holds", "sweep")
        if first == "sweep":
            swept, answer = await asyncio.gather(
                marked("sweep", sweep(api), locked), once(locked, request)
            )
        else:
            took = tripwire("move_balance", "request")
            answer, swept = await asyncio.gather(
                marked("request", request, took),
                once(took, marked("sweep", sweep(api), locked)),
            )
        assert answer.status_code == (200 if request_ == "complete" else 201), answer.text
        # Every overdue hold (earlier rounds' too) when the sweep goes first; else not those
        # the request ended itself.
        assert swept == due if first == "sweep" else 0 < swept < due, (swept, due)
        placed_too = await place(two)  # its lapsed redemptions are reserved again
        assert placed_too.status_code == 201, placed_too.text
        found = await books(api, issued, [one.cart["id"], two.cart["id"]])
        a, b = (found.cards[c] for c in issued)
        if request_ == "place":
            assert [(a.posted, a.held), (b.posted, b.held)] == [(10_000, 4490)] * 2
        else:  # the first order took 30.00 of A and 14.90 of B; the second holds the rest
            assert [(a.posted, a.held), (b.posted, b.held)] == [(7000, 1490), (8510, 3000)]
    assert db_retries() == []


async def placed_together(
    api: Api, tripwire: Arm, one: Shop, two: Shop, turn: int, pause_at_most: float | None = None
) -> None:
    """Both carts placed at once, each placed. On PostgreSQL each pauses once it has ended its
    first lapsed hold until the other has ended one too (``pause_at_most`` seconds at most:
    a placing that takes its cards first may keep the other from getting there)."""
    rows_locked = not api.runtime.db.is_sqlite
    ended_one, ended_two = asyncio.Event(), asyncio.Event()
    if rows_locked and pause_at_most is not None:
        loop = asyncio.get_running_loop()
        loop.call_later(pause_at_most, ended_one.set)
        loop.call_later(pause_at_most, ended_two.set)
    tripwire("end_hold", "one", ended_two if rows_locked else None, ended_one)
    tripwire("end_hold", "two", ended_one if rows_locked else None, ended_two)
    ends = (ended_one, ended_two)
    answers = await in_turn(
        [marked("one", place(one), *ends), marked("two", place(two), *ends)], turn
    )
    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]


async def test_two_carts_placed_at_once_after_their_redemptions_lapsed(
    api: Api, db_retries: Retries, tripwire: Arm
) -> None:
    """Both carts' redemptions lapsed, the first cart's taken from A then B, the second's from
    B then A, and both carts are placed at once. Placing ends each lapsed redemption (its
    money back on the card) and reserves the cards again, both in card order: in any other,
    two placings sharing cards wait on each other in a cycle. On PostgreSQL each goes on once
    both have ended their first lapsed hold (each its own row: neither waits for the other
    there), so that both then take the card of that hold at once."""
    for turn in range(2):
        one, two, issued = await lapsing_redemptions(api)
        lapse(api)
        await placed_together(api, tripwire, one, two, turn)
        found = await books(api, issued, [one.cart["id"], two.cart["id"]])
        assert [(c.posted, c.held) for c in found.cards.values()] == [(10_000, 4490)] * 2
        for shop in (one, two):
            for payment in found.gift(shop.cart["id"]):  # ended once, reserved once again
                kinds = [(t.type.value, t.error_code) for t in payment.transactions]
                assert kinds == [
                    ("Authorization", None),
                    ("CancelAuthorization", "ReservationExpired"),
                    ("Authorization", None),
                ], kinds
    assert db_retries() == []


async def test_two_carts_placed_at_once_each_ending_a_lapsed_redemption_on_the_others_card(
    api: Api, db_retries: Retries, tripwire: Arm
) -> None:
    """Each cart redeemed one card and took the other through the cart API: the first
    redeemed the card that sorts last and added the one that sorts first, the second the
    other way round. Both redemptions lapsed and both carts are placed at once. Placing ends
    the lapsed redemption, which takes its card, and then reserves the cart's cards: had it
    taken the lapsed redemption's card first, each placing would hold one card and wait for
    the other's, until PostgreSQL failed one. On PostgreSQL each pauses once it has ended its
    hold until the other has ended its own, or for a second: taking every card first, in
    order, the second cannot get there before the first ends."""
    api.runtime.redemptions.payment_window = WINDOW
    api.runtime.orders.payment_window = WINDOW
    for turn in range(2):
        one, two = await open_shop(api), await open_shop(api)
        issued = [await card(api, one.h, 10_000) for _ in range(2)]
        first, last = sorted(issued, key=lambda c: str(c["id"]))
        for shop, redeemed, added in ((one, last, first), (two, first, last)):
            answer = await shop.redeem(redeemed["code"], 3000)
            assert answer.json()["result"] == "Success", answer.text
            await add_card(api, shop.h, shop.cart["id"], added["code"])
        lapse(api)
        await placed_together(api, tripwire, one, two, turn, pause_at_most=1.0)
        found = await books(
            api, {c["id"]: 10_000 for c in issued}, [one.cart["id"], two.cart["id"]]
        )
        assert [(c.posted, c.held) for c in found.cards.values()] == [(10_000, 4490)] * 2
    assert db_retries() == []
