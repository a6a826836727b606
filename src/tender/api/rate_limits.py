"""Limits on what helps guess gift card codes: balance checks and add-card attempts, per
browser session and per API client, on top of the per-card PIN lockout. A script that tries
codes gets 429 with ``Retry-After`` long before it could cover a meaningful part of the space."""

from __future__ import annotations

from fastapi import Request

from tender.api.security import runtime_of
from tender.db.rate_limit_store import SqlRateLimitStore
from tender.domain.errors import RateLimited

WINDOW_SECONDS = 60


async def limit_card_attempts(request: Request, who: str, *, per_minute: int) -> None:
    """Count an attempt for ``who`` (committed on its own, so failed attempts count too)."""
    runtime = runtime_of(request)
    now = int(runtime.clock.now().timestamp())
    window = now - now % WINDOW_SECONDS
    count = await runtime.db.transaction(
        lambda conn: SqlRateLimitStore(conn).hit(f"cards:{who}", window)
    )
    if count > per_minute:
        raise RateLimited(retry_after=window + WINDOW_SECONDS - now)
