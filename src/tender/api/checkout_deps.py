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


async def run(
    request: Request,
    principal: Principal,
    work: Callable[[Work], Awaitable[T]],
    *,
    reads: bool = False,
) -> T:
    """Run ``work`` as ``principal`` in one transaction; with ``reads``, work that only reads
    (what it must write it writes apart) runs without one where the database allows."""
    runtime = runtime_of(request)
    corr = correlation_id.get()
    boundary = runtime.db.autocommit if reads else runtime.db.transaction
    return await boundary(
        lambda conn: work(runtime.work(conn, actor=principal.actor, correlation_id=corr))
    )


def page_url(request: Request, url: str | None) -> str | None:
    """A page the shopper's browser is sent to, as a full URL: the redirect simulator's page
    is tender's own (a path), and a path would be read against the merchant's site."""
    if url is None or not url.startswith("/"):
        return url
    return str(request.base_url).rstrip("/") + url
