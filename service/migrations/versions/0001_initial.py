"""initial schema: crossings, versions, runs, events, evidence, traffic counts

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    fk_current_version = sa.ForeignKeyConstraint(
        ["current_version_id"],
        ["crossing_versions.id"],
        name="fk_crossings_current_version_id_crossing_versions",
        ondelete="SET NULL",
    )
    # crossings <-> crossing_versions reference each other. SQLite resolves foreign keys lazily
    # (and cannot ALTER TABLE ADD CONSTRAINT), so it gets the key inline; others add it after.
    op.create_table(
        "crossings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(200), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_crossings"),
        *([fk_current_version] if sqlite else []),
    )
    op.create_table(
        "crossing_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crossing_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("geometry_hash", sa.String(64), nullable=False),
        sa.Column("config_yaml", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crossing_versions"),
        sa.ForeignKeyConstraint(
            ["crossing_id"], ["crossings.id"], name="fk_crossing_versions_crossing_id_crossings", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("crossing_id", "geometry_hash", name="uq_crossing_versions_crossing_id_geometry_hash"),
        sa.UniqueConstraint("crossing_id", "version", name="uq_crossing_versions_crossing_id_version"),
        sa.CheckConstraint("version >= 1", name="ck_crossing_versions_version_positive"),
    )
    if not sqlite:
        op.create_foreign_key(
            "fk_crossings_current_version_id_crossing_versions",
            "crossings",
            "crossing_versions",
            ["current_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "video_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_path", sa.Text(), nullable=False),
        sa.Column("video_sha256", sa.String(64), nullable=False),
        sa.Column("crossing_version_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("settings_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("elapsed_s", sa.Float(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.Column("start_time", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_video_runs"),
        sa.ForeignKeyConstraint(
            ["crossing_version_id"],
            ["crossing_versions.id"],
            name="fk_video_runs_crossing_version_id_crossing_versions",
        ),
        sa.UniqueConstraint(
            "video_sha256",
            "crossing_version_id",
            "settings_hash",
            name="uq_video_runs_video_sha256_crossing_version_id_settings_hash",
        ),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="ck_video_runs_status"),
    )
    op.create_index("ix_video_runs_crossing_version_id", "video_runs", ["crossing_version_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("crossing_id", sa.String(64), nullable=False),
        sa.Column("crossing_version_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(100), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.String(32), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("lane", sa.String(64), nullable=True),
        sa.Column("stop_line", sa.String(64), nullable=True),
        sa.Column("signal_id", sa.String(64), nullable=True),
        sa.Column("signal_state", sa.String(8), nullable=True),
        sa.Column("signal_source", sa.String(16), nullable=True),
        sa.Column("since_red_s", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("occurred_at", TZ, nullable=True),
        sa.Column("review_status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["run_id"], ["video_runs.id"], name="fk_events_run_id_video_runs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["crossing_id"], ["crossings.id"], name="fk_events_crossing_id_crossings"),
        sa.ForeignKeyConstraint(
            ["crossing_version_id"], ["crossing_versions.id"], name="fk_events_crossing_version_id_crossing_versions"
        ),
        sa.UniqueConstraint("uid", name="uq_events_uid"),
        sa.UniqueConstraint("run_id", "event_key", name="uq_events_run_id_event_key"),
        sa.CheckConstraint("type IN ('red_light', 'wrong_way')", name="ck_events_type"),
        sa.CheckConstraint("review_status IN ('pending', 'confirmed', 'rejected')", name="ck_events_review_status"),
        sa.CheckConstraint("signal_state IN ('RED', 'YELLOW', 'GREEN', 'UNKNOWN')", name="ck_events_signal_state"),
    )
    op.create_index("ix_events_crossing_id_occurred_at", "events", ["crossing_id", "occurred_at"])
    op.create_index("ix_events_type", "events", ["type"])
    op.create_index("ix_events_review_status", "events", ["review_status"])
    op.create_index("ix_events_class_name", "events", ["class_name"])

    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_files"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_evidence_files_event_id_events", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("event_id", "relpath", name="uq_evidence_files_event_id_relpath"),
        sa.CheckConstraint("size >= 0", name="ck_evidence_files_size"),
    )

    op.create_table(
        "traffic_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crossing_id", sa.String(64), nullable=False),
        sa.Column("crossing_version_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stop_line", sa.String(64), nullable=False),
        sa.Column("class_name", sa.String(32), nullable=False),
        sa.Column("minute_start", sa.Integer(), nullable=False),
        sa.Column("minute_at", TZ, nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_traffic_counts"),
        sa.ForeignKeyConstraint(["crossing_id"], ["crossings.id"], name="fk_traffic_counts_crossing_id_crossings"),
        sa.ForeignKeyConstraint(
            ["crossing_version_id"],
            ["crossing_versions.id"],
            name="fk_traffic_counts_crossing_version_id_crossing_versions",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["video_runs.id"], name="fk_traffic_counts_run_id_video_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "run_id",
            "stop_line",
            "class_name",
            "minute_start",
            name="uq_traffic_counts_run_id_stop_line_class_name_minute_start",
        ),
        sa.CheckConstraint("count >= 0", name="ck_traffic_counts_count"),
    )
    op.create_index("ix_traffic_counts_crossing_id_minute_at", "traffic_counts", ["crossing_id", "minute_at"])


def downgrade() -> None:
    op.drop_table("traffic_counts")
    op.drop_table("evidence_files")
    op.drop_table("events")
    op.drop_table("video_runs")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_crossings_current_version_id_crossing_versions", "crossings", type_="foreignkey")
    op.drop_table("crossing_versions")
    op.drop_table("crossings")
