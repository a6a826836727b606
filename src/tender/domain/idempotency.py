"""Idempotency keys: the same key and body replay the first answer; a different body is a
mistake (422); a key whose first request is still running is busy (409)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

KEEP_FOR = timedelta(hours=24)
LEASE = timedelta(seconds=60)
"""How long a first request may run before a retry may take its key over (a crashed worker
must not block the key for a day)."""
MAX_KEY_LENGTH = 255


class KeyStatus(StrEnum):
    IN_FLIGHT = "in_flight"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[list[str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    request_hash: bytes
    status: KeyStatus
    response: StoredResponse | None
    locked_until: datetime
    expires_at: datetime


class Decision(StrEnum):
    PROCEED = "proceed"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    BUSY = "busy"
    TAKE_OVER = "take_over"
    """The first request's lease ran out without an answer: run it again under this key."""
    EXPIRED = "expired"


def decide(record: KeyRecord, request_hash: bytes, now: datetime) -> Decision:
    if record.expires_at <= now:
        return Decision.EXPIRED
    if record.request_hash != request_hash:
        return Decision.MISMATCH
    if record.status is KeyStatus.DONE:
        return Decision.REPLAY
    if record.locked_until > now:
        return Decision.BUSY
    return Decision.TAKE_OVER


def worth_keeping(status: int) -> bool:
    """Answers a retry should get again. Server errors, conflicts a retry may resolve and rate
    limits are not kept, so the retry runs for real."""
    return status < 500 and status not in (409, 429)
