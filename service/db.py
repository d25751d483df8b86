"""Engines and schema migration.

- `make_engine(url)`: SQLite (parent folder created, WAL, busy_timeout 30 s, foreign keys on,
  real BEGIN so transactions and transactional DDL work) or PostgreSQL through psycopg 3.
- `service_pool_options(url)`: the pool of the web service's engine, sized to its request threads.
- `upgrade(url_or_engine)`: Alembic to head, programmatically (no alembic.ini). Safe to call on
  every start and from several processes at once: the migration runs under a database-wide lock
  (`BEGIN IMMEDIATE` on SQLite, an advisory lock on PostgreSQL) and retries on transient errors.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connection execution option read by the SQLite "begin" hook: "IMMEDIATE" takes the write lock
# at BEGIN (writers queue on busy_timeout instead of failing on a lock upgrade).
BEGIN_MODE_OPTION = "crosswatch_sqlite_begin"
_PG_MIGRATION_LOCK = 0x6372_7377_6174_6368  # "crswatch": advisory lock key for upgrade()
# The web service runs its sync handlers on anyio's thread pool (`SERVICE_THREADS` at once, set by
# the app) and each holds one pooled connection (a few briefly hold two: a read session plus a
# short write such as an API key's last-used stamp). With SQLAlchemy's default pool (5 + 10
# overflow) 40 threads queued for 15 connections and, after 30 s, failed with 500s under load.
# Sized to the threads (+ headroom), requests queue for a thread instead and the pool timeout
# only fires on a real overload (the app answers it 503 + Retry-After). The app also admits at
# most SERVICE_THREADS requests at once (see `service.api.app._Admission`). 32, not anyio's 40: the
# CPU cost per request is the same from 8 to 40 threads on 2 cores, and two worker processes then
# stay well inside PostgreSQL's default max_connections (100).
SERVICE_THREADS = 32
SERVICE_POOL_OVERFLOW = 10
SERVICE_POOL_TIMEOUT_S = 10.0
_RETRYABLE = (
    "database is locked",
    "database table is locked",
    "already exists",
    "deadlock detected",
    "could not serialize",
    "duplicate key value",
)


def default_db_url() -> str:
    """`CROSSWATCH_DB_URL`, else `sqlite:///<project>/data/crosswatch.db` (the project root is the
    folder holding pyproject.toml above this package; the working directory when installed)."""
    env = os.environ.get("CROSSWATCH_DB_URL")
    if env:
        return env
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        root = Path.cwd()
    return f"sqlite:///{root / 'data' / 'crosswatch.db'}"


def _normalise(url: str | URL) -> URL:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: str | URL | None = None, **kwargs) -> Engine:
    """An engine for `url` (default: `default_db_url()`); extra kwargs go to `create_engine`."""
    u = _normalise(url if url is not None else default_db_url())
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(u, **kwargs)


def _sqlite_in_memory(u: URL) -> bool:
    db = u.database or ""
    return db in ("", ":memory:") or db.startswith("file::memory:") or "mode=memory" in db


def service_pool_options(url: str | URL | None = None, threads: int | None = None) -> dict[str, Any]:
    """`create_engine` pool arguments for the web service: `threads` (default `SERVICE_THREADS`)
    connections plus `SERVICE_POOL_OVERFLOW`, waiting at most `SERVICE_POOL_TIMEOUT_S`. Empty
    for in-memory SQLite, whose single-connection pool takes no size."""
    u = _normalise(url if url is not None else default_db_url())
    if u.get_backend_name() == "sqlite" and _sqlite_in_memory(u):
        return {}
    n = SERVICE_THREADS if threads is None else threads
    if n < 1:
        raise ValueError(f"threads must be >= 1, not {n}")
    return {"pool_size": n, "max_overflow": SERVICE_POOL_OVERFLOW, "pool_timeout": SERVICE_POOL_TIMEOUT_S}


def _sqlite_engine(u: URL, **kwargs) -> Engine:
    db = u.database or ""
    in_memory = _sqlite_in_memory(u)
    if not in_memory:
        Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(u, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see "begin").
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("SQLite %s: journal_mode is %s, not wal", db, mode)
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(BEGIN_MODE_OPTION, "DEFERRED")).upper()
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"{BEGIN_MODE_OPTION}={mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool) whose SQLite transactions take the write lock at BEGIN."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{BEGIN_MODE_OPTION: "IMMEDIATE"})
    return engine


def session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    return sessionmaker(write_engine(engine) if write else engine, expire_on_commit=False)


# -- migrations --------------------------------------------------------------------------------
def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def new_revision(message: str, url: str | URL | None = None) -> str:
    """Autogenerate the next migration from the models' diff against `url` (a database at head,
    e.g. a scratch SQLite file) into migrations/versions/; returns its path. Review it by hand:
    a migration must create exactly what the models define (a test checks that)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            script = command.revision(_alembic_config(conn), message=message, autogenerate=True)
    finally:
        engine.dispose()
    return script.path  # type: ignore[union-attr]


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    """PRAGMA foreign_keys on the raw connection: it is a no-op inside a transaction, and going
    through SQLAlchemy would begin one."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection has its driver's
    driver.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def _retryable(e: DBAPIError) -> bool:
    msg = str(e.orig if e.orig is not None else e).lower()
    return any(m in msg for m in _RETRYABLE)


def upgrade(url_or_engine: str | URL | Engine | None = None, *, revision: str = "head", attempts: int = 8) -> None:
    """Migrate the database to `revision` (default head). Idempotent and safe under concurrency."""
    from alembic import command

    own = not isinstance(url_or_engine, Engine)
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as conn:
                    sqlite = conn.dialect.name == "sqlite"
                    if sqlite:
                        # Batch migrations recreate tables (copy, DROP, rename); with foreign keys
                        # on, a DROP would fire ON DELETE CASCADE. SQLite's recipe: keys off outside
                        # the transaction, foreign_key_check before commit, keys back on.
                        _sqlite_foreign_keys(conn, False)
                    try:
                        conn.execution_options(**{BEGIN_MODE_OPTION: "IMMEDIATE"})
                        with conn.begin():
                            if conn.dialect.name == "postgresql":
                                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                            command.upgrade(_alembic_config(conn), revision)
                            if sqlite:
                                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                                if bad:
                                    raise RuntimeError(f"migration to {revision} breaks foreign keys: {bad[:5]}")
                    finally:
                        if sqlite and not conn.invalidated:
                            _sqlite_foreign_keys(conn, True)
                return
            except DBAPIError as e:
                if attempt == attempts or not _retryable(e):
                    raise
                delay = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
                log.info("upgrade: %s; retrying in %.2f s", e.orig, delay)
                time.sleep(delay)
    finally:
        if own:
            engine.dispose()


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
