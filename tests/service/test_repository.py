"""Repository and schema tests; each runs on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from detector.config import Crossing
from service import db as dbmod
from service import runs_repo
from service.db import current_revision, default_db_url, head_revision, make_engine, upgrade
from service.models import (
    Base,
    CrossingRow,
    CrossingVersionRow,
    EventRow,
    TrafficCountRow,
    VideoRunRow,
)
from service.repository import Repository
from service.run_records import CountRecord, EventRecord, EvidenceRecord, RunAlreadyDone, RunStateError, hash_settings

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 17, 8, 30, 0, tzinfo=timezone(timedelta(hours=8)))  # video start, UTC+8
TABLES = ["crossings", "crossing_versions", "video_runs", "events", "evidence_files", "traffic_counts"]


# -- helpers -----------------------------------------------------------------------------------
def crossing(cid: str = "xizhimen-1", **changes) -> Crossing:
    data = {
        "id": cid,
        "name": "Xizhimen N",
        "district": "Xicheng",
        "location": {"lat": 39.94, "lon": 116.35},
        "frame_size": [1920, 1080],
        "signals": [{"id": "s1", "lamps": {"red": [100, 100, 20, 20]}}],
        "stop_lines": [{"id": "north", "points": [[100, 600], [900, 600]], "entering": [0, -1], "signal": "s1"}],
    }
    data.update(changes)
    return Crossing.model_validate(data)


def as_yaml(c: Crossing) -> str:
    return yaml.safe_dump(c.model_dump(mode="json"), sort_keys=False)


def event(key: str = "red_light-7-120", t: float = 4.0, *, n_evidence: int = 2, **changes) -> EventRecord:
    values = dict(
        event_key=key,
        type="red_light",
        track_id=7,
        class_name="car",
        t=t,
        frame=int(t * 30),
        x1=10.0,
        y1=20.0,
        x2=110.0,
        y2=220.0,
        lane="l1",
        stop_line="north",
        signal_id="s1",
        signal_state="RED",
        signal_source="lamp",
        since_red_s=3.5,
        confidence=0.9,
        evidence=[
            EvidenceRecord(kind=f"k{i}", relpath=f"{key}/{i}.jpg", sha256=f"{i:064x}", size=1000 + i, mime="image/jpeg")
            for i in range(n_evidence)
        ],
    )
    values.update(changes)
    return EventRecord(**values)


def new_run(repo: Repository, *, sha: str = "a" * 64, settings: dict | None = None, start_time=T0) -> tuple[int, int]:
    info = repo.upsert_crossing(crossing(), as_yaml(crossing()))
    settings = settings if settings is not None else {"conf": 0.25, "imgsz": 1280}
    run_id = repo.start_run(
        video_path="/videos/a.mp4",
        video_sha256=sha,
        crossing_version_id=info.version_id,
        model="yolo11s",
        settings=settings,
        settings_hash=hash_settings(settings),
        start_time=start_time,
    )
    return run_id, info.version_id


def finish(repo: Repository, run_id: int, events=(), counts=()) -> list[str]:
    return repo.finish_run(
        run_id,
        events=list(events),
        counts=list(counts),
        duration_s=60.0,
        frames=1800,
        elapsed_s=12.5,
        timings={"detect": 8.0, "track": 1.0},
    )


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t: c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, for 'changes nothing' checks."""
    out = {}
    with engine.connect() as c:
        for t in TABLES:
            out[t] = sorted(tuple(map(repr, r)) for r in c.execute(text(f"SELECT * FROM {t}")))
    return out


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


# -- schema / engine ---------------------------------------------------------------------------
def schema_diff(engine, metadata: MetaData) -> list:
    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, metadata)


def test_migration_matches_models(db_url):
    engine = make_engine(db_url)
    try:
        assert dbmod.table_names(engine) == []
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(dbmod.table_names(engine)) == set(Base.metadata.tables) | {"alembic_version"}
        assert schema_diff(engine, Base.metadata) == []
    finally:
        engine.dispose()


