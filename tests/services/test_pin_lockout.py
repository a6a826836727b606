"""The PIN rules one call at a time, on SQLite and PostgreSQL: an attempt is counted before its
PIN is compared, a right PIN gives back only its own attempt, a full window refuses every PIN
(the right one too) uncompared until it closes. ``test_pin_race.py`` races them."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.db.pin_attempts import UNMATCHED_PINS, SqlPinAttempts
from tender.db.rate_limit_store import limits_table
from tender.domain.errors import InvalidCredentials
from tender.domain.ledger import ActivityType
from tender.domain.money import Money
from tender.domain.policy import LedgerPolicy
from tender.services.ledger import LOAD, Ledger
from tests.conftest import TEST_KEY, FakeClock
from tests.helpers import (
    CountingHasher,
    audit,
    authenticated,
    card,
    history,
    issue_card,
    pin_state,
)

RIGHT = "123456"
WRONG = "000000"


@pytest.fixture
def counting() -> CountingHasher:
    return CountingHasher(TEST_KEY)


@pytest.fixture
def pin_ledger(counting: CountingHasher, clock: FakeClock) -> Ledger:
    return Ledger(counting, policy=LedgerPolicy(), clock=clock)


async def test_the_right_pin_after_four_wrong_ones_passes_and_leaves_them_counted(
    db: Database, pin_ledger: Ledger, counting: CountingHasher, clock: FakeClock
) -> None:
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    code, card_id = issued.code, issued.card.id
    assert [await authenticated(db, pin_ledger, code, WRONG) for _ in range(4)] == [False] * 4
    # The owner may use the card as often as they like: each success gives its attempt back.
    assert [await authenticated(db, pin_ledger, code, RIGHT) for _ in range(10)] == [True] * 10
    attempts, ends = await pin_state(db, card_id)
    assert attempts == 4
    assert ends == clock.now() + LedgerPolicy().pin_lockout
    # One more wrong PIN fills the window; from then on nothing is compared.
    assert not await authenticated(db, pin_ledger, code, WRONG)
    assert counting.compared[card_id] == 15
    assert not await authenticated(db, pin_ledger, code, RIGHT)
    assert not await authenticated(db, pin_ledger, code, WRONG)
    assert counting.compared[card_id] == 15
    assert (await pin_state(db, card_id))[0] == 5


async def test_a_full_window_refuses_the_right_pin_until_it_closes(
    db: Database, pin_ledger: Ledger, counting: CountingHasher, clock: FakeClock
) -> None:
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    code = issued.code
    for _ in range(5):
        await authenticated(db, pin_ledger, code, WRONG)
    clock.advance(minutes=14, seconds=59)
    assert not await authenticated(db, pin_ledger, code, RIGHT)
    assert counting.compared[issued.card.id] == 5
    clock.advance(seconds=1)
    # The window has closed: a new one starts with this attempt, which is right.
    assert await authenticated(db, pin_ledger, code, RIGHT)
    assert (await pin_state(db, issued.card.id))[0] == 0


async def test_failures_are_forgotten_when_their_window_closes(
    db: Database, pin_ledger: Ledger, counting: CountingHasher, clock: FakeClock
) -> None:
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    code, card_id = issued.code, issued.card.id
    for _ in range(3):
        await authenticated(db, pin_ledger, code, WRONG)
    clock.advance(minutes=10)
    await authenticated(db, pin_ledger, code, WRONG)  # the 4th, in the same window
    clock.advance(minutes=5)
    # The window opened 15 minutes ago: this wrong PIN opens a new one, counted alone.
    assert not await authenticated(db, pin_ledger, code, WRONG)
    attempts, ends = await pin_state(db, card_id)
    assert attempts == 1
    assert ends == clock.now() + LedgerPolicy().pin_lockout
    for _ in range(4):
        await authenticated(db, pin_ledger, code, WRONG)
    assert not await authenticated(db, pin_ledger, code, RIGHT)
    assert counting.compared[card_id] == 9


async def test_a_missing_pin_and_a_card_without_pin_count_nothing(
    db: Database, pin_ledger: Ledger, counting: CountingHasher
) -> None:
    protected = await issue_card(db, pin_ledger, pin=RIGHT)
    open_card = await issue_card(db, pin_ledger)
    for pin in (None, "", "   "):
        assert not await authenticated(db, pin_ledger, protected.code, pin)
    # A card without a PIN ignores one that is sent.
    assert await authenticated(db, pin_ledger, open_card.code, WRONG)
    assert counting.compared == Counter()
    assert (await pin_state(db, protected.card.id))[0] == 0
    assert (await pin_state(db, open_card.card.id))[0] == 0


async def test_unknown_code_wrong_pin_and_locked_card_raise_the_same_error(
    db: Database, pin_ledger: Ledger
) -> None:
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    errors = []
    for code, pin in [("4111 1111 1111 1111", RIGHT), (issued.code, WRONG)]:
        with pytest.raises(InvalidCredentials) as caught:
            await db.transaction(
                lambda c, code=code, pin=pin: pin_ledger.authenticate(
                    SqlLedgerStore(c), pins=SqlPinAttempts(db, c), code=code, pin=pin
                )
            )
        errors.append((caught.value.code, caught.value.detail, caught.value.field))
    for _ in range(4):
        await authenticated(db, pin_ledger, issued.code, WRONG)
    with pytest.raises(InvalidCredentials) as locked:
        await db.transaction(
            lambda c: pin_ledger.authenticate(
                SqlLedgerStore(c), pins=SqlPinAttempts(db, c), code=issued.code, pin=RIGHT
            )
        )
    errors.append((locked.value.code, locked.value.detail, locked.value.field))
    assert len(set(errors)) == 1


async def test_a_right_pin_whose_transaction_fails_later_changes_no_count(
    db: Database, pin_ledger: Ledger
) -> None:
    """Claim and give-back are one transaction: when checkout refuses the card afterwards
    (here: any error that rolls back), the count is as it was."""
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    await authenticated(db, pin_ledger, issued.code, WRONG)

    async def then_fail(conn: Any) -> None:
        await pin_ledger.authenticate(
            SqlLedgerStore(conn), pins=SqlPinAttempts(db, conn), code=issued.code, pin=RIGHT
        )
        raise RuntimeError("checkout refused the card")

    with pytest.raises(RuntimeError):
        await db.transaction(then_fail)
    assert (await pin_state(db, issued.card.id))[0] == 1


def load_then_guess(db: Database, ledger: Ledger, load_on: str, code: str) -> Any:
    """One unit of work: money loaded on one card (queued rows and all), then a wrong PIN."""

    async def work(conn: Any) -> None:
        store = SqlLedgerStore(conn)
        await ledger.post(store, LOAD, card_id=load_on, amount=Money(500, "EUR"))
        await ledger.authenticate(store, pins=SqlPinAttempts(db, conn), code=code, pin=WRONG)

    return work


async def test_a_wrong_pin_commits_nothing_else_of_its_transaction(
    db: Database, pin_ledger: Ledger
) -> None:
    """The attempt is counted apart: the rest of the work that carried the wrong PIN, its
    queued activity and ledger entries included, is rolled back."""
    guessed = await issue_card(db, pin_ledger, pin=RIGHT)
    other = await issue_card(db, pin_ledger, minor=1000)
    with pytest.raises(InvalidCredentials):
        await db.transaction(load_then_guess(db, pin_ledger, other.card.id, guessed.code))
    assert (await pin_state(db, guessed.card.id))[0] == 1
    assert (await card(db, pin_ledger, other.card.id)).posted == 1000
    assert await history(db, pin_ledger, other.card.id) == [ActivityType.ISSUE]
    assert await audit(db) == []


async def test_a_wrong_pin_in_a_keyed_request_commits_nothing_else_of_its_unit(
    db: Database, pin_ledger: Ledger
) -> None:
    """Inside a request transaction the unit that carried the wrong PIN is undone, the units
    before it commit with the request as always, and the attempt stays counted."""
    guessed = await issue_card(db, pin_ledger, pin=RIGHT)
    other = await issue_card(db, pin_ledger, minor=1000)

    async def no_claim(_: Any) -> None:
        return None

    async with db.request_transaction(no_claim) as request:
        await db.transaction(
            lambda c: pin_ledger.post(
                SqlLedgerStore(c), LOAD, card_id=other.card.id, amount=Money(100, "EUR")
            )
        )
        with pytest.raises(InvalidCredentials):
            await db.transaction(load_then_guess(db, pin_ledger, other.card.id, guessed.code))
        await request.commit(no_claim)
    assert (await pin_state(db, guessed.card.id))[0] == 1
    assert (await card(db, pin_ledger, other.card.id)).posted == 1100
    assert await history(db, pin_ledger, other.card.id) == [
        ActivityType.ISSUE,
        ActivityType.LOAD,
    ]
    assert await audit(db) == []


async def _commits_that_wrote(db: Database, call: Any) -> int:
    """How many commits that wrote ``call`` made: on PostgreSQL, the transactions committed
    with a transaction id (each one's commit is written and waited for), seen from a listener
    on the engines as they commit (other databases of the server give out ids meanwhile); on
    SQLite, whether any commit changed the database (an observer's ``data_version``)."""
    if db.is_sqlite:
        observer = sqlite3.connect(db.url.split("///", 1)[1])
        try:
            version = "PRAGMA data_version"
            before = observer.execute(version).fetchone()
            await call()
            return int(observer.execute(version).fetchone() != before)
        finally:
            observer.close()
    wrote: list[bool] = []

    def committing(conn: Connection) -> None:
        taken = conn.exec_driver_sql("SELECT pg_current_xact_id_if_assigned()").scalar()
        wrote.append(taken is not None)

    engines = {db.engine.sync_engine, db._apart_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "commit", committing)
    try:
        await call()
    finally:
        for engine in engines:
            event.remove(engine, "commit", committing)
    return sum(wrote)


async def _unmatched_pins(db: Database) -> int:
    """The PINs compared with nothing, as the current minute's counters hold them."""
    counted = select(func.coalesce(func.sum(limits_table.c.count), 0)).where(
        limits_table.c.key.startswith(UNMATCHED_PINS)
    )
    return int(await db.read(lambda c: c.scalar(counted)))


async def test_a_pin_compared_with_nothing_costs_what_a_wrong_one_does(
    db: Database, pin_ledger: Ledger, counting: CountingHasher
) -> None:
    """A guesser timing the answers must not learn which codes are cards with a PIN: a PIN
    sent with an unknown code, or for a locked card, commits a write as a wrong PIN's attempt
    does (and counts nothing); no PIN at all commits none, either way."""
    issued = await issue_card(db, pin_ledger, pin=RIGHT)
    locked = await issue_card(db, pin_ledger, pin=RIGHT)
    for _ in range(5):
        await authenticated(db, pin_ledger, locked.code, WRONG)
    as_locked = await card(db, pin_ledger, locked.card.id)  # the row SQLite writes again
    unknown = "9999 8888 7777 6666"

    def attempt(code: str, pin: str | None) -> Any:
        return lambda: authenticated(db, pin_ledger, code, pin)

    counted_before = await _unmatched_pins(db)
    wrote = {
        "wrong PIN": await _commits_that_wrote(db, attempt(issued.code, WRONG)),
        "unknown code": await _commits_that_wrote(db, attempt(unknown, WRONG)),
        "locked card": await _commits_that_wrote(db, attempt(locked.code, RIGHT)),
        "no PIN": await _commits_that_wrote(db, attempt(issued.code, None)),
        "unknown code, no PIN": await _commits_that_wrote(db, attempt(unknown, None)),
    }
    assert wrote == {
        "wrong PIN": 1,
        "unknown code": 1,
        "locked card": 1,
        "no PIN": 0,
        "unknown code, no PIN": 0,
    }
    assert await _unmatched_pins(db) == counted_before + 2  # what they wrote instead
    assert (await pin_state(db, issued.card.id))[0] == 1  # the decoys counted nothing
    assert (await pin_state(db, locked.card.id))[0] == 5
    assert counting.compared[locked.card.id] == 5
    assert await card(db, pin_ledger, locked.card.id) == as_locked
