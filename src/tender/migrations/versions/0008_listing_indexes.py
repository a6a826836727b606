"""Indexes for a client's events and for cards of one currency

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00.000000

``GET /events`` lists a client's own events and ``GET /giftcards?currency=`` the cards of one
currency, each in id order. Neither had an index to follow: a client with few events among a
million, or a currency few cards have, was a scan and a sort of the whole table (75 ms at a
million rows) on every call any token with the scope could repeat. On a large table the index
is built while the migration holds the table's write lock; build it beforehand with ``CREATE
INDEX CONCURRENTLY`` under the same name to keep writes going (and drop it first if such a
build failed: the migration keeps an index of that name, even one PostgreSQL left invalid).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_owner_id", "events", ["owner", "id"], if_not_exists=True)
    op.create_index("ix_cards_currency_id", "cards", ["currency", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_cards_currency_id", table_name="cards")
    op.drop_index("ix_events_owner_id", table_name="events")
