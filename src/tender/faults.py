"""Fault injection for crash tests: named crash points that kill the worker on the spot.

A crash test has to prove that a worker dying at the worst moment (the change committed, the
answer not sent yet) loses nothing and doubles nothing. Killing workers from outside hits that
window only by luck; a crash point placed in it makes the window certain. The process dies
with ``os._exit``: no ``finally`` block, no atexit hook, no buffered write and no rollback runs,
which is as close to SIGKILL as a process can come by itself.

``TENDER_FAULT_INJECTION`` enables it, e.g. ``after_commit=0.05`` (point → probability, several
separated by commas). The settings refuse it in production, and nothing here is read unless
the runtime configured a plan.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping

POINTS: dict[str, str] = {
    "unit_ran": "a unit of work returned; the rows it queued are not written yet",
    "unit_flushed": "a unit's queued rows are written; its transaction or savepoint is not ended",
    "unit_committed": "a unit that is a transaction of its own committed (a request without a "
    "key), the answer not sent",
    "ledger_moved": "the ledger changed a card's balance or hold; the activity explaining it is "
    "not written yet",
    "money_reserved": "the provider reserved a card's money (placing, redeeming); no payment "
    "records the hold yet",
    "money_captured": "the provider captured a hold; the payment's Charge is not recorded yet",
    "money_released": "the provider released a hold; the payment's CancelAuthorization is not "
    "recorded yet",
    "money_refunded": "the provider refunded a card; the payment's Refund is not recorded yet",
    "before_commit": "a keyed request's changes and idempotency record are written, not committed",
    "after_commit": "the change and its idempotency record are committed, the answer not sent",
}
"""Every crash point the code has, with where it sits; a plan naming another is refused, so a
typo cannot silently leave a crash test without its crashes."""
EXIT_CODE = 137
"""What a shell reports for a SIGKILLed process (128 + 9): supervisors treat both alike."""

_plan: dict[str, float] = {}
_random = random.Random()


class InvalidFaultPlan(ValueError):
    """The setting does not parse; the message says what was expected."""


def parse_plan(text: str) -> dict[str, float]:
    """``"after_commit=0.05,other=1"`` → ``{"after_commit": 0.05, "other": 1.0}``; empty → off."""
    plan: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in POINTS:
            known = ", ".join(sorted(POINTS))
            raise InvalidFaultPlan(
                f"{item.strip()!r} is not point=probability with a known point ({known})"
            )
        try:
            probability = float(value)
        except ValueError:
            probability = -1.0
        if not 0.0 < probability <= 1.0:
            raise InvalidFaultPlan(f"the probability of {name} must be above 0 and at most 1")
        plan[name] = probability
    return plan


def configure(plan: Mapping[str, float]) -> None:
    """Arm the crash points of this process (an empty plan disarms them all)."""
    global _plan
    _plan = dict(plan)


def crash_point(name: str) -> None:
    """Die here with the configured probability of ``name``; costs one dict lookup when off."""
    probability = _plan.get(name)
    if probability is None or _random.random() >= probability:
        return
    # Said on stderr, unbuffered, so a test can tell an injected crash from any other death.
    message = (
        f"tender: fault injection: crash point {name} in process {os.getpid()}, exit {EXIT_CODE}"
    )
    os.write(2, (message + "\n").encode())
    os._exit(EXIT_CODE)
