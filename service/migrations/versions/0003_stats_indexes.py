"""statistics: index on events.reviewed_at

The statistics answer cache (`service.stats_cache.StatsCache`) checks on every request whether the
data changed since an answer was computed; "a review happened" is `max(events.reviewed_at)`, which
without an index is a full scan of the events table (~100 ms at a million events).

Revision ID: 0003_stats_indexes
Revises: 0002_service
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003_stats_indexes"
down_revision = "0002_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_reviewed_at", "events", ["reviewed_at"])


def downgrade() -> None:
    op.drop_index("ix_events_reviewed_at", table_name="events")
