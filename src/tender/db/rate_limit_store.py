"""Fixed-window counters in the database, shared by every worker and machine."""

from __future__ import annotations

from sqlalchemy import Table, case, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.db.models import RateLimitRow

limits: Table = RateLimitRow.__table__  # type: ignore[assignment]


class SqlRateLimitStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def hit(self, key: str, window_start: int, window: int = 60) -> int:
        """Count one attempt in ``key``'s current window and return the window's count."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        expires_at = window_start + window
        stmt = dialect.insert(limits).values(
            key=key, window_start=window_start, count=1, expires_at=expires_at
        )
        same_window = limits.c.window_start == literal(window_start)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((same_window, limits.c.count + 1), else_=1),
                "window_start": window_start,
                "expires_at": expires_at,
            },
        ).returning(limits.c.count)
        return int((await self.conn.execute(stmt)).scalar_one())