def _extra_column(md: MetaData) -> None:
    md.tables["events"].append_column(Column("extra", Integer))


def _extra_index(md: MetaData) -> None:
    Index("ix_events_track_id", md.tables["events"].c.track_id)


def _dropped_table(md: MetaData) -> None:
    md.remove(md.tables["traffic_counts"])


@pytest.mark.parametrize("drift", [_extra_column, _extra_index, _dropped_table], ids=lambda f: f.__name__)
def test_schema_comparison_sees_drift(engine, drift):
    """The migration == models check is able to fail: a model the migration lacks shows up."""
    md = MetaData(naming_convention=Base.metadata.naming_convention)
    for t in Base.metadata.sorted_tables:
        t.to_metadata(md)
    drift(md)
    assert schema_diff(engine, md) != []


def test_upgrade_is_idempotent(engine):
    before = snapshot(engine)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert snapshot(engine) == before
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1


def test_concurrent_upgrade_from_several_processes(db_url, tmp_path):
    """Processes started together all call upgrade() on the same empty database; all succeed."""
    go = tmp_path / "go"
    code = """
        import sys, time, pathlib
        from service.db import upgrade
        ready, go = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
        ready.touch()
        while not go.exists():
            time.sleep(0.005)
        upgrade(sys.argv[1])
    """
    n = 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), db_url, str(tmp_path / f"r{i}"), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"r{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert [rc for rc, _ in results] == [0] * n, "\n".join(err for _, err in results)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert schema_diff(engine, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("pragma", "expected"), [("journal_mode", "wal"), ("foreign_keys", 1), ("busy_timeout", 30000)]
)
def test_sqlite_connection_settings(tmp_path, pragma, expected):
    path = tmp_path / "new" / "folder" / "cw.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        for _ in range(2):  # every pooled connection, not just the first
            with engine.connect() as c:
                assert c.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(repo):
    with pytest.raises(IntegrityError):
        with repo.engine.begin() as c:
            c.execute(
                insert(TrafficCountRow).values(
                    crossing_id="nope",
                    crossing_version_id=999,
                    run_id=999,
                    stop_line="x",
                    class_name="car",
                    minute_start=0,
                    count=1,
                )
            )


