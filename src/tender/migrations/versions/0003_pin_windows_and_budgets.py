"""PIN attempt windows; rate-limit windows of any length

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00.000000

``cards.locked_until`` becomes ``pin_window_ends_at``: PIN attempts are now counted before
they are compared, per window, and a card is locked while its window is full. Cards locked
under the old rule (count reset to 0, lock in the future) keep their lock by getting a count no
setting can stay below; counts of recent failures keep counting for one default lockout.

``rate_limits.expires_at`` lets a window be a minute, an hour or a day: each row says when it
ends, so a purge never deletes a window that is still counting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import tender.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LOCKED = 100
"""At least the largest ``TENDER_MAX_PIN_ATTEMPTS`` allowed: a full window whatever the setting."""
DEFAULT_LOCKOUT = timedelta(seconds=900)
OLD_WINDOW_SECONDS = 60
"""The only window the rate limits had before this revision."""

cards = sa.table(
    "cards",
    sa.column("failed_pin_attempts", sa.Integer()),
    sa.column("pin_window_ends_at", tender.db.types.UTCDateTime(timezone=True)),
)
rate_limits = sa.table(
    "rate_limits",
    sa.column("window_start", sa.BigInteger()),
    sa.column("expires_at", sa.BigInteger()),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    # A plain RENAME on both databases: a batch copy of a large cards table is not needed.
    op.execute("ALTER TABLE cards RENAME COLUMN locked_until TO pin_window_ends_at")
    ends = cards.c.pin_window_ends_at
    op.execute(cards.update().where(ends > now).values(failed_pin_attempts=LOCKED))
    op.execute(
        cards.update()
        .where(cards.c.failed_pin_attempts > 0, sa.or_(ends.is_(None), ends <= now))
        .values(pin_window_ends_at=now + DEFAULT_LOCKOUT)
    )

    op.add_column(
        "rate_limits",
        sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute(
        rate_limits.update().values(expires_at=rate_limits.c.window_start + OLD_WINDOW_SECONDS)
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.alter_column("expires_at", server_default=None)
        batch_op.create_index(batch_op.f("ix_rate_limits_expires_at"), ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limits_expires_at"))
        batch_op.drop_column("expires_at")

    now = datetime.now(UTC)
    ends = cards.c.pin_window_ends_at
    # The old rule: a lock is a future ``locked_until`` with the count back at 0; a window
    # that is not full is no lock, and only the locks this revision carried over are known full.
    op.execute(
        cards.update()
        .where(sa.or_(ends <= now, cards.c.failed_pin_attempts < LOCKED))
        .values(pin_window_ends_at=None)
    )
    op.execute(cards.update().where(ends > now).values(failed_pin_attempts=0))
    op.execute("ALTER TABLE cards RENAME COLUMN pin_window_ends_at TO locked_until")
