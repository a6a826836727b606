"""The ledger's hot-path statements, built once: building and hashing a statement per call cost
more CPU than executing it.

Each balance move is one conditional ``UPDATE … RETURNING``: the check and the write are one
atomic step on both databases, and no row comes back when the condition no longer holds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, bindparam, case, func, insert, or_, select, update

from tender.db.ledger_rows import activities, card_select, cards, entries, holds
from tender.db.types import UTCDateTime
from tender.domain.ledger import CardStatus, HoldStatus

NOW = bindparam("now", type_=UTCDateTime())
_AMOUNT = bindparam("amount", type_=BigInteger())
TRY_HOLD = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        cards.c.currency == bindparam("b_currency"),
        cards.c.status == CardStatus.ACTIVE.value,
        or_(cards.c.expires_at.is_(None), cards.c.expires_at > NOW),
        cards.c.posted - cards.c.held >= _AMOUNT,
    )
    .values(held=cards.c.held + _AMOUNT, version=cards.c.version + 1, updated_at=NOW)
    .returning(*card_select())
)
_NEW_POSTED = cards.c.posted + bindparam("dp", type_=BigInteger())
_NEW_HELD = cards.c.held + bindparam("dh", type_=BigInteger())
MOVE_BALANCE = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        _NEW_HELD >= 0,
        _NEW_POSTED - _NEW_HELD >= 0,
        _NEW_POSTED <= bindparam("max", type_=BigInteger()),
    )
    .values(posted=_NEW_POSTED, held=_NEW_HELD, version=cards.c.version + 1, updated_at=NOW)
    .returning(*card_select())
)
GET_CARDS = select(*card_select()).where(cards.c.id.in_(bindparam("ids", expanding=True)))
GET_CARD = select(*card_select()).where(cards.c.id == bindparam("card_id"))
CARD_BY_CODE_HASH = select(*card_select()).where(cards.c.code_hash == bindparam("code_hash"))
"""Built once: a statement built per call costs more Python than its round trip."""
INSERT_HOLD = insert(holds)
GET_HOLD = select(holds).where(holds.c.id == bindparam("hold_id"))
_CAPTURED = func.coalesce(bindparam("captured", type_=BigInteger()), holds.c.amount)
CAPTURE_HOLD = (
    update(holds)
    .where(
        holds.c.id == bindparam("hold_id"),
        holds.c.status == HoldStatus.ACTIVE.value,
        holds.c.expires_at > NOW,
        holds.c.amount >= _CAPTURED,
        # an amount in another currency captures nothing (none given: the hold's own)
        func.coalesce(bindparam("b_currency", type_=String()), holds.c.currency)
        == holds.c.currency,
    )
    .values(status=HoldStatus.CAPTURED.value, captured_amount=_CAPTURED, updated_at=NOW)
    .returning(holds)
)
END_HOLD = (
    update(holds)
    .where(holds.c.id == bindparam("hold_id"), holds.c.status == HoldStatus.ACTIVE.value)
    .values(status=bindparam("b_status"), captured_amount=0, updated_at=NOW)
    .returning(holds)
)
INSERT_ACTIVITIES = insert(activities)
INSERT_ENTRIES = insert(entries)
_WINDOW_CLOSED = or_(cards.c.pin_window_ends_at.is_(None), cards.c.pin_window_ends_at <= NOW)
CLAIM_PIN_ATTEMPT = (
    update(cards)
    .where(
        cards.c.id == bindparam("card_id"),
        or_(_WINDOW_CLOSED, cards.c.failed_pin_attempts < bindparam("max_attempts")),
    )
    .values(
        # Both sides of a SET read the row as it was, on SQLite as on PostgreSQL.
        failed_pin_attempts=case((_WINDOW_CLOSED, 1), else_=cards.c.failed_pin_attempts + 1),
        pin_window_ends_at=case(
            (_WINDOW_CLOSED, bindparam("window_ends", type_=UTCDateTime())),
            else_=cards.c.pin_window_ends_at,
        ),
    )
    .returning(cards.c.failed_pin_attempts)
)
RETURN_PIN_ATTEMPT = (
    update(cards)
    .where(cards.c.id == bindparam("card_id"), cards.c.failed_pin_attempts > 0)
    .values(failed_pin_attempts=cards.c.failed_pin_attempts - 1)
)