def test_sqlite_upgrade_runs_with_foreign_keys_off_then_restores_them(tmp_path, monkeypatch):
    """Batch migrations recreate tables; with keys on, their DROP would cascade-delete children."""
    from alembic import command

    seen = []
    real = command.upgrade

    def spy(cfg, revision):
        conn = cfg.attributes["connection"]
        seen.append(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())
        real(cfg, revision)

    monkeypatch.setattr(command, "upgrade", spy)
    engine = make_engine(f"sqlite:///{tmp_path / 'cw.db'}", pool_size=1, max_overflow=0)
    try:
        upgrade(engine)
        assert seen == [0]
        with engine.connect() as c:  # the pooled connection got its keys back
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("sqlite:////srv/cw/x.db", "sqlite:////srv/cw/x.db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        (None, f"sqlite:///{ROOT / 'data' / 'crosswatch.db'}"),
    ],
)
def test_default_db_url(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("CROSSWATCH_DB_URL", raising=False)
    else:
        monkeypatch.setenv("CROSSWATCH_DB_URL", env)
    assert default_db_url() == expected


@pytest.mark.parametrize(
    "url", ["postgresql://u@127.0.0.1/db", "postgres://u@127.0.0.1/db", "postgresql+psycopg://u@127.0.0.1/db"]
)
def test_postgres_urls_use_psycopg3(url):
    engine = make_engine(url)  # no connection is made
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")


# -- crossings and versions --------------------------------------------------------------------
A = crossing()
B = crossing(grace_s=1.0)  # any change to the config is a new version
C = crossing(name="Xizhimen North", district=None, location=None)


@pytest.mark.parametrize(
    ("configs", "versions", "n_rows"),
    [
        ([A], [1], 1),
        ([A, A], [1, 1], 1),
        ([A, B], [1, 2], 2),
        ([A, B, A], [1, 2, 1], 2),  # back to an earlier config: its version again
        ([A, B, C, C, B], [1, 2, 3, 3, 2], 3),
    ],
    ids=["one", "same-twice", "changed", "reverted", "mixed"],
)
def test_crossing_versions(repo, configs, versions, n_rows):
    infos = [repo.upsert_crossing(c, as_yaml(c)) for c in configs]
    assert [i.version for i in infos] == versions
    # the same config always maps to the same version row
    by_hash: dict[str, int] = {}
    for c, i in zip(configs, infos):
        assert by_hash.setdefault(c.geometry_hash(), i.version_id) == i.version_id
    assert [v.version for v in repo.crossing_versions(A.id)] == list(range(1, n_rows + 1))
    for c, i in zip(configs, infos):
        assert repo.find_crossing_version(c.id, c.geometry_hash()) == i
    last, last_info = configs[-1], infos[-1]
    with repo._read() as s:
        row = s.get_one(CrossingRow, A.id)
        assert row.current_version_id == last_info.version_id
        assert (row.name, row.district) == (last.name, last.district)
        assert (row.lat, row.lon) == ((last.location.lat, last.location.lon) if last.location else (None, None))
        ver = s.get_one(CrossingVersionRow, last_info.version_id)
        assert ver.geometry_hash == last.geometry_hash()
        assert yaml.safe_load(ver.config_yaml)["name"] == last.name


def test_find_crossing_version_writes_nothing(repo):
    before = snapshot(repo.engine)
    assert repo.find_crossing_version(A.id, A.geometry_hash()) is None
    assert snapshot(repo.engine) == before


def test_versions_are_numbered_per_crossing(repo):
    x1 = repo.upsert_crossing(crossing("x"), "x: 1")
    y1 = repo.upsert_crossing(crossing("y"), "y: 1")
    x2 = repo.upsert_crossing(crossing("x", grace_s=2.0), "x: 2")
    assert (x1.version, y1.version, x2.version) == (1, 1, 2)
    assert len({x1.version_id, y1.version_id, x2.version_id}) == 3


def test_same_config_again_changes_nothing(repo):
    repo.upsert_crossing(A, as_yaml(A))
    before = snapshot(repo.engine)
    assert repo.upsert_crossing(A, as_yaml(A)).version == 1
    assert snapshot(repo.engine) == before


# -- runs --------------------------------------------------------------------------------------
def test_start_finish_and_reprocessing_adds_nothing(repo):
    run_id, version_id = new_run(repo)
    settings = {"conf": 0.25, "imgsz": 1280}
    key = ("a" * 64, version_id, hash_settings(settings))
    assert repo.find_run(*key).status == "running"
    evs = [event("red_light-7-120", 4.0), event("wrong_way-9-300", 10.0, type="wrong_way", n_evidence=3)]
    uids = finish(repo, run_id, evs, [CountRecord("north", "car", 0, 5), CountRecord("north", "bus", 1, 1)])

    assert len(uids) == 2 and len(set(uids)) == 2 and all(len(u) == 32 and int(u, 16) >= 0 for u in uids)
    run = repo.find_run(*key)
    assert (run.id, run.status, run.frames, run.duration_s, run.elapsed_s) == (run_id, "done", 1800, 60.0, 12.5)
    assert run.timings == {"detect": 8.0, "track": 1.0} and run.settings == settings
    assert run.finished_at is not None and run.start_time == T0
    assert table_counts(repo.engine) == {
        "crossings": 1,
        "crossing_versions": 1,
        "video_runs": 1,
        "events": 2,
        "evidence_files": 5,
        "traffic_counts": 2,
    }
    rows = repo.run_events(run_id)
    assert [(r.uid, r.event_key, r.type, len(r.evidence)) for r in rows] == [
        (uids[0], "red_light-7-120", "red_light", 2),
        (uids[1], "wrong_way-9-300", "wrong_way", 3),
    ]
    assert rows[0].occurred_at == T0 + timedelta(seconds=4.0)
    assert rows[0].review_status == "pending" and rows[0].crossing_id == A.id
    assert rows[0].box == (10.0, 20.0, 110.0, 220.0)

    before = snapshot(repo.engine)
    assert repo.upsert_crossing(A, as_yaml(A)).version_id == version_id
    with pytest.raises(RunAlreadyDone) as e:
        repo.start_run(
            video_path="/elsewhere/a.mp4",
            video_sha256=key[0],
            crossing_version_id=version_id,
            model="other",
            settings=settings,
            settings_hash=key[2],
            start_time=None,
        )
    assert e.value.run.id == run_id
    with pytest.raises(RunAlreadyDone):
        finish(repo, run_id, [event("red_light-1-1")])
    with pytest.raises(RunAlreadyDone):
        repo.fail_run(run_id, "late")
    assert snapshot(repo.engine) == before


@pytest.mark.parametrize(
    "change",
    [{"sha": "b" * 64}, {"settings": {"conf": 0.3, "imgsz": 1280}}],
    ids=["other-video", "other-settings"],
)
def test_other_video_or_settings_is_a_new_run(repo, change):
    run_id, _ = new_run(repo)
    finish(repo, run_id, [event()])
    other, _ = new_run(repo, **change)
    assert other != run_id
    assert repo.get_run(other).status == "running"


def _inject_stale_rows(repo: Repository, run_id: int) -> None:
    """Rows a crashed writer could have left behind for a run that never finished."""
    with repo._write.begin() as s:
        run = s.get_one(VideoRunRow, run_id)
        ver = s.get_one(CrossingVersionRow, run.crossing_version_id)
        s.add(runs_repo._event_row(event("red_light-1-1", 1.0), run, ver))
        s.add(
            TrafficCountRow(
                crossing_id=ver.crossing_id,
                crossing_version_id=ver.id,
                run_id=run_id,
                stop_line="north",
                class_name="car",
                minute_start=0,
                count=99,
            )
        )


@pytest.mark.parametrize("how", ["crashed", "failed", "crashed-with-rows", "failed-with-rows"])
def test_restart_after_crash_or_failure_is_clean(repo, how):
    run_id, version_id = new_run(repo)
    if "rows" in how:
        _inject_stale_rows(repo, run_id)
        assert repo.count_events(run_id=run_id) == 1
    if how.startswith("failed"):
        repo.fail_run(run_id, "decoder exploded")
        info = repo.get_run(run_id)
        assert (info.status, info.error) == ("failed", "decoder exploded")
        with pytest.raises(RunStateError):
            finish(repo, run_id, [event()])

    again, _ = new_run(repo, start_time=None)
    assert again == run_id
    info = repo.get_run(run_id)
    assert (info.status, info.error, info.finished_at, info.start_time) == ("running", None, None, None)
    assert table_counts(repo.engine) == {
        "crossings": 1,
        "crossing_versions": 1,
        "video_runs": 1,
        "events": 0,
        "evidence_files": 0,
        "traffic_counts": 0,
    }
    uids = finish(repo, run_id, [event("red_light-1-1", 1.0)], [CountRecord("north", "car", 0, 2)])
    assert [e.uid for e in repo.run_events(run_id)] == uids
    assert repo.run_events(run_id)[0].occurred_at is None  # start time unknown this time
    assert [c.count for c in repo.run_counts(run_id)] == [2]


def _boom(*_a, **_k):
    raise RuntimeError("crash after the events were written, before commit")


@pytest.mark.parametrize(
    ("events", "counts", "patch", "error"),
    [
        ([event("k1", 1.0), event("k2", 2.0), event("k1", 3.0)], [], None, IntegrityError),  # duplicate key
        (
            [event("k1", 1.0), event("k2", 2.0, evidence=[EvidenceRecord("clip", "k2.mp4", None, 1, "video/mp4")])],
            [],
            None,
            IntegrityError,
        ),  # NOT NULL in an evidence row
        ([event("k1", 1.0)], [CountRecord("north", "car", 0, -1)], None, IntegrityError),  # CHECK count >= 0
        ([event("k1", 1.0), event("k2", 2.0)], [CountRecord("north", "car", 0, 1)], _boom, RuntimeError),
    ],
    ids=["duplicate-event-key", "bad-evidence", "bad-count", "exception-before-commit"],
)
def test_finish_run_is_atomic(repo, monkeypatch, events, counts, patch, error):
    run_id, _ = new_run(repo)
    if patch is not None:
        monkeypatch.setattr(runs_repo, "_upsert_counts", patch)
    with pytest.raises(error):
        finish(repo, run_id, events, counts)
    assert repo.get_run(run_id).status == "running"
    assert {
        t: n for t, n in table_counts(repo.engine).items() if t in ("events", "evidence_files", "traffic_counts")
    } == {"events": 0, "evidence_files": 0, "traffic_counts": 0}
    monkeypatch.undo()
    uids = finish(repo, run_id, [event("k1", 1.0)], [CountRecord("north", "car", 0, 1)])  # the retry works
    assert len(uids) == 1 and repo.get_run(run_id).status == "done"


def test_process_killed_inside_finish_run_leaves_nothing(repo, db_url):
    run_id, _ = new_run(repo)
    code = """
        import os, sys
        from service.db import make_engine
        from service import runs_repo
        from service.repository import Repository
        from service.run_records import EventRecord, CountRecord
        def die(*a, **k):
            os._exit(17)  # no rollback, no cleanup: like a kill -9 or a power cut
        runs_repo._upsert_counts = die
        ev = [EventRecord(event_key=f"k{i}", type="red_light", track_id=i, class_name="car", t=float(i), frame=i,
                          x1=0, y1=0, x2=1, y2=1) for i in range(50)]
        Repository(make_engine(sys.argv[1])).finish_run(int(sys.argv[2]), events=ev,
            counts=[CountRecord("north", "car", 0, 1)], duration_s=1, frames=1, elapsed_s=1, timings={})
    """
    proc = run_python(code, db_url, str(run_id))
    assert proc.returncode == 17, proc.stderr
    assert repo.count_events(run_id=run_id) == 0
    assert repo.get_run(run_id).status == "running"
    assert new_run(repo)[0] == run_id  # and the restart works (the dead writer's lock is gone)


# -- counts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([[("north", "car", 0, 2), ("north", "car", 0, 3)]], [("north", "car", 0, 5)]),
        (
            [[("north", "car", 0, 2), ("north", "bus", 0, 1), ("north", "car", 1, 4), ("south", "car", 0, 7)]],
            [("north", "bus", 0, 1), ("north", "car", 0, 2), ("north", "car", 1, 4), ("south", "car", 0, 7)],
        ),
        (
            [[("north", "car", 0, 2)], [("north", "car", 0, 3), ("north", "car", 1, 1)]],  # add_counts, then finish
            [("north", "car", 0, 5), ("north", "car", 1, 1)],
        ),
    ],
    ids=["merged-in-one-batch", "distinct-keys", "streamed-then-finished"],
)
def test_counts_are_upserted_one_row_per_key(repo, batches, expected):
    run_id, _ = new_run(repo)
    for batch in batches[:-1]:
        repo.add_counts(run_id, [CountRecord(*c) for c in batch])
    finish(repo, run_id, [], [CountRecord(*c) for c in batches[-1]])
    got = repo.run_counts(run_id)
    assert [(c.stop_line, c.class_name, c.minute_start, c.count) for c in got] == expected
    assert all(c.minute_at == T0 + timedelta(minutes=c.minute_start) for c in got)
    assert table_counts(repo.engine)["traffic_counts"] == len(expected)


