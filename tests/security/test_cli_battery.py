"""CLI battery (issue 12, causes 9 and 12): `crosswatch process`, `batch` and `verify` under bad input
and concurrency. One row per attack: each must be one line on stderr, a non-zero exit, no traceback
and nothing stored. Two `process` runs of one video at once: both exit 0, one run stored, the
evidence on disk matches its stored SHA-256, and no run's files are written over.

The CLI runs in-process (`service.cli.main`) with a pixel detector (`synthetic_cli`); only the
concurrency row starts processes. `scripts/security_battery.py` counts these rows.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import synthetic_cli  # noqa: E402

pytest.importorskip("av")

from service.cli import batch as batch_cli  # noqa: E402
from service.cli import main  # noqa: E402

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# -- the world the attacks run in -----------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    w = {
        "dir": d,
        "clip": synthetic_cli.make_clip(d / "clip.mp4"),
        "crossing": synthetic_cli.write_crossing(d / "c.yaml"),
    }
    w["one_px"] = _one_pixel_video(d / "one.mkv")
    w["huge_frame"] = synthetic_cli.write_crossing(d / "huge.yaml", frame_size=[1e20, 1e20])
    (d / "deep.yaml").write_text("id: x\nname: " + "[" * 2000 + "]" * 2000 + "\n")
    good = (d / "c.yaml").read_text()
    (d / "bigint.yaml").write_text(good.replace("frame_size:\n- 640", "frame_size:\n- " + "9" * 5000))
    assert "9" * 5000 in (d / "bigint.yaml").read_text()
    (d / "alias.yaml").write_text(
        "a: &a ["
        + ",".join(["x"] * 50)
        + "]\n"
        + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 50) + "]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    )
    (d / "plan_deep.yaml").write_text("[" * 2000 + "]" * 2000 + "\n")
    (d / "plan_big.yaml").write_text(f"- t: {'9' * 5000}\n  state: RED\n")
    (d / "plan_nan.yaml").write_text("- t: .nan\n  state: RED\n")
    (d / "plan_text.yaml").write_text("hello: [\n")
    (d / "plan_bin.yaml").write_bytes(b"\xff\xfe\x00\x00garbage")
    (d / "not_a_db.db").write_text("this is not a database\n" * 20)
    (d / "a_file").write_text("x")
    ro = d / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    return w


def _one_pixel_video(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=10)
        s.width = s.height = 1
        s.pix_fmt = "bgr0"
        for _ in range(20):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((1, 1, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(autouse=True)
def _pixel_detector(monkeypatch):
    from service.runs import detectors

    monkeypatch.setattr(detectors, "make_detector", lambda *_a, **_k: synthetic_cli.BrightBoxDetector())
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.delenv("CROSSWATCH_DB_URL", raising=False)
    monkeypatch.delenv("CROSSWATCH_EVIDENCE_DIR", raising=False)


def stored(db: Path) -> tuple[int, int, int]:
    """(video_runs, events, crossings) rows in a SQLite file (0s when there is no such file or table)."""
    if not db.is_file():
        return (0, 0, 0)
    with sqlite3.connect(db) as c:
        names = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
        return tuple(
            c.execute(f"select count(*) from {t}").fetchone()[0] if t in names else 0  # type: ignore[return-value]
            for t in ("video_runs", "events", "crossings")
        )


# -- the table --------------------------------------------------------------------------------------
# Each row: (id, argv builder, fragment of the one stderr line). The builder gets the world and this
# row's own folder (its database `cw.db` and evidence folder `ev` unless the row says otherwise).
Build = Callable[[dict[str, Path], Path], list[str]]


def proc(
    video: str = "{clip}",
    crossing: str = "{crossing}",
    *extra: str,
    db: str = "sqlite:///{row}/cw.db",
    ev: str = "{row}/ev",
) -> Build:
    def build(w: dict[str, Path], row: Path) -> list[str]:
        f = {k: str(v) for k, v in w.items()} | {"row": str(row)}
        return [
            "process",
            video.format(**f),
            "--crossing",
            crossing.format(**f),
            "--db",
            db.format(**f),
            "--evidence-dir",
            ev.format(**f),
            "--device",
            "cpu",
            *(a.format(**f) for a in extra),
        ]

    return build


def batch(
    video: str = "{clip}",
    crossing: str = "{crossing}",
    *extra: str,
    db: str = "sqlite:///{row}/cw.db",
    ev: str = "{row}/ev",
) -> Build:
    def build(w: dict[str, Path], row: Path) -> list[str]:
        return ["batch", *proc(video, crossing, *extra, "--workers", "1", db=db, ev=ev)(w, row)[1:]]

    return build


def verify(*extra: str, db: str = "sqlite:///{row}/cw.db", ev: str = "{row}/ev") -> Build:
    def build(w: dict[str, Path], row: Path) -> list[str]:
        f = {k: str(v) for k, v in w.items()} | {"row": str(row)}
        return ["verify", *(a.format(**f) for a in extra), "--db", db.format(**f), "--evidence-dir", ev.format(**f)]

    return build


PG_REFUSES = "postgresql+psycopg://crosswatch:s3cret-pw@127.0.0.1:1/crosswatch"
BAD_STORES = [  # (id, db, evidence, fragment) for process and batch
    ("db-in-proc", "sqlite:////proc/crosswatch-x.db", "{row}/ev", "cannot open it"),
    ("db-is-folder", "sqlite:///{dir}", "{row}/ev", "cannot open it"),
    ("db-not-a-database", "sqlite:///{dir}/not_a_db.db", "{row}/ev", "file is not a database"),
    ("db-read-only-folder", "sqlite:///{dir}/read_only/x.db", "{row}/ev", "cannot open it"),
    ("db-postgres-refuses", PG_REFUSES, "{row}/ev", "Connection refused"),
    ("db-unknown-dialect", "nonsense://x", "{row}/ev", "not a usable database URL"),
    ("db-garbage-url", ":::: \x1b[2J", "{row}/ev", "not a usable database URL"),
    ("evidence-under-proc", "sqlite:///{row}/cw.db", "/proc/crosswatch-nope/ev", "cannot create it"),
    ("evidence-is-a-file", "sqlite:///{row}/cw.db", "{dir}/a_file", "not a folder"),
    ("evidence-read-only", "sqlite:///{row}/cw.db", "{dir}/read_only/ev", "cannot create it"),
]
BAD_INPUTS = [  # (id, video, crossing, extra options, fragment) for process and batch
    ("video-1x1", "{one_px}", "{crossing}", (), "does not fit a 1x1 video"),
    ("frame-size-1e20", "{clip}", "{huge_frame}", (), "frame_size"),
    ("crossing-nested-2000", "{clip}", "{dir}/deep.yaml", (), "nested deeper than"),
    ("crossing-5000-digits", "{clip}", "{dir}/bigint.yaml", (), "5000 digits is too large"),
    ("crossing-alias-bomb", "{clip}", "{dir}/alias.yaml", (), "alias"),
    ("crossing-missing", "{clip}", "{dir}/nope.yaml", (), "nope.yaml"),
    ("crossing-is-folder", "{clip}", "{dir}", (), "Is a directory"),
    ("plan-missing", "{clip}", "{crossing}", ("--signal-plan", "{dir}/nope.yaml"), "nope.yaml"),
    ("plan-is-folder", "{clip}", "{crossing}", ("--signal-plan", "{dir}"), "{dir}"),
    ("plan-not-yaml", "{clip}", "{crossing}", ("--signal-plan", "{dir}/plan_text.yaml"), "not valid YAML"),
    ("plan-binary", "{clip}", "{crossing}", ("--signal-plan", "{dir}/plan_bin.yaml"), "not UTF-8"),
    ("plan-nested-2000", "{clip}", "{crossing}", ("--signal-plan", "{dir}/plan_deep.yaml"), "nested deeper than"),
    ("plan-5000-digits", "{clip}", "{crossing}", ("--signal-plan", "{dir}/plan_big.yaml"), "too large"),
    ("plan-nan-time", "{clip}", "{crossing}", ("--signal-plan", "{dir}/plan_nan.yaml"), "finite"),
    ("imgsz-negative", "{clip}", "{crossing}", ("--imgsz", "-5"), "--imgsz"),
    ("imgsz-huge", "{clip}", "{crossing}", ("--imgsz", "99999999"), "--imgsz"),
    ("imgsz-not-a-number", "{clip}", "{crossing}", ("--imgsz", "abc\n"), "invalid int value"),
    ("detect-fps-nan", "{clip}", "{crossing}", ("--detect-fps", "nan"), "--detect-fps"),
    ("detect-fps-inf", "{clip}", "{crossing}", ("--detect-fps", "inf"), "--detect-fps"),
    ("detect-fps-negative", "{clip}", "{crossing}", ("--detect-fps", "-1"), "--detect-fps"),
    ("device-shell-text", "{clip}", "{crossing}", ("--device", "$(rm -rf ~)\n\x1b[31m"), "--device"),
    ("start-time-offset-99h", "{clip}", "{crossing}", ("--start-time", "2026-01-01T00:00:00+99:00"), "--start-time"),
    ("start-time-year-9999", "{clip}", "{crossing}", ("--start-time", "9999-12-31T23:59:59+00:00"), "year"),
    ("start-time-bidi-newline", "{clip}", "{crossing}", ("--start-time", "\u202e2026\n\r"), "--start-time"),
    ("unknown-option-escape", "{clip}", "{crossing}", ("--\x1b]0;pwned\x07",), "unrecognized arguments"),
    ("video-name-newline-ansi", "{dir}/a\nb\x1b[31m.mp4", "{crossing}", (), "a\\nb\\x1b[31m.mp4"),
    ("video-name-100k", "{dir}/" + "v" * 100_000 + ".mp4", "{crossing}", (), "…"),
    ("crossing-nul-byte", "{clip}", "{dir}/c\x00.yaml", (), "NUL"),
    ("video-is-folder", "{dir}", "{crossing}", (), "folder"),
]
BATCH_PER_FILE = {"video-1x1", "video-name-newline-ansi", "video-name-100k"}  # these files fail, not the batch
BATCH_SKIPS = {"video-is-folder"}  # a folder is a legitimate batch input

ROWS: list[tuple[str, Build, str]] = []
for rid, db, ev, frag in BAD_STORES:
    ROWS += [(f"process-{rid}", proc(db=db, ev=ev), frag), (f"batch-{rid}", batch(db=db, ev=ev), frag)]
for rid, video, crossing, extra, frag in BAD_INPUTS:
    ROWS.append((f"process-{rid}", proc(video, crossing, *extra), frag))
    if rid not in BATCH_PER_FILE | BATCH_SKIPS:
        ROWS.append((f"batch-{rid}", batch(video, crossing, *extra), frag))
VERIFY_FRAGMENT = {"db-in-proc": "no such file", "db-is-folder": "no such file", "db-read-only-folder": "no such file"}
for rid, db, _ev, frag in BAD_STORES:
    if rid.startswith("db-"):
        ROWS.append((f"verify-{rid}", verify(db=db, ev="{dir}"), VERIFY_FRAGMENT.get(rid, frag)))
ROWS += [
    ("verify-db-missing-file", verify(db="sqlite:///{row}/missing.db", ev="{dir}"), "no such file"),
    ("verify-evidence-missing", verify(ev="{row}/no-evidence"), "no such folder"),
    ("verify-evidence-is-a-file", verify(ev="{dir}/a_file"), "no such folder"),
    ("verify-no-evidence-key", verify(ev="{dir}"), "no evidence key"),
]
READ_ONLY_ROWS = {r for r in (row[0] for row in ROWS) if "read-only" in r}


@pytest.mark.parametrize("rid,build,fragment", ROWS, ids=[r[0] for r in ROWS])
def test_cli_refuses_in_one_line(world, tmp_path, capsys, monkeypatch, record_property, rid, build, fragment):
    record_property("attack_class", f"cli {rid.split('-', 1)[0]}: bad input is one line, nothing stored")
    if IS_ROOT and rid in READ_ONLY_ROWS and not rid.startswith("verify-"):
        pytest.skip("root writes into a folder without write permission")
    monkeypatch.delenv("CROSSWATCH_EVIDENCE_KEY", raising=False)
    monkeypatch.delenv("CROSSWATCH_SECRET_KEY", raising=False)
    if rid.startswith("verify-") and rid != "verify-no-evidence-key":
        monkeypatch.setenv("CROSSWATCH_EVIDENCE_KEY", "battery-key")
    if rid.startswith("verify-db-") and rid not in ("verify-db-missing-file",):
        (world["dir"] / "evidence.key").unlink(missing_ok=True)
    if rid == "verify-no-evidence-key":
        (tmp_path / "ev").mkdir()
        main(["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'cw.db'}"])
        capsys.readouterr()
    argv = build(world, tmp_path)
    if argv[0] == "batch":
        code = batch_cli.main(argv[1:])
    else:
        code = main(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code != 0, (out, err)
    assert len(lines) == 1 and lines[0].startswith("crosswatch"), err
    assert "Traceback" not in err and "\x1b" not in err and "\u202e" not in err and len(lines[0]) <= 2100, err
    frag = fragment.format(**{k: str(v) for k, v in world.items()})
    assert frag in lines[0], lines[0]
    assert "s3cret-pw" not in err + out
    assert stored(tmp_path / "cw.db") == (0, 0, 0)


@pytest.mark.parametrize("rid", sorted(BATCH_PER_FILE))
def test_batch_fails_the_bad_file_in_one_line(world, tmp_path, capsys, record_property, rid):
    """A file no worker can process: the batch exits 1 (all failed), its line names why, nothing stored."""
    record_property("attack_class", "cli batch: a bad file fails alone, in one line")
    _id, video, crossing, extra, frag = next(r for r in BAD_INPUTS if r[0] == rid)
    argv = batch(video, crossing, *extra)(world, tmp_path)
    code = batch_cli.main(argv[1:], worker_init=synthetic_cli.install_detector)
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "Traceback" not in out + err and "\x1b" not in out + err
    failed = [ln for ln in out.splitlines() if ": failed: " in ln]
    assert len(failed) == 1 and frag.split("/")[-1][:20] in failed[0], out
    assert stored(tmp_path / "cw.db")[:2] == (0, 0)


@pytest.mark.parametrize(
    "uid",
    ["a\nb\x1b[31mred", "\u202eevil", "x" * 100_000, "'; DROP TABLE events; --"],
    ids=["newline-ansi", "bidi", "100k", "sql"],
)
def test_verify_hostile_event_ids_one_line_each(world, tmp_path, capsys, monkeypatch, record_property, uid):
    record_property("attack_class", "cli verify: hostile event ids")
    monkeypatch.setenv("CROSSWATCH_EVIDENCE_KEY", "battery-key")
    (tmp_path / "ev").mkdir()
    assert main(["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'cw.db'}"]) == 0
    capsys.readouterr()
    code = main(["verify", uid, "--db", f"sqlite:///{tmp_path / 'cw.db'}", "--evidence-dir", str(tmp_path / "ev")])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert out.splitlines()[-1] == "0 passed, 1 failed"
    assert len(out.splitlines()) == 2 and "no such event" in out and "\x1b" not in out and "\u202e" not in out
    with sqlite3.connect(tmp_path / "cw.db") as c:
        assert c.execute("select count(*) from events").fetchone()[0] == 0


# -- cause 9: two runs of one video at once ------------------------------------------------------------
def _url(db: Path | str) -> str:
    return db if isinstance(db, str) else f"sqlite:///{db}"


def _evidence_rows(db: Path | str) -> list[tuple[str, str]]:
    from sqlalchemy import text

    from service.db import make_engine

    engine = make_engine(_url(db))
    try:
        with engine.connect() as c:
            return [(r, h) for r, h in c.execute(text("select relpath, sha256 from evidence_files"))]
    finally:
        engine.dispose()


def _counts(db: Path | str) -> tuple[int, ...]:
    from sqlalchemy import text

    from service.db import make_engine

    engine = make_engine(_url(db))
    try:
        with engine.connect() as c:
            return tuple(
                c.execute(text(f"select count(*) from {t}")).scalar_one() for t in ("video_runs", "events", "crossings")
            )
    finally:
        engine.dispose()


def _check_one_clean_run(db: Path | str, ev: Path) -> None:
    from detector.evidence import sha256_file
    from service.db import make_engine
    from service.runs.evidence_check import check_evidence

    assert _counts(db) == (1, 1, 1)
    rows = _evidence_rows(db)
    assert len(rows) >= 6
    for rel, digest in rows:
        assert sha256_file(ev / rel) == digest, rel
    engine = make_engine(_url(db))
    try:
        check = check_evidence(engine, ev)
    finally:
        engine.dispose()
    assert check.ok, check.lines()
    assert not any((ev / ".attempts").iterdir()), "an attempt folder was left behind"


def test_two_processes_one_video_one_run(world, tmp_path, db_url, record_property):
    """Two `crosswatch process` of one video into one database, both past the check for a finished
    run before either commits (a barrier at their first detection): both exit 0 without a traceback,
    one says the other process stored it, one run is stored and its files match their SHA-256."""
    record_property("attack_class", "cli process: two runs of one video at once (cause 9)")
    ev = tmp_path / "ev"
    (tmp_path / "barrier").mkdir()
    env = {
        **os.environ,
        "YOLO_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CW_BARRIER": f"{tmp_path / 'barrier'}:2",
    }
    env.pop("CROSSWATCH_DB_URL", None)
    cmd = [
        sys.executable,
        str(HERE / "synthetic_cli.py"),
        "process",
        str(world["clip"]),
        "--crossing",
        str(world["crossing"]),
        "--db",
        db_url,
        "--evidence-dir",
        str(ev),
        "--device",
        "cpu",
    ]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, _out, err in results:
        assert code == 0 and "Traceback" not in err, err
    losers = [out for _c, out, _e in results if "already processed by another process: run 1" in out]
    assert len(losers) == 1 and len(losers[0].splitlines()) == 1, [r[1] for r in results]
    _check_one_clean_run(db_url, ev)


def test_a_run_stored_meanwhile_is_never_written_over(world, tmp_path, capsys, monkeypatch, record_property):
    """Deterministic: while this run detects, another run of the same video is stored in full (the
    detector's first call runs it). This run then keeps that run's files as they are (same inode,
    same bytes), stores nothing and says so in one line."""
    record_property("attack_class", "cli process: two runs of one video at once (cause 9)")
    from service.runs import detectors

    db, ev = tmp_path / "cw.db", tmp_path / "ev"
    argv = proc()(world, tmp_path)
    before: dict[str, tuple[int, int]] = {}

    class Interloper(synthetic_cli.BrightBoxDetector):
        started = False

        def detect(self, images):
            if not Interloper.started:
                Interloper.started = True
                monkeypatch.setattr(detectors, "make_detector", lambda *_a, **_k: synthetic_cli.BrightBoxDetector())
                assert main(argv) == 0
                for rel, _digest in _evidence_rows(db):
                    st = (ev / rel).stat()
                    before[rel] = (st.st_ino, st.st_mtime_ns)
            return super().detect(images)

    monkeypatch.setattr(detectors, "make_detector", lambda *_a, **_k: Interloper())
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("already processed by another process: run 1; nothing added"), out
    assert before and {rel: ((ev / rel).stat().st_ino, (ev / rel).stat().st_mtime_ns) for rel in before} == before
    _check_one_clean_run(db, ev)


def test_killed_attempt_folder_is_swept_and_stale_run_folder_cleared(world, tmp_path, capsys, record_property):
    """What a killed attempt left (its own attempt folder, files in the run's folder no row names) is
    removed by the next run, which then stores its run cleanly."""
    record_property("attack_class", "cli process: what a killed attempt left")
    from detector.config import load_crossing
    from detector.video import file_sha256
    from service.runs.request import ProcessRequest, run_key_of

    ev = tmp_path / "ev"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    left = ev / ".attempts" / f"{socket.gethostname()}-{dead.pid}-abcdef012345" / "x"
    left.mkdir(parents=True)
    (left / "composite.jpg").write_bytes(b"half")
    req = ProcessRequest.build(
        world["clip"], world["crossing"], db_url=f"sqlite:///{tmp_path / 'cw.db'}", evidence_dir=ev, device="cpu"
    )
    rel = run_key_of(load_crossing(world["crossing"]), file_sha256(world["clip"]), req.settings_hash()).evidence_dir
    (ev / rel / "red_light-7-stop-1").mkdir(parents=True)
    (ev / rel / "red_light-7-stop-1" / "frame_past.jpg").write_bytes(b"stale")
    assert main(proc()(world, tmp_path)) == 0
    _check_one_clean_run(tmp_path / "cw.db", ev)


def test_hostile_video_name_is_escaped_in_a_good_run(world, tmp_path, capsys, record_property):
    """A video whose name carries a newline and terminal escapes is processed; what is printed about
    it stays one escaped line per item (no raw escape reaches the terminal)."""
    record_property("attack_class", "cli process: hostile text in a good run's output")
    import shutil

    video = tmp_path / "cam\n\x1b[2J\u202e.mp4"
    shutil.copy(world["clip"], video)
    assert main(proc(str(video))(world, tmp_path)) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert out.splitlines()[0].startswith("cam\\n\\x1b[2J\\u202e.mp4 @ synthetic: ")
    assert stored(tmp_path / "cw.db") == (1, 1, 1)
