"""service: users, API keys, reviews, hash-chained audit log, jobs; review columns on events

Revision ID: 0002_service
Revises: 0001_initial
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002_service"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
OLD_REVIEW = "review_status IN ('pending', 'confirmed', 'rejected')"
NEW_REVIEW = "review_status IN ('pending', 'confirmed', 'dismissed', 'needs_info')"


def upgrade() -> None:
    with op.batch_alter_table("events") as b:
        b.drop_constraint("ck_events_review_status", type_="check")
        b.add_column(sa.Column("review_stage", sa.Integer(), server_default="0", nullable=False))
        b.add_column(sa.Column("reviewed_by", sa.String(64), nullable=True))
        b.add_column(sa.Column("reviewed_at", TZ, nullable=True))
    op.execute("UPDATE events SET review_status = 'dismissed' WHERE review_status = 'rejected'")
    with op.batch_alter_table("events") as b:
        b.create_check_constraint("ck_events_review_status", sa.text(NEW_REVIEW))
        b.create_index("ix_events_review_status_occurred_at", ["review_status", "occurred_at"])
        b.create_index("ix_events_occurred_at", ["occurred_at"])

    # Evidence is served by an opaque id, never by path or sequential number.
    with op.batch_alter_table("evidence_files") as b:
        b.add_column(sa.Column("uid", sa.String(32), nullable=True))
    bind = op.get_bind()
    ids = [r[0] for r in bind.execute(sa.text("SELECT id FROM evidence_files"))]
    for i in ids:
        bind.execute(sa.text("UPDATE evidence_files SET uid = :u WHERE id = :i"), {"u": uuid.uuid4().hex, "i": i})
    with op.batch_alter_table("evidence_files") as b:
        b.alter_column("uid", existing_type=sa.String(32), nullable=False)
        b.create_unique_constraint("uq_evidence_files_uid", ["uid"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("crossing_ids", sa.JSON(), nullable=False),
        sa.Column("evidence_access", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('admin', 'operator', 'reviewer', 'analyst')", name="ck_users_role"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="CASCADE"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_reviews_event_id_events", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reviews_user_id_users", ondelete="SET NULL"),
        sa.CheckConstraint("action IN ('confirm', 'dismiss', 'needs_info')", name="ck_reviews_action"),
        sa.CheckConstraint("stage IN (1, 2)", name="ck_reviews_stage"),
    )
    op.create_index("ix_reviews_event_id", "reviews", ["event_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("crossing_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("start_time", TZ, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["crossing_id"], ["crossings.id"], name="fk_jobs_crossing_id_crossings"),
        sa.UniqueConstraint("uid", name="uq_jobs_uid"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'partial', 'cancelled')", name="ck_jobs_status"
        ),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "job_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_items"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_items_job_id_jobs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["video_runs.id"], name="fk_job_items_run_id_video_runs", ondelete="SET NULL"
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="ck_job_items_status"
        ),
    )
    op.create_index("ix_job_items_job_id", "job_items", ["job_id"])


def downgrade() -> None:
    for table in ("job_items", "jobs", "audit_log", "reviews", "api_keys", "users"):
        op.drop_table(table)
    with op.batch_alter_table("evidence_files") as b:
        b.drop_constraint("uq_evidence_files_uid", type_="unique")
        b.drop_column("uid")
    with op.batch_alter_table("events") as b:
        b.drop_index("ix_events_occurred_at")
        b.drop_index("ix_events_review_status_occurred_at")
        b.drop_constraint("ck_events_review_status", type_="check")
    op.execute("UPDATE events SET review_status = 'rejected' WHERE review_status = 'dismissed'")
    op.execute("UPDATE events SET review_status = 'pending' WHERE review_status = 'needs_info'")
    with op.batch_alter_table("events") as b:
        b.drop_column("reviewed_at")
        b.drop_column("reviewed_by")
        b.drop_column("review_stage")
        b.create_check_constraint("ck_events_review_status", sa.text(OLD_REVIEW))
