"""Alembic environment for crosswatch.

Normally driven by `service.db.upgrade()`, which passes an open connection (inside a transaction
holding the migration lock) in `config.attributes["connection"]`; `service.db.new_revision()`
autogenerates the next migration (review it by hand).
"""

from __future__ import annotations

from alembic import context

from service.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_, obj, autogen_context):
    """Autogenerate: write plain SQLAlchemy types, so migrations never import the app's models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE needs batch mode
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from service.db import default_db_url, make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_db_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("crosswatch migrations run online only (service.db.upgrade)")
run_migrations_online()
