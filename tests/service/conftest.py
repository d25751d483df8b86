"""Database fixtures: every repository test runs on SQLite (a temporary file) and on PostgreSQL
(a fresh schema per test on the server named by CROSSWATCH_TEST_PG_URL; skipped when unset).

Start a throwaway server:  export CROSSWATCH_TEST_PG_URL="$(scripts/pg_test_server.sh | tail -n1)"
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from service.db import make_engine, upgrade  # noqa: E402
from service.repository import Repository  # noqa: E402

PG_ENV = "CROSSWATCH_TEST_PG_URL"
PG_SKIP = f"{PG_ENV} is not set; start a server: export {PG_ENV}=\"$(scripts/pg_test_server.sh | tail -n1)\""


def _pg_url(base: str, schema: str) -> str:
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """URL of an empty database (no tables)."""
    if request.param == "sqlite":
        # a folder that does not exist yet: make_engine must create it
        yield f"sqlite:///{tmp_path / 'data' / 'crosswatch.db'}"
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


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    upgrade(e)
    yield e
    e.dispose()


@pytest.fixture
def repo(engine) -> Repository:
    return Repository(engine)
