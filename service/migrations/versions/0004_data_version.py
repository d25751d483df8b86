"""data stamp: a `data_version` counter bumped by triggers on every write to the counted tables

The API caches answers that cost a scan of up to millions of events (statistics, the `count` of
the events list) and must never serve one the data has moved past. A query-based stamp
(`max(id)`, `max(reviewed_at)`) is not exact: on PostgreSQL ids are handed out at INSERT, not at
COMMIT (a transaction holding a smaller id can commit after the stamp was read), a review may
carry an earlier `reviewed_at` than one already stored, and a renamed crossing changes nothing
it looks at. So one row, `data_version(id = 1)`, is incremented by triggers in the same
transaction as any INSERT, UPDATE or DELETE on `events`, `traffic_counts`, `crossings` and
`crossing_versions`, whoever writes (the API, a worker process, a script, a test). On
PostgreSQL the row lock also orders the increments by commit. Reading it is one primary-key
lookup.

SQLite: `batch_alter_table` on one of these tables recreates it and DROPS ITS TRIGGERS; a later
migration doing so must create them again (`SQLITE_TRIGGERS` below). The service checks they are
present (`service.stats_cache.stamp_triggers_present`) and does not cache without them.

Revision ID: 0004_data_version
Revises: 0003_stats_indexes
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_data_version"
down_revision = "0003_stats_indexes"
branch_labels = None
depends_on = None

TABLES = ("events", "traffic_counts", "crossings", "crossing_versions")
OPS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE data_version SET version = version + 1 WHERE id = 1"
PG_FUNCTION = "crosswatch_bump_data_version"


def sqlite_triggers() -> list[tuple[str, str]]:
    """(name, CREATE statement) of the row triggers SQLite needs (it has no statement triggers)."""
    return [
        (
            f"trg_{t}_{op_.lower()}_data_version",
            f"CREATE TRIGGER trg_{t}_{op_.lower()}_data_version AFTER {op_} ON {t} BEGIN {BUMP}; END",
        )
        for t in TABLES
        for op_ in OPS
    ]


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_data_version"),
    )
    op.execute("INSERT INTO data_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for t in TABLES:  # one increment per statement, however many rows it touches
            op.execute(
                f"CREATE TRIGGER trg_{t}_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
    else:
        for _, ddl in sqlite_triggers():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for t in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{t}_data_version ON {t}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for name, _ in sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("data_version")
