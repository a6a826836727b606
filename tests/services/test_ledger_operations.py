"""Every ledger operation and every way it can refuse, on SQLite and PostgreSQL. A refused
operation must change nothing: balances, holds and history stay as they were."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, cards
from tender.db.pin_attempts import SqlPinAttempts
from tender.domain.codes import luhn_valid, normalise_code
from tender.domain.errors import (
    BalanceLimitExceeded,
    CardDisabled,
    CardExpired,
    CardNotFound,
    CardStatusUnchanged,
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidCredentials,
    InvalidInput,
    RefundExceedsCapture,
)
from tender.domain.ledger import ActivityType, BalanceState, CardStatus, HoldStatus
from tender.domain.money import MAX_MINOR, Money
from tender.services.ledger import ADJUST, LOAD, Ledger
from tests.conftest import POSTGRESQL_ONLY, FakeClock, Retries
from tests.helpers import audit, card, history, issue_card, reserve

EUR = "EUR"


async def tx(db: Database, work: Any) -> Any:
    return await db.transaction(lambda c: work(SqlLedgerStore(c)))


async def checked(db: Database, work: Any) -> Any:
    """``work`` with the store and the PIN attempts of one transaction."""
    return await db.transaction(lambda c: work(SqlLedgerStore(c), SqlPinAttempts(db, c)))


async def unchanged(db: Database, ledger: Ledger, card_id: str, attempt: Any, error: type) -> None:
    """``attempt`` raises ``error`` and leaves the card, its history and the books as they were."""
    before = await card(db, ledger, card_id)
    steps = await history(db, ledger, card_id)
    with pytest.raises(error):
        await tx(db, attempt)
    after = await card(db, ledger, card_id)
    assert (after.posted, after.held, after.version, after.status) == (
        before.posted,
        before.held,
        before.version,
        before.status,
    )
    assert await history(db, ledger, card_id) == steps
    assert await audit(db) == []


# --- issue -------------------------------------------------------------------------------


async def test_issue_single_card_shows_code_once(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    code = normalise_code(issued.code)
    assert len(code) == 16
    assert luhn_valid(code)
    assert issued.code.count(" ") == 3
    assert issued.pin is None
    assert issued.card.code_last4 == code[-4:]
    assert await history(db, ledger, issued.card.id) == [ActivityType.ISSUE]
    assert await audit(db) == []


async def test_codes_are_never_stored_in_clear(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, with_pin=True)
    code = normalise_code(issued.code)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(cards))).one()._mapping
    stored = " ".join(str(v) for v in row.values())
    assert code not in stored
    assert issued.pin is not None
    assert issued.pin not in stored.replace(issued.card.id, "")
    assert row["code_hash"] != code.encode()


async def test_issue_batch_with_pins_and_expiry(
    db: Database, ledger: Ledger, clock: FakeClock
) -> None:
    expires = clock.now() + timedelta(days=365)
    issued = await tx(
        db,
        lambda s: ledger.issue(
            s,
            amount=Money(2500, EUR),
            count=50,
            with_pin=True,
            expires_at=expires,
            metadata={"campaign": "winter"},
        ),
    )
    assert len(issued) == 50
    assert len({i.code for i in issued}) == 50
    assert all(i.pin and len(i.pin) == 6 for i in issued)
    assert all(i.card.expires_at == expires for i in issued)
    stored = await card(db, ledger, issued[7].card.id)
    assert stored.pin_required
    assert stored.metadata == {"campaign": "winter"}
    assert stored.posted == 2500
    assert await audit(db) == []


async def test_issue_with_chosen_pin_and_zero_balance(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=0, pin="4321")
    assert issued.pin == "4321"
    result = await checked(db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="4321"))
    assert result.state is BalanceState.ZERO_BALANCE
    assert await audit(db) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"count": 0}, InvalidInput),
        ({"count": 100_001}, InvalidInput),
        ({"count": 2, "pin": "1234"}, InvalidInput),
        ({"pin": "12"}, InvalidInput),
        ({"expires_at": "past"}, InvalidInput),
    ],
)
async def test_issue_refusals_write_nothing(
    db: Database, ledger: Ledger, clock: FakeClock, kwargs: dict[str, Any], error: type
) -> None:
    if kwargs.get("expires_at") == "past":
        kwargs["expires_at"] = clock.now() - timedelta(seconds=1)
    with pytest.raises(error):
        await tx(db, lambda s: ledger.issue(s, amount=Money(100, EUR), **kwargs))
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM cards"))).scalar() == 0


# --- balance and credentials ---------------------------------------------------------------


async def test_balance_states(db: Database, ledger: Ledger, clock: FakeClock) -> None:
    valid = await issue_card(db, ledger, minor=1234)
    result = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=valid.code.lower(), pin=None)
    )
    assert result.state is BalanceState.VALID
    assert result.amount == Money(1234, EUR)
    dashed = valid.code.replace(" ", "-")
    assert (
        await checked(db, lambda s, p: ledger.balance(s, pins=p, code=dashed, pin=None))
    ).state is (BalanceState.VALID)
    other = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=valid.code, pin=None, currency="USD")
    )
    assert other.state is BalanceState.CURRENCY_NOT_MATCH

    expiring = await issue_card(db, ledger, expires_at=clock.now() + timedelta(hours=1))
    clock.advance(hours=2)
    expired = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=expiring.code, pin=None)
    )
    assert expired.state is BalanceState.EXPIRED

    disabled = await issue_card(db, ledger)
    await tx(
        db, lambda s: ledger.set_status(s, card_id=disabled.card.id, status=CardStatus.DISABLED)
    )
    generic = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=disabled.code, pin=None)
    )
    assert generic.state is BalanceState.GENERIC_ERROR
    assert generic.errors[0].code == "GiftCardDisabled"


async def test_unknown_code_wrong_pin_and_missing_pin_look_the_same(
    db: Database, ledger: Ledger
) -> None:
    issued = await issue_card(db, ledger, pin="123456")
    unknown = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code="4111 1111 1111 1111", pin="1")
    )
    wrong = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="654321")
    )
    missing = await checked(db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin=None))
    garbage = await checked(db, lambda s, p: ledger.balance(s, pins=p, code="!!", pin=None))
    assert unknown == wrong == missing == garbage
    assert unknown.state is BalanceState.NOT_FOUND
    right = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="123456")
    )
    assert right.state is BalanceState.VALID


async def test_five_wrong_pins_lock_the_card_for_fifteen_minutes(
    db: Database, ledger: Ledger, clock: FakeClock
) -> None:
    issued = await issue_card(db, ledger, pin="123456")
    for _ in range(4):
        await checked(db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="000000"))
    assert (await card(db, ledger, issued.card.id)).failed_pin_attempts == 4
    await checked(db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="000000"))
    locked = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="123456")
    )
    assert locked.state is BalanceState.NOT_FOUND
    clock.advance(minutes=14)
    still = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="123456")
    )
    assert still.state is BalanceState.NOT_FOUND
    clock.advance(minutes=2)
    unlocked = await checked(
        db, lambda s, p: ledger.balance(s, pins=p, code=issued.code, pin="123456")
    )
    assert unlocked.state is BalanceState.VALID


async def test_right_pin_keeps_the_wrong_ones_counted_and_failures_survive_raising_calls(
    db: Database, ledger: Ledger
) -> None:
    issued = await issue_card(db, ledger, pin="123456")
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await checked(
                db, lambda s, p: ledger.authenticate(s, pins=p, code=issued.code, pin="999999")
            )
    # authenticate raised each time, yet each failure was committed and counted.
    assert (await card(db, ledger, issued.card.id)).failed_pin_attempts == 3
    await checked(db, lambda s, p: ledger.authenticate(s, pins=p, code=issued.code, pin="123456"))
    # The right PIN gave back only its own attempt: the three wrong ones still count.
    assert (await card(db, ledger, issued.card.id)).failed_pin_attempts == 3


# --- reserve -------------------------------------------------------------------------------


async def test_reserve_holds_money(db: Database, ledger: Ledger, clock: FakeClock) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 1500, reference="pay-1")
    assert hold.status is HoldStatus.ACTIVE
    assert hold.expires_at == clock.now() + timedelta(days=7)
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held, after.available) == (5000, 1500, 3500)
    assert await history(db, ledger, issued.card.id) == [ActivityType.ISSUE, ActivityType.HOLD]
    assert await audit(db) == []


async def test_reserve_refusals_change_nothing(
    db: Database, ledger: Ledger, clock: FakeClock
) -> None:
    issued = await issue_card(db, ledger, minor=1000, expires_at=clock.now() + timedelta(days=1))
    card_id = issued.card.id

    def attempt(minor: int, currency: str = EUR, **kw: Any) -> Any:
        return lambda s: ledger.reserve(s, card_id=card_id, amount=Money(minor, currency), **kw)

    await unchanged(db, ledger, card_id, attempt(1001), InsufficientFunds)
    await unchanged(db, ledger, card_id, attempt(100, "USD"), CurrencyMismatch)
    await unchanged(db, ledger, card_id, attempt(0), InvalidAmount)
    await unchanged(db, ledger, card_id, attempt(-5), InvalidAmount)
    await unchanged(db, ledger, card_id, attempt(MAX_MINOR + 1), InvalidAmount)
    await unchanged(db, ledger, card_id, attempt(1, expires_in=timedelta(0)), InvalidInput)
    await unchanged(db, ledger, card_id, attempt(1, expires_in=timedelta(days=400)), InvalidInput)
    with pytest.raises(CardNotFound):
        await tx(
            db,
            lambda s: ledger.reserve(
                s, card_id="00000000-0000-7000-8000-000000000000", amount=Money(1, EUR)
            ),
        )
    await tx(db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.DISABLED))
    await unchanged(db, ledger, card_id, attempt(1), CardDisabled)
    await tx(db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.ACTIVE))
    clock.advance(days=2)
    await unchanged(db, ledger, card_id, attempt(1), CardExpired)


# --- capture and release -------------------------------------------------------------------


async def test_full_capture_moves_money_to_redeemed(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 2000, reference="pay-1")
    captured = await tx(db, lambda s: ledger.capture(s, hold_id=hold.id))
    assert captured.status is HoldStatus.CAPTURED
    assert captured.captured_amount == 2000
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held) == (3000, 0)
    assert await history(db, ledger, issued.card.id) == [
        ActivityType.ISSUE,
        ActivityType.HOLD,
        ActivityType.CAPTURE,
    ]
    assert await audit(db) == []


async def test_partial_capture_releases_the_rest(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 2000)
    await tx(db, lambda s: ledger.capture(s, hold_id=hold.id, amount=Money(1200, EUR)))
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held, after.available) == (3800, 0, 3800)
    assert await history(db, ledger, issued.card.id) == [
        ActivityType.ISSUE,
        ActivityType.HOLD,
        ActivityType.CAPTURE,
        ActivityType.RELEASE,
    ]
    assert await audit(db) == []


async def test_capture_refusals(db: Database, ledger: Ledger, clock: FakeClock) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    card_id = issued.card.id
    hold = await reserve(db, ledger, card_id, 2000, expires_in=timedelta(hours=1))
    await unchanged(
        db,
        ledger,
        card_id,
        lambda s: ledger.capture(s, hold_id=hold.id, amount=Money(2001, EUR)),
        InvalidAmount,
    )
    await unchanged(
        db,
        ledger,
        card_id,
        lambda s: ledger.capture(s, hold_id=hold.id, amount=Money(100, "USD")),
        CurrencyMismatch,
    )
    with pytest.raises(HoldNotFound):
        await tx(db, lambda s: ledger.capture(s, hold_id="00000000-0000-7000-8000-000000000000"))
    await tx(db, lambda s: ledger.capture(s, hold_id=hold.id))
    await unchanged(
        db, ledger, card_id, lambda s: ledger.capture(s, hold_id=hold.id), HoldNotActive
    )
    await unchanged(
        db, ledger, card_id, lambda s: ledger.release(s, hold_id=hold.id), HoldNotActive
    )
    late = await reserve(db, ledger, card_id, 100, expires_in=timedelta(minutes=5))
    clock.advance(minutes=6)
    await unchanged(
        db, ledger, card_id, lambda s: ledger.capture(s, hold_id=late.id), HoldNotActive
    )


async def test_release_and_release_twice(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 2000)
    released = await tx(db, lambda s: ledger.release(s, hold_id=hold.id))
    assert released.status is HoldStatus.RELEASED
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held) == (5000, 0)
    await unchanged(
        db, ledger, issued.card.id, lambda s: ledger.release(s, hold_id=hold.id), HoldNotActive
    )
    with pytest.raises(HoldNotFound):
        await tx(db, lambda s: ledger.release(s, hold_id="nope"))


async def test_sweep_expires_only_overdue_holds(
    db: Database, ledger: Ledger, clock: FakeClock
) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    short = await reserve(db, ledger, issued.card.id, 1000, expires_in=timedelta(minutes=10))
    long = await reserve(db, ledger, issued.card.id, 500, expires_in=timedelta(hours=10))
    clock.advance(minutes=11)
    assert await tx(db, lambda s: ledger.sweep_expired_holds(s)) == 1
    assert await tx(db, lambda s: ledger.sweep_expired_holds(s)) == 0
    holds = await db.read(lambda c: ledger.holds(SqlLedgerStore(c), card_id=issued.card.id))
    states = {h.id: h.status for h in holds}
    assert states == {short.id: HoldStatus.EXPIRED, long.id: HoldStatus.ACTIVE}
    after = await card(db, ledger, issued.card.id)
    assert (after.posted, after.held) == (5000, 500)
    assert (await history(db, ledger, issued.card.id))[-1] is ActivityType.EXPIRE
    assert await audit(db) == []


async def test_two_concurrent_sweeps_expire_each_hold_once(
    db: Database, ledger: Ledger, clock: FakeClock
) -> None:
    import asyncio

    issued = await issue_card(db, ledger, minor=100_000)
    for _ in range(20):
        await reserve(db, ledger, issued.card.id, 100, expires_in=timedelta(minutes=1))
    clock.advance(minutes=2)
    counts = await asyncio.gather(
        tx(db, lambda s: ledger.sweep_expired_holds(s, limit=7)),
        tx(db, lambda s: ledger.sweep_expired_holds(s, limit=7)),
        tx(db, lambda s: ledger.sweep_expired_holds(s, limit=7)),
    )
    drained = 0
    while swept := await tx(db, lambda s: ledger.sweep_expired_holds(s, limit=7)):
        drained += swept
    history_types = await history(db, ledger, issued.card.id)
    assert history_types.count(ActivityType.EXPIRE) == 20
    assert sum(counts) + drained == 20  # each sweep says what it expired, none counted twice
    assert (await card(db, ledger, issued.card.id)).held == 0
    assert await audit(db) == []


@POSTGRESQL_ONLY  # SQLite's one writer: a request holding a card holds the whole database
async def test_the_sweep_and_a_request_giving_an_overdue_hold_back_never_deadlock(
    db: Database, ledger: Ledger, clock: FakeClock, db_retries: Retries
) -> None:
    """A request that holds a card (completing an order) may next want an overdue hold of that
    card, to give it back itself. The sweep used to lock its overdue holds first and their
    cards after: it held that hold and waited for the card, the request held the card and
    waited for the hold, until PostgreSQL failed one of them. It now locks the cards first,
    and the holds without waiting."""
    busy = await issue_card(db, ledger, minor=1000)
    idle = await issue_card(db, ledger, minor=1000)
    held = await reserve(db, ledger, busy.card.id, 300, expires_in=timedelta(minutes=1))
    await reserve(db, ledger, idle.card.id, 400, expires_in=timedelta(minutes=1))
    clock.advance(minutes=2)
    locked = asyncio.Event()

    async def request(conn: Any) -> None:
        await conn.execute(
            text("SELECT id FROM cards WHERE id = :id FOR UPDATE"), {"id": busy.card.id}
        )
        locked.set()
        await asyncio.sleep(0.3)  # the sweep has started and waits for the card
        await ledger.release(SqlLedgerStore(conn), hold_id=held.id)

    async def sweep() -> int:
        await locked.wait()
        return await tx(db, lambda s: ledger.sweep_expired_holds(s))  # type: ignore[no-any-return]

    _, expired = await asyncio.gather(db.transaction(request), sweep())
    assert db_retries() == []
    assert expired == 1  # the idle card's; the request gave the other back
    assert (await card(db, ledger, idle.card.id)).held == 0
    assert (await card(db, ledger, busy.card.id)).held == 0
    assert await tx(db, lambda s: ledger.sweep_expired_holds(s)) == 0
    assert await audit(db) == []


# --- refund, load, adjust, status ----------------------------------------------------------


async def test_refunds_never_exceed_what_was_captured(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=5000)
    card_id = issued.card.id
    hold = await reserve(db, ledger, card_id, 3000, reference="order-1")
    await tx(db, lambda s: ledger.capture(s, hold_id=hold.id))

    def refund(minor: int, reference: str = "order-1", currency: str = EUR) -> Any:
        return lambda s: ledger.refund(
            s, card_id=card_id, amount=Money(minor, currency), reference=reference
        )

    await tx(db, refund(1000))
    await tx(db, refund(1500))
    assert (await card(db, ledger, card_id)).posted == 4500
    await unchanged(db, ledger, card_id, refund(501), RefundExceedsCapture)
    await unchanged(db, ledger, card_id, refund(1, reference="order-2"), RefundExceedsCapture)
    await unchanged(db, ledger, card_id, refund(10, currency="USD"), CurrencyMismatch)
    await tx(db, refund(500))
    await unchanged(db, ledger, card_id, refund(1), RefundExceedsCapture)
    assert (await card(db, ledger, card_id)).posted == 5000


async def test_load(db: Database, ledger: Ledger, clock: FakeClock) -> None:
    issued = await issue_card(db, ledger, minor=100, expires_at=clock.now() + timedelta(days=1))
    card_id = issued.card.id
    loaded = await tx(db, lambda s: ledger.post(s, LOAD, card_id=card_id, amount=Money(900, EUR)))
    assert loaded.posted == 1000

    def load(minor: int, currency: str = EUR) -> Any:
        return lambda s: ledger.post(s, LOAD, card_id=card_id, amount=Money(minor, currency))

    await unchanged(db, ledger, card_id, load(MAX_MINOR), BalanceLimitExceeded)
    await unchanged(db, ledger, card_id, load(5, "JPY"), CurrencyMismatch)
    await unchanged(db, ledger, card_id, load(0), InvalidAmount)
    await tx(db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.DISABLED))
    await unchanged(db, ledger, card_id, load(5), CardDisabled)
    await tx(db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.ACTIVE))
    clock.advance(days=2)
    await unchanged(db, ledger, card_id, load(5), CardExpired)
    assert await audit(db) == []


async def test_a_load_racing_a_disable_never_lands_on_the_disabled_card(
    db: Database, ledger: Ledger
) -> None:
    """A load checks that the card is active before its move locks the card: a disable that
    commits in between (the load waiting for its lock) must still stop it. On PostgreSQL the
    load's read sees the card active and its ``UPDATE`` waits for the disable; on SQLite the
    load waits for the writer's turn and reads the disabled card."""
    issued = await issue_card(db, ledger, minor=1000)
    card_id = issued.card.id
    disabled = asyncio.Event()

    async def disable(store_conn: Any) -> None:
        store = SqlLedgerStore(store_conn)
        await ledger.set_status(store, card_id=card_id, status=CardStatus.DISABLED)
        disabled.set()
        await asyncio.sleep(0.3)  # the load has read the card and waits for its row

    async def load() -> Any:
        await disabled.wait()
        return await tx(db, lambda s: ledger.post(s, LOAD, card_id=card_id, amount=Money(500, EUR)))

    outcomes = await asyncio.gather(db.transaction(disable), load(), return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], CardDisabled), outcomes[1]
    found = await tx(db, lambda s: ledger.get(s, card_id=card_id))
    assert (found.status, found.posted) == (CardStatus.DISABLED, 1000)
    assert await audit(db) == []