def test_counts_unique_key_is_enforced_by_the_database(repo):
    run_id, version_id = new_run(repo)
    finish(repo, run_id, [], [CountRecord("north", "car", 0, 1)])
    row = dict(
        crossing_id=A.id,
        crossing_version_id=version_id,
        run_id=run_id,
        stop_line="north",
        class_name="car",
        minute_start=0,
        count=1,
    )
    with pytest.raises(IntegrityError):
        with repo.engine.begin() as c:
            c.execute(insert(TrafficCountRow).values(**row))
    with repo.engine.begin() as c:  # another minute is fine
        c.execute(insert(TrafficCountRow).values(**{**row, "minute_start": 1}))


# -- queries and types -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, 4),
        ({"type": "red_light"}, 3),
        ({"type": ["red_light", "wrong_way"]}, 4),
        ({"class_name": "motorcycle"}, 1),
        ({"review_status": "pending"}, 4),
        ({"review_status": "confirmed"}, 0),
        ({"crossing_id": "xizhimen-1", "lane": None}, 1),
        ({"since": T0 + timedelta(seconds=5)}, 2),
        ({"since": T0 + timedelta(seconds=5), "until": T0 + timedelta(seconds=20)}, 1),
    ],
)
def test_count_events_filters(repo, filters, expected):
    run_id, _ = new_run(repo)
    finish(
        repo,
        run_id,
        [
            event("a", 1.0),
            event("b", 4.0, class_name="motorcycle"),
            event("c", 10.0, lane=None),
            event("d", 30.0, type="wrong_way", signal_state=None, since_red_s=None),
        ],
    )
    assert repo.count_events(run_id=run_id, **filters) == expected


