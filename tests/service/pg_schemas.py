"""Fresh databases for the service tests: a SQLite file, or a throwaway schema on the PostgreSQL
server named by CROSSWATCH_TEST_PG_URL (one helper for the per-test `db_url` fixture and the
module-scoped apps of the API tests).

Start a throwaway server:  export CROSSWATCH_TEST_PG_URL="$(scripts/pg_test_server.sh | tail -n1)"
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from service.db import make_engine

PG_ENV = "CROSSWATCH_TEST_PG_URL"
PG_SKIP = f'{PG_ENV} is not set; start a server: export {PG_ENV}="$(scripts/pg_test_server.sh | tail -n1)"'


def _pg_url(base: str, schema: str) -> str:
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def fresh_database(backend: str, sqlite_file: Path) -> Iterator[str]:
    """URL of an empty database: SQLite at `sqlite_file` (its folder need not exist), or a new
    schema on the server named by CROSSWATCH_TEST_PG_URL (dropped afterwards; skip when unset)."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_url(base, schema)
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
