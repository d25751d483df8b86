"""Database fixtures: every repository test runs on SQLite (a temporary file) and on PostgreSQL
(a fresh schema per test on the server named by CROSSWATCH_TEST_PG_URL; skipped when unset).

Start a throwaway server:  export CROSSWATCH_TEST_PG_URL="$(scripts/pg_test_server.sh | tail -n1)"
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from pg_schemas import fresh_database  # noqa: E402  (tests/service is on sys.path: rootdir conftest)

from service.db import make_engine, upgrade  # noqa: E402
from service.repository import Repository  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """URL of an empty database (no tables); the SQLite folder does not exist yet: make_engine
    must create it."""
    with fresh_database(request.param, tmp_path / "data" / "crosswatch.db") as url:
        yield url


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    upgrade(e)
    yield e
    e.dispose()


@pytest.fixture
def repo(engine) -> Repository:
    return Repository(engine)