def test_count_events_rejects_unknown_filter(repo):
    with pytest.raises(TypeError, match="unknown filter"):
        repo.count_events(colour="red")


def test_times_are_timezone_aware_and_naive_ones_are_refused(repo):
    run_id, _ = new_run(repo)
    info = repo.get_run(run_id)
    assert info.start_time == T0 and info.start_time.utcoffset() == timedelta(0)
    assert info.started_at.tzinfo is not None
    with pytest.raises(StatementError, match="naive datetime"):
        new_run(repo, sha="c" * 64, start_time=datetime(2024, 5, 17, 8, 30))


def test_enum_values_are_stored_as_strings(repo):
    from detector.types import SignalState, ViolationType  # str enums of the detector

    run_id, _ = new_run(repo)
    finish(repo, run_id, [event(type=ViolationType.WRONG_WAY, signal_state=SignalState.GREEN)])
    assert repo.count_events(type=ViolationType.WRONG_WAY) == 1
    (row,) = repo.run_events(run_id)
    assert (row.type, row.signal_state) == ("wrong_way", "GREEN")
    with repo.engine.connect() as c:
        assert c.execute(select(EventRow.type, EventRow.signal_state)).one() == ("wrong_way", "GREEN")


def test_event_record_from_violation(repo):
    from detector.types import SignalState, ViolationEvent, ViolationType

    ev = ViolationEvent(
        type=ViolationType.RED_LIGHT,
        track_id=3,
        class_name="motorcycle",
        t=2.5,
        frame=75,
        box=(1, 2, 3, 4),
        lane="l2",
        signal_id="s1",
        signal=SignalState.RED,
        signal_source="plan",
        since_red_s=1.25,
        stop_line="north",
        confidence=0.8,
    )
    rec = EventRecord.from_violation(ev, [EvidenceRecord("clip", "e/clip.mp4", "f" * 64, 10, "video/mp4")])
    run_id, _ = new_run(repo)
    (uid,) = finish(repo, run_id, [rec])
    (row,) = repo.run_events(run_id)
    assert (row.uid, row.event_key, row.type, row.signal_state, row.box, row.stop_line, row.since_red_s) == (
        uid,
        "red_light-3-75",
        "red_light",
        "RED",
        (1.0, 2.0, 3.0, 4.0),
        "north",
        1.25,
    )
    assert [f.relpath for f in row.evidence] == ["e/clip.mp4"]


def test_hash_settings_is_canonical():
    assert hash_settings({"a": 1, "b": [1, 2]}) == hash_settings({"b": [1, 2], "a": 1})
    assert hash_settings({"a": 1}) != hash_settings({"a": 2})
