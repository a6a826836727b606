"""What checkout routes share: running a unit of work as a principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from tender.api.middleware import correlation_id
from tender.api.security import runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.principals import Principal, PrincipalKind

T = TypeVar("T")


def owner_of(principal: Principal) -> str | None:
    """Whose objects a caller sees: a client its own, a merchant admin all of them."""
    return None if principal.kind is PrincipalKind.ADMIN else principal.actor


async def run(request: Request, principal: Principal, work: Callable[[Work], Awaitable[T]]) -> T:
    runtime = runtime_of(request)
    corr = correlation_id.get()
    return await runtime.db.transaction(
        lambda conn: work(runtime.work(conn, actor=principal.actor, correlation_id=corr))
    )
