"""The order life cycle (Norce's states) and the payment vocabulary (commercetools').

An order is its cart, placed: **Checkout** while the shopper edits, **Processing** once every
gift card amount is reserved and the rest is with an external method, **Completed** when the
reservations are captured, **Cancelled** when released or refunded. Back to Checkout releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tender.domain.errors import IllegalTransition


class OrderState(StrEnum):
    CHECKOUT = "Checkout"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.CHECKOUT: frozenset({OrderState.PROCESSING, OrderState.CANCELLED}),
    OrderState.PROCESSING: frozenset(
        {OrderState.CHECKOUT, OrderState.COMPLETED, OrderState.CANCELLED}
    ),
    OrderState.COMPLETED: frozenset({OrderState.CANCELLED}),
    OrderState.CANCELLED: frozenset(),
}


class OrderTransitionRefused(IllegalTransition):
    code = "InvalidOrderStateTransition"
    message = "The order's state does not allow this change."


def check_order_transition(current: OrderState, target: OrderState) -> None:
    if target not in ORDER_TRANSITIONS[current]:
        raise OrderTransitionRefused(
            f"an order in state {current.value} cannot become {target.value}"
        )


class TransactionType(StrEnum):
    AUTHORIZATION = "Authorization"
    CHARGE = "Charge"
    REFUND = "Refund"
    CANCEL_AUTHORIZATION = "CancelAuthorization"


class TransactionState(StrEnum):
    INITIAL = "Initial"
    PENDING = "Pending"
    SUCCESS = "Success"
    FAILURE = "Failure"


CANCELLED = "Cancelled"
"""The error code of a pending transaction tender failed itself, by cancelling or reopening its
order, rather than the provider or the merchant."""


TRANSACTION_TRANSITIONS: dict[TransactionState, frozenset[TransactionState]] = {
    TransactionState.INITIAL: frozenset(
        {TransactionState.PENDING, TransactionState.SUCCESS, TransactionState.FAILURE}
    ),
    TransactionState.PENDING: frozenset({TransactionState.SUCCESS, TransactionState.FAILURE}),
    TransactionState.SUCCESS: frozenset(),
    TransactionState.FAILURE: frozenset(),
}


def check_transaction_transition(current: TransactionState, target: TransactionState) -> None:
    if target not in TRANSACTION_TRANSITIONS[current]:
        raise IllegalTransition(
            f"a transaction in state {current.value} cannot become {target.value}"
        )


class PaymentStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"
    """Soft-deleted by the shopper; kept so the history shows it."""


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    reference: str
    cart_id: str
    owner: str
    state: OrderState
    version: int
    currency: str
    snapshot: dict[str, Any]
    """Lines, addresses, shipping and totals as placed."""
    grand_total: int
    created_at: datetime
    updated_at: datetime
