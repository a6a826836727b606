"""The call counter behind ``bench.processor_calls`` charges each call to the innermost of
tender's frames, and calls made with none on the stack to the outside."""

from __future__ import annotations

import sys

from bench.processor_calls import OUTSIDE, Owners

from tender.domain.codes import normalise_code


def outside_tender() -> int:
    return len(str(sum(range(3))))


def test_calls_are_charged_to_the_innermost_tender_frame() -> None:
    owners = Owners()
    sys.setprofile(owners)
    try:
        normalise_code("abcd-efgh-2345-6789")
        outside_tender()
    finally:
        sys.setprofile(None)
    assert owners.modules["domain/codes.py"] > 0
    assert any(name.startswith("domain/codes.py: normalise_code") for name in owners.functions)
    assert owners.modules[OUTSIDE] >= 4  # outside_tender, range, sum, str, len
    assert sum(owners.modules.values()) == sum(owners.functions.values())
