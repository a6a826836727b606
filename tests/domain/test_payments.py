"""A payment knows whether it awaits the confirmation of an external method."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tender.domain.orders import PaymentStatus, TransactionState, TransactionType
from tender.domain.payments import Payment, Transaction

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAYMENT = Payment(
    id="p",
    cart_id="c",
    method="invoice",
    provider="tender",
    status=PaymentStatus.ACTIVE,
    currency="EUR",
    amount_planned=1000,
    upper_limit=None,
    card_ref=None,
    card_last4=None,
    hold_ref=None,
    position=1,
    created_at=NOW,
    updated_at=NOW,
)


def _tx(kind: TransactionType, state: TransactionState, tx_id: str = "t") -> Transaction:
    return Transaction(tx_id, "p", kind, state, 1000, "EUR", None, None, NOW, NOW)


def test_a_pending_authorization_awaits_confirmation() -> None:
    pending = _tx(TransactionType.AUTHORIZATION, TransactionState.PENDING, "t2")
    payment = replace(
        PAYMENT,
        transactions=(_tx(TransactionType.AUTHORIZATION, TransactionState.FAILURE), pending),
    )
    assert payment.awaiting_confirmation
    assert payment.pending_authorization == pending


def test_settled_or_other_pending_transactions_await_nothing() -> None:
    for transactions in (
        (),
        (_tx(TransactionType.AUTHORIZATION, TransactionState.SUCCESS),),
        (_tx(TransactionType.AUTHORIZATION, TransactionState.FAILURE),),
        (_tx(TransactionType.CHARGE, TransactionState.PENDING),),
    ):
        payment = replace(PAYMENT, transactions=transactions)
        assert not payment.awaiting_confirmation
        assert payment.pending_authorization is None


def _moved(kind: TransactionType, amount: int, tx_id: str) -> Transaction:
    return Transaction(
        tx_id, "p", kind, TransactionState.SUCCESS, amount, "EUR", None, None, NOW, NOW
    )


def test_what_is_authorized_follows_the_order_of_the_transactions() -> None:
    """A redemption captured at once (a charge with no authorization), refunded, then
    reserved again when the order is placed again: the new authorization is open, not spent
    by the charge that came before it. A partial capture then ends the rest when released."""
    auth, charge, refund, cancel = (
        TransactionType.AUTHORIZATION,
        TransactionType.CHARGE,
        TransactionType.REFUND,
        TransactionType.CANCEL_AUTHORIZATION,
    )
    again = replace(
        PAYMENT,
        transactions=(
            _moved(charge, 3000, "1"),
            _moved(refund, 3000, "2"),
            _moved(auth, 3000, "3"),
        ),
    )
    assert again.authorized == 3000
    assert again.brings == 3000
    captured = replace(
        PAYMENT,
        transactions=(
            _moved(auth, 4490, "1"),
            _moved(charge, 3000, "2"),
            _moved(cancel, 1490, "3"),
        ),
    )
    assert (captured.authorized, captured.brings) == (0, 3000)
    direct = replace(PAYMENT, transactions=(_moved(charge, 3000, "1"),))
    assert (direct.authorized, direct.brings) == (0, 3000)
