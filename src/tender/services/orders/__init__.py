"""Placing orders and moving them through their life cycle, with every cent reserved,
captured, released or refunded exactly once through the gift card provider."""

from __future__ import annotations

from tender.services.orders.base import (
    CheckoutDataInvalid,
    NothingToDo,
    OrderAlreadyPlaced,
    OrderView,
    PaymentNotAuthorized,
    Placed,
)
from tender.services.orders.intents import PaymentIntents
from tender.services.orders.lifecycle import Lifecycle
from tender.services.orders.payments import PaymentOperations
from tender.services.orders.placing import Placing, missing_checkout_data

__all__ = [
    "CheckoutDataInvalid",
    "NothingToDo",
    "OrderAlreadyPlaced",
    "OrderView",
    "Orders",
    "PaymentNotAuthorized",
    "Placed",
    "missing_checkout_data",
]


class Orders(Placing, Lifecycle, PaymentOperations, PaymentIntents):
    """Every order use case, as the runtime hands it to routes and the CLI."""