async def test_adjust_cannot_dig_into_held_money(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=1000)
    card_id = issued.card.id
    await reserve(db, ledger, card_id, 600)

    def adjust(minor: int) -> Any:
        return lambda s: ledger.post(
            s, ADJUST, card_id=card_id, amount=Money(minor, EUR), reference="fix"
        )

    assert (await tx(db, adjust(-400))).posted == 600
    await unchanged(db, ledger, card_id, adjust(-1), InsufficientFunds)
    await unchanged(db, ledger, card_id, adjust(0), InvalidAmount)
    assert (await tx(db, adjust(250))).posted == 850
    assert await audit(db) == []


async def test_disable_enable_state_machine(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger)
    card_id = issued.card.id
    disabled = await tx(
        db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.DISABLED)
    )
    assert disabled.status is CardStatus.DISABLED
    await unchanged(
        db,
        ledger,
        card_id,
        lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.DISABLED),
        CardStatusUnchanged,
    )
    enabled = await tx(
        db, lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.ACTIVE)
    )
    assert enabled.status is CardStatus.ACTIVE
    await unchanged(
        db,
        ledger,
        card_id,
        lambda s: ledger.set_status(s, card_id=card_id, status=CardStatus.ACTIVE),
        CardStatusUnchanged,
    )
    with pytest.raises(CardNotFound):
        await tx(db, lambda s: ledger.set_status(s, card_id="missing", status=CardStatus.DISABLED))
    assert await history(db, ledger, card_id) == [
        ActivityType.ISSUE,
        ActivityType.DISABLE,
        ActivityType.ENABLE,
    ]


