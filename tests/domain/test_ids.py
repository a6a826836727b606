"""UUIDv7 ids: valid, and strictly increasing within a process even inside one millisecond or
when the wall clock steps back."""

from __future__ import annotations

import uuid

import pytest

from tender.domain import ids
from tender.domain.ids import is_uuid, new_id


def test_ids_are_version_7_and_strictly_increase() -> None:
    made = [new_id() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    for text in made[:100]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert is_uuid(text)
        assert str(parsed) == text  # the canonical form: lower case, dashes in place


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [2_000_000_000_000 * 1_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    first = new_id()
    now[0] -= 5_000 * 1_000_000  # NTP steps the clock back five seconds
    second = new_id()
    assert second > first
    now[0] += 10_000 * 1_000_000
    third = new_id()
    assert third > second
    assert int(uuid.UUID(third).hex[:12], 16) == now[0] // 1_000_000


def test_the_counter_carries_into_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 3_000_000_000_000 * 1_000_000)
    monkeypatch.setattr(ids, "_random", lambda: (1 << 74) - 2)
    monkeypatch.setattr(ids, "_last", (0, 0))
    a, b, c = new_id(), new_id(), new_id()
    assert a < b < c
    assert uuid.UUID(c).version == 7
    assert uuid.UUID(c).variant == uuid.RFC_4122
