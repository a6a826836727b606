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