async def test_history_and_listing_paginate(db: Database, ledger: Ledger) -> None:
    issued = await issue_card(db, ledger, minor=10_000)
    for _ in range(5):
        await tx(db, lambda s: ledger.post(s, LOAD, card_id=issued.card.id, amount=Money(1, EUR)))
    first = await db.read(
        lambda c: ledger.history(SqlLedgerStore(c), card_id=issued.card.id, limit=4)
    )
    assert len(first.items) == 4
    assert first.next_cursor is not None
    rest = await db.read(
        lambda c: ledger.history(
            SqlLedgerStore(c), card_id=issued.card.id, after=int(first.next_cursor or 0), limit=4
        )
    )
    assert len(rest.items) == 2
    assert rest.next_cursor is None
    with pytest.raises(CardNotFound):
        await db.read(lambda c: ledger.history(SqlLedgerStore(c), card_id="missing"))

    await tx(db, lambda s: ledger.issue(s, amount=Money(100, "JPY"), count=3))
    other = await issue_card(db, ledger)
    await tx(db, lambda s: ledger.set_status(s, card_id=other.card.id, status=CardStatus.DISABLED))
    jpy = await db.read(lambda c: ledger.list_cards(SqlLedgerStore(c), currency="JPY"))
    assert len(jpy.items) == 3
    disabled = await db.read(
        lambda c: ledger.list_cards(SqlLedgerStore(c), status=CardStatus.DISABLED)
    )
    assert [c.id for c in disabled.items] == [other.card.id]
    page = await db.read(lambda c: ledger.list_cards(SqlLedgerStore(c), limit=2))
    assert len(page.items) == 2
    following = await db.read(
        lambda c: ledger.list_cards(SqlLedgerStore(c), after=page.next_cursor, limit=10)
    )
    assert len(following.items) == 3
    assert not {c.id for c in page.items} & {c.id for c in following.items}


async def test_a_capture_in_another_currency_is_refused_by_the_write_itself(
    db: Database, ledger: Ledger
) -> None:
    """The refusal comes from the conditional write, not from a check after it: a caller that
    catches it and goes on within its transaction still finds the reservation untouched."""
    issued = await issue_card(db, ledger, minor=5000)
    hold = await reserve(db, ledger, issued.card.id, 2000, expires_in=timedelta(hours=1))

    async def attempt(store: Any) -> Any:
        with pytest.raises(CurrencyMismatch):
            await ledger.capture(store, hold_id=hold.id, amount=Money(100, "USD"))
        return await store.get_hold(hold.id)

    seen = await tx(db, attempt)
    assert (seen.status, seen.captured_amount) == (HoldStatus.ACTIVE, hold.captured_amount)
