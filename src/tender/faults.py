"""Fault injection for crash tests: die at a named point, as SIGKILL would, with no cleanup.

``TENDER_FAULT_INJECTION="after_commit=0.05"`` makes ``crash_point("after_commit")`` end the
process in one call out of twenty. Never in production: the service refuses to start with it.
"""

from __future__ import annotations

import os
import random

EXIT_CODE = 137


def _points(spec: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, chance = item.partition("=")
        points[name.strip()] = float(chance or "1")
    return points


_POINTS = _points(os.environ.get("TENDER_FAULT_INJECTION", ""))


def crash_point(name: str) -> None:
    chance = _POINTS.get(name)
    if chance and random.random() < chance:
        os._exit(EXIT_CODE)
