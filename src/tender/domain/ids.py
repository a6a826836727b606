"""Identifiers: UUIDv7, so ids sort by creation time and cursor pagination by id follows it."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_BITS = 74
_lock = threading.Lock()
_last = (0, 0)


def _random() -> int:
    return int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)


def new_id() -> str:
    """A UUIDv7 string (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Ids from one process strictly increase (RFC 9562 §6.2, method 2): within a millisecond the
    random part counts up from its random start. Rows written in one request, such as a
    payment's transactions, then sort by id in the order they were made, which is the order a
    transaction's own cached copy keeps them in.
    """
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        last_millis, last_random = _last
        if millis > last_millis:
            rand = _random()
        else:
            millis, rand = last_millis, last_random + 1
            if rand >> _RANDOM_BITS:
                millis, rand = last_millis + 1, _random()
        _last = (millis, rand)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    text = f"{value:032x}"  # what ``str(uuid.UUID(int=value))`` says, without the object
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(text) == 36
