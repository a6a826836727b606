"""Idempotency keys: the same key and body replay the first answer; a different body is a
mistake (422); a key whose first request is still running is busy (409).

The first answer is kept in the same database transaction as the change it answers, so there is
never a change without its answer or an answer without its change. The claim on a key is the
transaction itself (on PostgreSQL an advisory lock that ends with it; on SQLite the one writer
lock), never a row with a lease: a request that dies frees its key at once, and one that
outlives its transaction can no longer commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from tender.domain.errors import BusinessRuleViolation, Conflict

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class KeyStatus(StrEnum):
    IN_FLIGHT = "in_flight"
    """Written only by releases before answers were kept with their change; read as absent."""
    DONE = "done"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[list[str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    request_hash: bytes
    sealed: bytes
    """The answer, encrypted (``tender.auth.sealing``)."""
    expires_at: datetime


class IdempotencyKeyInUse(Conflict):
    code = "IdempotencyKeyInUse"
    message = "A request with this Idempotency-Key is still running."
    source = "header"


class IdempotencyKeyReused(BusinessRuleViolation):
    code = "IdempotencyKeyReused"
    message = "This Idempotency-Key was used with a different request."
    source = "header"


class Replay(Exception):
    """The key already has an answer: stop the request's work and send that answer instead.

    Raised from the request's first unit of work, so the route's authentication and scope
    checks (its dependencies) have already run for this caller before anything is replayed.
    """

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replay")
        self.response = response


def check_reuse(record: KeyRecord, request_hash: bytes) -> None:
    """Raise unless ``record`` answered this very request."""
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(field="Idempotency-Key")


def worth_keeping(status: int) -> bool:
    """Answers a retry should get again. Server errors, conflicts a retry may resolve and rate
    limits are not kept, so the retry runs for real."""
    return status < 500 and status not in (409, 429)


class IdempotencyStore(Protocol):
    """Kept answers under their keys, inside one open transaction (never committing), which
    claimed its key as it began (``Database.request_transaction``)."""

    async def claimed(self, scope_hash: bytes, now: datetime) -> KeyRecord | None:
        """The answer kept under the claimed key, or None; ``IdempotencyKeyInUse`` if
        another transaction holds the key."""
        ...

    async def keep(
        self, scope_hash: bytes, request_hash: bytes, sealed: bytes, now: datetime
    ) -> None: ...

    async def forget_expired(self, now: datetime) -> int: ...
