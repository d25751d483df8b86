"""evidence an officer can act on: plate reading (+ the reviewer's correction beside it), violation code
and legal basis, anti-forgery code and evidence seal on every event

Plain ADD COLUMN (no batch rebuild), so SQLite keeps the data-version triggers of 0004.

Revision ID: 0006_evidence
Revises: 0005_security
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_evidence"
down_revision = "0005_security"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
COLUMNS = (
    ("plate_status", sa.String(16)),
    ("plate_text", sa.String(16)),
    ("plate_display", sa.String(32)),
    ("plate_region", sa.String(4)),
    ("plate_colour", sa.String(16)),
    ("plate_confidence", sa.Float()),
    ("plate_reason", sa.Text()),
    ("plate_corrected", sa.String(16)),
    ("plate_corrected_by", sa.String(64)),
    ("plate_corrected_at", TZ),
    ("violation_code", sa.String(8)),
    ("violation_full_code", sa.String(8)),
    ("violation_description", sa.Text()),
    ("legal_basis", sa.Text()),
    ("anti_forgery_code", sa.String(16)),
    ("evidence_seal", sa.String(64)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("events", sa.Column(name, type_, nullable=True))
    op.create_index("ix_events_plate_text", "events", ["plate_text"])
    op.create_index("ix_events_plate_corrected", "events", ["plate_corrected"])


def downgrade() -> None:
    op.drop_index("ix_events_plate_corrected", table_name="events")
    op.drop_index("ix_events_plate_text", table_name="events")
    if op.get_bind().dialect.name == "sqlite":  # DROP COLUMN without a table rebuild (SQLite >= 3.35)
        for name, _ in reversed(COLUMNS):
            op.execute(f"ALTER TABLE events DROP COLUMN {name}")
    else:
        for name, _ in reversed(COLUMNS):
            op.drop_column("events", name)
