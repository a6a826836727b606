"""Events: what changed, appended in the same transaction as the change (the outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    """``<Object><Change>``, e.g. ``OrderPlaced``, ``PaymentTransactionAdded``."""
    object_type: str
    object_id: str
    owner: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    type: str
    object_type: str
    object_id: str
    payload: dict[str, Any]
    correlation_id: str | None
    created_at: datetime
