"""security: token versions (session revocation), login attempts shared across processes, the
audit chain's keyed head, and policy every service process must share

- `users.token_version`: bumped by a password reset, deactivation, role/scope change; tokens carry
  it, so old tokens stop working at once.
- `login_attempts`: the login limiter's state, in the database (recorded before the password
  check, so parallel guesses are counted; one limiter for all processes).
- `audit_head`: the last audit entry's id/hash and count, HMAC'd with a key kept outside the
  database, so truncating the chain is detected.
- `service_policy`: e.g. `second_review`, so a second instance cannot run with a weaker policy.

Revision ID: 0005_security
Revises: 0004_data_version
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_security"
down_revision = "0004_data_version"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # add_column, not batch_alter_table: on SQLite a batch rebuild would drop the users table's
    # triggers (it has none today, but ALTER TABLE ADD COLUMN is the safe habit here).
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(op.f("ix_login_attempts_key_at"), "login_attempts", ["key", "at"])
    op.create_index(op.f("ix_login_attempts_at"), "login_attempts", ["at"])
    op.create_table(
        "service_policy",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_policy")),
    )


def downgrade() -> None:
    op.drop_table("service_policy")
    op.drop_index(op.f("ix_login_attempts_at"), table_name="login_attempts")
    op.drop_index(op.f("ix_login_attempts_key_at"), table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_table("audit_head")
    with op.batch_alter_table("users") as b:
        b.drop_column("token_version")
