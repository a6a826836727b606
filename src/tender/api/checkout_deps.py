"""What checkout routes share: running a unit of work as a principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from tender.api.middleware import correlation_id
from tender.api.security import runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.ownership import owner_of as owner_of
from tender.domain.principals import Principal

T = TypeVar("T")


async def run(request: Request, principal: Principal, work: Callable[[Work], Awaitable[T]]) -> T:
    runtime = runtime_of(request)
    corr = correlation_id.get()
    return await runtime.db.transaction(
        lambda conn: work(runtime.work(conn, actor=principal.actor, correlation_id=corr))
    )
