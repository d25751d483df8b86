"""The same batch on the Ray executor (a local Ray instance, 2 CPUs) gives the same runs, events,
counts and evidence as the local process pool. The Ray run writes to PostgreSQL when
CROSSWATCH_TEST_PG_URL is set (as a cluster would: every node reaches one database), else SQLite.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

ray = pytest.importorskip("ray", reason="the Ray executor needs `ray` (pip install -e '.[dev]' or '.[cluster]')")

import test_batch as tb  # noqa: E402

PG_ENV = "CROSSWATCH_TEST_PG_URL"


@contextmanager
def ray_db(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL schema when a test server is named, else a SQLite file."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / 'ray.db'}"
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from service.db import make_engine

    schema = f"cw_batch_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(base).set(drivername="postgresql+psycopg")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def _kill_restart():
    spec = importlib.util.spec_from_file_location("kill_restart", ROOT / "scripts" / "kill_restart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_restart"] = module
    spec.loader.exec_module(module)
    return module


def test_ray_executor_gives_the_same_events_as_the_local_pool(tmp_path, monkeypatch):
    tb.need_font()
    goods = [tb.make_clip(tmp_path / "in" / f"CAM{i:02d}_20260301_08{i:02d}00.mp4", 45 + 11 * i) for i in range(3)]
    bad, reason = tb.bad_zero_bytes(tmp_path / "in")
    crossing = tb.write_crossing(tmp_path / "synthetic.crossing.yaml")
    common = [
        str(tmp_path / "in"),
        "--crossing",
        str(crossing),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--timezone",
        "+08:00",
    ]
    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    code, local = tb.run_cli([*common, "--db", local_db, "--evidence-dir", str(tmp_path / "ev-local")])
    assert code == 3
    # Ray workers are started by the local raylet with this environment: they find test_batch's
    # pixel detector (the worker_init) on PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]))
    kr = _kill_restart()
    with ray_db(tmp_path) as db:
        code, out = tb.run_cli([*common, "--executor", "ray", "--db", db, "--evidence-dir", str(tmp_path / "ev-ray")])
        assert not ray.is_initialized()  # the runner shut its local Ray instance down
        assert code == 3
        files = {Path(f["path"]).name: f for f in out["files"]}
        assert all(files[g.name]["status"] == "done" and files[g.name]["events"] == 1 for g in goods), files
        assert files[bad.name]["status"] == "failed" and reason in files[bad.name]["error"]
        assert kr.compare(kr.fingerprint(local_db), kr.fingerprint(db)) == []
        ok, lines = kr.check_evidence(db, tmp_path / "ev-ray")
        assert ok, lines
    assert len(kr.fingerprint(local_db)) == len(goods)
