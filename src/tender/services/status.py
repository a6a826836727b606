"""Whether tender can serve as a gift card processor right now: a few checks run side by side,
each within the same time limit, so the answer never takes longer than that limit however
slow or hung a dependency is (a check still running then is reported DOWN).

A check that payments cannot do without (the database, the gift card provider) makes the whole
answer an error when it is down; any other check down makes it partial.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tender.domain.clients import ApiClient
from tender.domain.principals import Principal, PrincipalKind, Scope

PROCESSOR_SCOPES = frozenset(
    {
        Scope.MANAGE_PAYMENTS,
        Scope.MANAGE_ORDERS,
        Scope.VIEW_SESSIONS,
        Scope.MANAGE_CHECKOUT_PAYMENT_INTENTS,
        Scope.INTROSPECT_OAUTH_TOKENS,
    }
)
"""What the merchant's checkout needs from one API client to drive the processor: create
sessions and payments, read them back, and send payment intents (the seed's list, but for
``view_api_clients``, which tender has no API for)."""


class CheckFailed(Exception):
    """A check found its dependency unusable; ``code`` and ``message`` say why, safely."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: Callable[[], Awaitable[dict[str, Any]]]
    """Returns details when up, raises when down."""
    essential: bool


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    up: bool
    details: dict[str, Any] = field(default_factory=dict)


class Health(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    ERROR = "error"


async def run_checks(
    checks: Sequence[Check], *, seconds: float
) -> tuple[Health, list[CheckResult]]:
    """Every check, side by side, each given ``seconds`` at most."""
    results = list(await asyncio.gather(*(_bounded(check, seconds) for check in checks)))
    down = [check for check, result in zip(checks, results, strict=True) if not result.up]
    if not down:
        return Health.OK, results
    if len(down) == len(checks) or any(check.essential for check in down):
        return Health.ERROR, results
    return Health.PARTIAL, results


async def _bounded(check: Check, seconds: float) -> CheckResult:
    try:
        async with asyncio.timeout(seconds):
            details = await check.run()
    except TimeoutError:
        return _down(check, "Timeout", f"no answer within {seconds:g} s")
    except CheckFailed as failed:
        return _down(check, failed.code, failed.message)
    except Exception as error:  # a check reports any failure; it never fails the answer
        return _down(check, "Unavailable", f"the check failed: {type(error).__name__}")
    return CheckResult(check.name, True, details)


def _down(check: Check, code: str, message: str) -> CheckResult:
    return CheckResult(check.name, False, {"error": {"code": code, "message": message}})


def processor_client(clients: Sequence[ApiClient]) -> dict[str, Any]:
    """Details of the active API clients that hold every scope the processor's callers need;
    ``CheckFailed`` naming what is missing when none does."""
    able = [
        c.client_id
        for c in clients
        if c.active and all(_holds(c.scopes, scope) for scope in PROCESSOR_SCOPES)
    ]
    if not able:
        missing = sorted(s.value for s in PROCESSOR_SCOPES)
        raise CheckFailed(
            "MissingPermissions",
            "no active API client holds every scope the processor needs: " + " ".join(missing),
        )
    return {"clients": len(able), "scopes": sorted(s.value for s in PROCESSOR_SCOPES)}


def _holds(scopes: frozenset[Scope], scope: Scope) -> bool:
    return Principal(PrincipalKind.CLIENT, "", scopes).has(scope)
