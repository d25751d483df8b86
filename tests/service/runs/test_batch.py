"""`crosswatch batch` (service/runs/batch/, service/runs/executors.py, service/cli/batch.py): inputs, crossing maps, file-name
times, the process pool's crash isolation, and whole batches on tiny synthetic clips.

The clips (320 x 240, 10 fps, 3 s) show a lit red lamp and one white block (a "motorbike") that
drives up over the stop line at t = 0.85 s: one red-light event each. The worker processes use a
pixel detector (the block's bounding box) installed by `install_scripted_detector`, so the real
pipeline, evidence recorder, database and job records run without the YOLO model and in seconds.
Each clip's background shade differs, so every good file has its own SHA-256.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

av = pytest.importorskip("av")

from service.cli import batch as batch_cli  # noqa: E402
from service.runs import batch, evidence_check  # noqa: E402
from service.runs.executors import LocalExecutor, Message, describe_exit  # noqa: E402

W, H, FPS, FRAMES = 320, 240, 10, 30
CRASH_SHADE = 20  # a clip with this background makes the scripted detector crash its process


# -- synthetic clips and the pixel detector -------------------------------------------------------
def paint(i: int, shade: int) -> np.ndarray:
    """Frame i (BGR): background `shade`, red lamp lit, green dark, the block's bottom at 205 - 10 i."""
    img = np.full((H, W, 3), shade, np.uint8)
    img[10:34, 280:304] = (40, 40, 250)
    img[44:68, 280:304] = (60, 60, 60)
    bottom = 205 - 10 * i
    if bottom > 0:
        img[max(0, bottom - 40) : bottom, 100:120] = 230
    return img


def make_clip(path: Path, shade: int, frames: int = FRAMES, faststart: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.options = {"crf": "12"}
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(paint(i, shade), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


CROSSING = {
    "id": "synthetic",
    "name": "合成路口",
    "frame_size": [640, 480],
    "signals": [{"id": "main", "lamps": {"red": [560, 20, 48, 48], "green": [560, 88, 48, 48]}}],
    "stop_lines": [{"id": "stop-1", "points": [[0, 240], [540, 240]], "entering": [0, -1], "signal": "main"}],
    "lanes": [{"id": "through", "polygon": [[40, 100], [520, 100], [520, 460], [40, 460]], "direction": [0, -1]}],
}


def write_crossing(path: Path, cid: str = "synthetic") -> Path:
    path.write_text(yaml.safe_dump({**CROSSING, "id": cid}, allow_unicode=True), encoding="utf-8")
    return path


class BrightBoxDetector:
    """The white block's bounding box (green channel > 200: the lamps stay below)."""

    def detect(self, images: list[np.ndarray]) -> list:
        from detector.types import Detections

        out = []
        for img in images:
            if abs(float(np.median(img[:, :10])) - CRASH_SHADE) < 6:
                os.kill(os.getpid(), signal.SIGSEGV)  # a decoder crashing its process
            ys, xs = np.nonzero(img[:, :, 1] > 200)
            if len(xs) == 0:
                out.append(Detections.empty())
                continue
            out.append(
                Detections(
                    np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32),
                    np.array([0.9], np.float32),
                    np.array(["motorcycle"], object),
                )
            )
        return out


class SlowBrightBoxDetector(BrightBoxDetector):
    """50 ms a picture: a 3 s clip takes ~1.5 s, long enough to watch its progress."""

    def detect(self, images: list[np.ndarray]) -> list:
        time.sleep(0.05 * len(images))
        return super().detect(images)


def install_scripted_detector() -> None:
    """worker_init: every video of this worker process is detected by BrightBoxDetector."""
    from service.runs import detectors

    detectors.make_detector = lambda *_a, **_k: BrightBoxDetector()


def install_slow_scripted_detector() -> None:
    from service.runs import detectors

    detectors.make_detector = lambda *_a, **_k: SlowBrightBoxDetector()


# -- bad files ---------------------------------------------------------------------------------------
def bad_zero_bytes(d: Path) -> tuple[Path, str]:
    p = d / "zero.mp4"
    p.write_bytes(b"")
    return p, "empty file (0 bytes)"


def bad_text(d: Path) -> tuple[Path, str]:
    p = d / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    return p, "not a readable video"


def bad_truncated(d: Path) -> tuple[Path, str]:
    """An 8 s noise clip with its index in front, cut in half: it opens, then decoding ends early."""
    rng = np.random.default_rng(0)
    full = d / "full.bin"
    with av.open(str(full), "w", format="mp4", options={"movflags": "+faststart"}) as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(80):
            img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = full.read_bytes()
    full.unlink()
    p = d / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])
    return p, "truncated"


def bad_codec(d: Path) -> tuple[Path, str]:
    """A good clip whose codec tags are rewritten to a codec nobody knows (a proprietary recorder)."""
    good = make_clip(d / "tmp-good.mp4", 90)
    data = good.read_bytes().replace(b"avc1", b"xq9z").replace(b"avcC", b"zzzz")
    good.unlink()
    p = d / "odd-codec.mp4"
    p.write_bytes(data)
    return p, "unsupported video codec"


def bad_missing(d: Path) -> tuple[Path, str]:
    return d / "gone.mp4", "no such file"


BAD_FILES: list[Callable[[Path], tuple[Path, str]]] = [bad_zero_bytes, bad_text, bad_truncated, bad_codec, bad_missing]


# -- shared fixtures ---------------------------------------------------------------------------------
def need_font() -> None:
    from detector.evidence import FontNotFoundError, find_cjk_font

    try:
        find_cjk_font()
    except FontNotFoundError as e:
        pytest.skip(f"evidence needs a CJK font: {e}")


def run_cli(argv: list[str]) -> tuple[int, dict]:
    """`crosswatch batch ARGV --json` in this process (workers: spawned, with the pixel detector)."""
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        code = batch_cli.main([*argv, "--json"], worker_init=install_scripted_detector)
    finally:
        sys.stdout = saved
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("{")]
    return code, json.loads(lines[-1]) if lines else {}


def make_batch(root: Path, good: int) -> tuple[list[Path], dict[Path, str]]:
    """`good` clips in root/cams/{a,b} named like a recorder (CAMxx_YYYYmmdd_HHMMSS), and the bad
    files in root/bad: (good paths, bad path -> expected reason)."""
    goods = []
    start = datetime(2026, 3, 1, 8, 0, 0)
    for i in range(good):
        name = f"CAM{i:02d}_{(start + timedelta(minutes=i)).strftime('%Y%m%d_%H%M%S')}.mp4"
        goods.append(make_clip(root / "cams" / ("a" if i % 2 else "b") / name, 40 + 5 * i))
    (root / "bad").mkdir(parents=True, exist_ok=True)
    bads = dict(make(root / "bad") for make in BAD_FILES)
    return goods, bads


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict:
    """The acceptance batch: 15 good clips (two folders) + 5 bad files = 20 inputs, run once."""
    need_font()
    root = tmp_path_factory.mktemp("batch20")
    goods, bads = make_batch(root, 15)
    crossing = write_crossing(root / "synthetic.crossing.yaml")
    db = f"sqlite:///{root / 'db' / 'cw.db'}"
    argv = [
        str(root / "cams"),
        *map(str, bads),
        "--crossing",
        str(crossing),
        "--db",
        db,
        "--evidence-dir",
        str(root / "evidence"),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--timezone",
        "+08:00",
    ]
    t0 = time.perf_counter()
    code, out = run_cli(argv)
    return {
        "root": root,
        "goods": goods,
        "bads": bads,
        "argv": argv,
        "db": db,
        "code": code,
        "out": out,
        "wall_s": time.perf_counter() - t0,
        "crossing": crossing,
    }


def _engine(db: str):
    from service.db import make_engine

    return make_engine(db)


# -- unit: inputs ------------------------------------------------------------------------------------
def test_expand_inputs_folders_lists_files_and_missing(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ("d/b.mp4", "d/a.MKV", "d/sub/c.ts", "d/readme.txt", "d/sub/img.jpg", "x.avi", "odd.bin"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# cameras\nx.avi\n\nd/sub   # a folder\n/nowhere/lost.mp4\nx.avi\n")
    got = batch.expand_inputs([tmp_path / "d", tmp_path / "list.txt", tmp_path / "odd.bin", tmp_path / "d" / "b.mp4"])
    rel = [str(p.relative_to(tmp_path)) if p.is_relative_to(tmp_path) else str(p) for p in got]
    # folder: video suffixes only, sorted, recursive; list: relative to the list, comments, de-duplicated;
    # an explicitly named file is taken whatever its name; a missing path is kept (reported later)
    assert rel == ["d/a.MKV", "d/b.mp4", "d/sub/c.ts", "x.avi", "/nowhere/lost.mp4", "odd.bin"]


def test_a_list_naming_itself_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("b.txt\n")
    (tmp_path / "b.txt").write_text("a.txt\n")
    with pytest.raises(batch.BatchError, match="names itself"):
        batch.expand_inputs([tmp_path / "a.txt"])


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/rec/CAM01_20260301_080000.mp4", "cam01"),
        ("/rec/north-gate/CAM01_x.mp4", "north"),  # a '/' pattern matches the path, and comes first
        ("/rec/cam02_20260301.mp4", "any2"),
        ("/rec/other.mp4", None),
    ],
    ids=["name", "path-first", "second-pattern", "no-match"],
)
def test_crossings_map_first_match_wins(tmp_path, path, expected):
    (tmp_path / "map.yaml").write_text('"*/north-gate/*": n.yaml\nCAM01_*: c1.yaml\n"*2_*": sub/a2.yaml\n')
    cmap = batch.CrossingMap.load(tmp_path / "map.yaml")
    names = {"cam01": tmp_path / "c1.yaml", "north": tmp_path / "n.yaml", "any2": tmp_path / "sub" / "a2.yaml"}
    assert cmap.crossing_for(Path(path)) == (names[expected] if expected else None)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("- a\n- b\n", "expected a mapping"),
        ("{}\n", "expected a mapping"),
        ("CAM*: [x]\n", "must both be text"),
        ("a: [\n", "not valid YAML"),
    ],
    ids=["list", "empty", "non-text", "broken-yaml"],
)
def test_bad_crossings_map_is_refused(tmp_path, text, fragment):
    (tmp_path / "map.yaml").write_text(text)
    with pytest.raises(batch.BatchError, match=fragment):
        batch.CrossingMap.load(tmp_path / "map.yaml")


def test_two_versions_of_one_crossing_are_refused(tmp_path):
    a = write_crossing(tmp_path / "a.yaml")
    data = {**CROSSING, "grace_s": 1.0}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(batch.BatchError, match="two different versions of crossing 'synthetic'"):
        batch.load_crossings({a, tmp_path / "b.yaml"})


# -- unit: times -------------------------------------------------------------------------------------
CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "fmt,name,expected",
    [
        ("%Y%m%d_%H%M%S", "CAM01_20260301_080000.mp4", datetime(2026, 3, 1, 8, 0, 0, tzinfo=CST)),
        ("%Y%m%d_%H%M%S", "20261231_235959-east.mkv", datetime(2026, 12, 31, 23, 59, 59, tzinfo=CST)),
        ("%Y-%m-%d %H.%M", "rec 2026-03-01 07.45.mp4", datetime(2026, 3, 1, 7, 45, tzinfo=CST)),
        ("ch*_%Y%m%d%H%M%S", "ch12_20260301081500.mp4", datetime(2026, 3, 1, 8, 15, tzinfo=CST)),
        ("%Y%m%d_%H%M%S", "CAM01_20261301_080000.mp4", None),  # month 13: no such date
        ("%Y%m%d_%H%M%S", "clip.mp4", None),
    ],
    ids=["recorder", "at-start", "separators", "wildcard", "impossible-date", "no-time"],
)
def test_time_pattern_reads_file_names(fmt, name, expected):
    assert batch.TimePattern(fmt, CST).start_of(Path(name)) == expected


@pytest.mark.parametrize(
    "fmt,fragment",
    [
        ("%Y%m%d", "needs %H %M"),
        ("%Y%m%d_%H%M%S%q", "only %Y"),
        ("%Y%m%d_%H%M_%H", "appears twice"),
    ],
    ids=["no-time-of-day", "unknown-field", "twice"],
)
def test_bad_time_patterns_are_refused(fmt, fragment):
    with pytest.raises(batch.BatchError, match=fragment):
        batch.TimePattern(fmt, CST)


@pytest.mark.parametrize("text,offset_h", [("+08:00", 8.0), ("-0530", -5.5), ("UTC", 0.0), ("Asia/Shanghai", 8.0)])
def test_parse_timezone(text, offset_h):
    tz = batch.parse_timezone(text)
    assert datetime(2026, 3, 1, tzinfo=tz).utcoffset() == timedelta(hours=offset_h)


def test_parse_timezone_refuses_unknown_zones():
    with pytest.raises(batch.BatchError, match="unknown time zone"):
        batch.parse_timezone("Mars/Olympus")


@pytest.mark.parametrize(
    "statuses,code",
    [
        (["done", "done"], batch.EXIT_OK),
        (["done", "failed"], batch.EXIT_PARTIAL),
        (["done", "cancelled"], batch.EXIT_PARTIAL),
        (["failed", "failed"], batch.EXIT_FAIL),
    ],
)
def test_exit_status(statuses, code):
    files = [batch.FileState(Path(f"/v{i}.mp4"), None, None, None, status=s) for i, s in enumerate(statuses)]
    assert batch.exit_status(files) == code


# -- unit: the process pool ----------------------------------------------------------------------------
def pool_target(payload: str, report) -> str:
    """A worker body for the pool tests: 'segv' crashes the process, 'raise' raises."""
    report("progress", 0.5)
    if payload == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if payload == "raise":
        raise ValueError("bad payload")
    return f"{payload} in {os.getpid()}"


def _collect(ex: LocalExecutor, keys: set[str], timeout: float = 60.0) -> dict[str, list[Message]]:
    got: dict[str, list[Message]] = {k: [] for k in keys}
    end = time.monotonic() + timeout
    while any(not any(m.kind in ("result", "crashed") for m in v) for v in got.values()):
        assert time.monotonic() < end, f"no result in {timeout} s: {got}"
        for m in ex.poll(0.5):
            got[m.key].append(m)
    return got


def test_a_crashing_child_fails_its_video_only():
    ex = LocalExecutor(pool_target, 2)
    try:
        ex.submit("a", "segv")
        ex.submit("b", "raise")
        got = _collect(ex, {"a", "b"})
        assert got["a"][-1] == Message("a", "crashed", "the processing child died: killed by signal 11 (SIGSEGV)")
        assert got["b"][-1] == Message("b", "crashed", "ValueError: bad payload")
        assert Message("b", "progress", 0.5) in got["b"]
        ex.submit("c", "fine")  # a fresh child replaces the dead one
        ex.submit("d", "fine")
        got = _collect(ex, {"c", "d"})
        assert [m.kind for m in got["c"]] == ["progress", "result"] and got["c"][-1].value.startswith("fine in ")
        with pytest.raises(RuntimeError, match="busy"):
            ex.submit("e", "fine")
            ex.submit("f", "fine")
            ex.submit("g", "fine")
    finally:
        ex.shutdown()
    assert ex.busy() == 0


@pytest.mark.parametrize(
    "code,text", [(-9, "killed by signal 9 (SIGKILL)"), (3, "exit status 3"), (None, "still running")]
)
def test_describe_exit(code, text):
    assert describe_exit(code) == text


# -- whole batches -----------------------------------------------------------------------------------
def test_batch_of_20_with_5_bad_files(big):
    """Every good file processed once (one run, one event each), every bad file failed with its
    reason, exit status 3 (some files failed)."""
    out, goods, bads = big["out"], big["goods"], big["bads"]
    assert big["code"] == batch.EXIT_PARTIAL == out["exit_status"]
    files = {f["path"]: f for f in out["files"]}
    assert len(files) == 20
    for g in goods:
        f = files[str(g)]
        assert (f["status"], f["events"], f["reused"], f["error"]) == ("done", 1, False, None), f
    for path, reason in bads.items():
        f = files[str(path.resolve())]
        assert f["status"] == "failed" and reason in f["error"] and str(path.name) in f["error"], f
    from sqlalchemy import func, select

    from service.models import EventRow, VideoRunRow

    engine = _engine(big["db"])
    with engine.connect() as c:
        runs = c.execute(select(VideoRunRow.video_path, VideoRunRow.status, VideoRunRow.settings_hash)).all()
        n_events = c.scalar(select(func.count()).select_from(EventRow))
    assert sorted(r[0] for r in runs) == sorted(map(str, goods)) and {r[1] for r in runs} == {"done"}
    # the runner's own run key (used to skip finished videos) is the one process_video stores
    cfg = batch.RunConfig(db_url=big["db"], evidence_root="", device="cpu")
    assert {r[2] for r in runs} == {batch.settings_hash(cfg)}
    assert n_events == 15
    check = batch.check_evidence(engine, big["root"] / "evidence")
    engine.dispose()
    assert check.ok and check.rows == check.files == 15 * 7, check.lines()


def test_batch_events_carry_the_file_name_time(big):
    from sqlalchemy import select

    from service.models import EventRow, VideoRunRow

    engine = _engine(big["db"])
    with engine.connect() as c:
        rows = c.execute(
            select(VideoRunRow.video_path, EventRow.occurred_at).join(EventRow, EventRow.run_id == VideoRunRow.id)
        ).all()
    engine.dispose()
    for path, occurred in rows:
        minute = int(Path(path).name[3:5])  # CAMxx was recorded xx minutes after 08:00 (+08:00)
        expected = datetime(2026, 3, 1, 0, minute, 0, 850000)  # stored in UTC
        assert abs(occurred.replace(tzinfo=None) - expected) < timedelta(milliseconds=2), (path, occurred)


def test_batch_is_recorded_as_a_job_visible_through_the_api(big):
    from fastapi.testclient import TestClient

    from service import accounts
    from service.api.app import create_app
    from service.settings import Settings

    settings = Settings(
        db_url=big["db"], evidence_dir=big["root"] / "evidence", secret_key="test-secret-" + "x" * 40, worker=False
    )
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.write_sessionmaker.begin() as s:
            accounts.create_user(s, "op", "correct-horse-battery", "operator")
        token = client.post("/api/auth/login", json={"username": "op", "password": "correct-horse-battery"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        jobs = client.get("/api/jobs", headers=headers).json()
        assert jobs["count"] == 1
        (job,) = jobs["data"]
        detail = client.get(f"/api/jobs/{job['uid']}", headers=headers).json()
    app.state.engine.dispose()
    assert (detail["created_by"], detail["status"], detail["crossing_id"]) == ("batch", "partial", "synthetic")
    assert detail["uid"] == big["out"]["jobs"]["synthetic"]
    items = {i["path"]: i for i in detail["items"]}
    assert len(items) == 20
    assert {i["status"] for p, i in items.items() if Path(p) in big["goods"]} == {"done"}
    assert all(
        i["progress"] == 1.0 and i["events"] == 1 and i["run_id"] for p, i in items.items() if Path(p) in big["goods"]
    )
    for path, reason in big["bads"].items():
        assert items[str(path.resolve())]["status"] == "failed" and reason in items[str(path.resolve())]["error"]


def test_rerun_skips_finished_videos_and_reopens_the_same_job(big):
    code, out = run_cli(big["argv"])
    assert code == batch.EXIT_PARTIAL
    files = {f["path"]: f for f in out["files"]}
    assert all(files[str(g)]["status"] == "done" and files[str(g)]["reused"] for g in big["goods"])
    assert out["jobs"] == big["out"]["jobs"]  # the same job, reopened
    from sqlalchemy import func, select

    from service.models import EventRow, JobRow, VideoRunRow

    engine = _engine(big["db"])
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(VideoRunRow)) == 15
        assert c.scalar(select(func.count()).select_from(EventRow)) == 15
        assert c.scalar(select(func.count()).select_from(JobRow)) == 1
        settings = c.scalar(select(JobRow.settings))
    engine.dispose()
    cached = settings["sha256"]
    assert {str(g) for g in big["goods"]} <= set(cached)  # SHA-256 by (size, mtime): not read again
    g = big["goods"][0]
    assert cached[str(g)][:2] == [g.stat().st_size, g.stat().st_mtime_ns]


def test_duplicates_crossings_map_crash_and_orphans(tmp_path):
    """One batch over two crossings: a copy of a clip is processed once (the copy reuses the run),
    a file no map pattern matches is failed, a decoder crash fails its video only, and evidence left
    by an earlier killed attempt of a video is removed before it is processed again."""
    need_font()
    a = make_clip(tmp_path / "in" / "east_1.mp4", 50)
    shutil.copy(a, tmp_path / "in" / "east_1_copy.mp4")
    make_clip(tmp_path / "in" / "west_1.mp4", 70)
    make_clip(tmp_path / "in" / "west_crash.mp4", CRASH_SHADE)
    make_clip(tmp_path / "in" / "north_1.mp4", 80)
    write_crossing(tmp_path / "east.yaml", "east")
    write_crossing(tmp_path / "west.yaml", "west")
    (tmp_path / "map.yaml").write_text("east_*: east.yaml\nwest_*: west.yaml\n")
    db, ev = f"sqlite:///{tmp_path / 'cw.db'}", tmp_path / "evidence"
    # what a killed attempt at west_1 left behind: a picture and a half-written temp file
    from detector.video import file_sha256

    cfg = batch.RunConfig(db_url=db, evidence_root=str(ev), device="cpu")
    stale = ev / batch.run_dir(
        tmp_path / "west.yaml", file_sha256(tmp_path / "in" / "west_1.mp4"), batch.settings_hash(cfg)
    )
    (stale / "red_light-7-stop-1").mkdir(parents=True)
    (stale / "red_light-7-stop-1" / "frame_past.jpg").write_bytes(b"stale")
    (stale / "red_light-7-stop-1" / ".clip.mp4.abc.tmp").write_bytes(b"half")

    code, out = run_cli(
        [
            str(tmp_path / "in"),
            "--crossings-map",
            str(tmp_path / "map.yaml"),
            "--db",
            db,
            "--evidence-dir",
            str(ev),
            "--workers",
            "2",
            "--device",
            "cpu",
            "--time-pattern",
            "",
        ]
    )
    files = {Path(f["path"]).name: f for f in out["files"]}
    assert code == batch.EXIT_PARTIAL
    assert (files["east_1.mp4"]["status"], files["east_1.mp4"]["reused"], files["east_1.mp4"]["events"]) == (
        "done",
        False,
        1,
    )
    assert (files["east_1_copy.mp4"]["status"], files["east_1_copy.mp4"]["reused"]) == ("done", True)
    assert files["east_1_copy.mp4"]["run_id"] == files["east_1.mp4"]["run_id"]
    assert (files["west_1.mp4"]["status"], files["west_1.mp4"]["crossing"]) == ("done", "west")
    assert files["west_crash.mp4"]["status"] == "failed"
    assert "killed by signal 11 (SIGSEGV)" in files["west_crash.mp4"]["error"]
    assert files["north_1.mp4"]["status"] == "failed" and "matched no pattern" in files["north_1.mp4"]["error"]
    assert all(f["start_time"] is None for f in files.values())  # --time-pattern '' turns names off
    assert set(out["jobs"]) == {"east", "west"}
    engine = _engine(db)
    check = batch.check_evidence(engine, ev)
    engine.dispose()
    assert check.ok and check.files == 2 * 7, check.lines()
    assert not (stale / "red_light-7-stop-1" / ".clip.mp4.abc.tmp").exists()


@pytest.mark.parametrize(
    "damage,field",
    [
        (lambda root, rel: (root / rel).write_bytes(b"changed"), "damaged"),
        (lambda root, rel: (root / rel).unlink(), "missing"),
        (lambda root, rel: (root / rel).with_name("extra.jpg").write_bytes(b"x"), "orphans"),
        (lambda root, rel: (root / "synthetic" / "loose.jpg").write_bytes(b"x"), "orphans"),
    ],
    ids=["changed-file", "deleted-file", "extra-file", "file-outside-runs"],
)
def test_check_evidence_finds_each_kind_of_problem(big, tmp_path, damage, field):
    root = tmp_path / "evidence"
    shutil.copytree(big["root"] / "evidence", root)
    (root / "_snapshots").mkdir()
    (root / "_snapshots" / "cache.jpg").write_bytes(b"not evidence")  # the service's cache is skipped
    engine = _engine(big["db"])
    try:
        assert batch.check_evidence(engine, root).ok
        rel = sorted(evidence_check.referenced(engine))[0]
        damage(root, rel)
        check = batch.check_evidence(engine, root)
    finally:
        engine.dispose()
    assert not check.ok
    assert len(getattr(check, field)) == 1, check.lines()
    assert sum(map(len, (check.orphans, check.missing, check.damaged))) == 1


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["x.mp4"], "exactly one of --crossing and --crossings-map"),
        ([], "no inputs"),
        (["{empty}", "--crossing", "{crossing}"], "no video files among the inputs"),
        (["x.mp4", "--crossing", "{crossing}", "--start-time", "2026-03-01T08:00:00"], "needs a UTC offset"),
        (["x.mp4", "--crossing", "{crossing}", "--time-pattern", "%Y"], "--time-pattern"),
        (["x.mp4", "--crossing", "{crossing}", "--workers", "0"], "--workers must be at least 1"),
        (["x.mp4", "--crossing", "{tmp}/nope.yaml"], "nope.yaml"),
    ],
    ids=["no-crossing", "no-inputs", "empty-folder", "naive-start", "bad-pattern", "zero-workers", "missing-crossing"],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    (tmp_path / "empty").mkdir()
    crossing = write_crossing(tmp_path / "c.yaml")
    argv = [a.format(empty=tmp_path / "empty", crossing=crossing, tmp=tmp_path) for a in argv]
    code = batch_cli.main([*argv, "--db", f"sqlite:///{tmp_path / 'cw.db'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == batch.EXIT_USAGE
    assert len(err) == 1 and err[0].startswith("crosswatch: error:") and fragment in err[0], err


# -- progress display, progress in the job record, cancel through the jobs API ----------------------
@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "log"])
def test_progress_display(tty):
    files = [batch.FileState(Path(f"/v/CAM0{i}.mp4"), None, "x", None) for i in range(3)]
    tally = batch.Tally(total=3)
    stream = io.StringIO()
    display = (
        batch.TerminalDisplay(files, tally, stream, 2) if tty else batch.LogDisplay(files, tally, stream, every_s=0)
    )
    first, bad = files[0], files[1]
    first.status, first.duration_s = "running", 1800.0
    display.started(first)
    first.progress = 0.5
    display.progress(first)
    first.status, first.events, first.wall_s = "done", 2, 60.0
    tally.finished, tally.processed_s = 1, 1800.0
    display.finished(first)
    bad.status, bad.error = "failed", "/v/CAM01.mp4: empty file (0 bytes)"
    tally.finished, tally.failed = 2, 1
    display.finished(bad)
    display.tick()
    display.close()
    out = stream.getvalue()
    assert "CAM00.mp4: done, 2 events (1800.0 s video in 60.0 s)" in out
    assert "CAM01.mp4: FAILED: /v/CAM01.mp4: empty file (0 bytes)" in out
    assert "0.50/0.50 video-h (+1 of unknown length), ETA 0m00s" in out  # fast: processed 30 min in no time
    if not tty:
        assert "crosswatch batch: progress: 2/3 videos (1 failed)" in out
        assert "\r" not in out


def _job_state(db: str) -> tuple[int | None, list[tuple[str, float]]]:
    from sqlalchemy import select

    from service.models import JobItemRow, JobRow

    engine = _engine(db)
    try:
        with engine.connect() as c:
            job_id = c.scalar(select(JobRow.id))
            items = c.execute(select(JobItemRow.status, JobItemRow.progress).order_by(JobItemRow.id)).all()
    finally:
        engine.dispose()
    return job_id, [tuple(i) for i in items]


def test_progress_shows_in_the_job_and_a_cancel_through_the_api_stops_the_batch(tmp_path):
    """While a video runs, its job item shows 0 < progress < 1; a cancel requested as the API does
    it (here: once the first video is done and the second is running) stops the batch: the running
    video is killed, the rest are cancelled, the job is cancelled."""
    import contextlib
    import threading

    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    need_font()
    for i in range(4):
        make_clip(tmp_path / "in" / f"v{i}.mp4", 50 + 10 * i)
    crossing = write_crossing(tmp_path / "c.yaml")
    db, ev = f"sqlite:///{tmp_path / 'cw.db'}", tmp_path / "evidence"
    result: dict[str, int] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            code=batch_cli.main(
                [
                    str(tmp_path / "in"),
                    "--crossing",
                    str(crossing),
                    "--db",
                    db,
                    "--evidence-dir",
                    str(ev),
                    "--workers",
                    "1",
                    "--device",
                    "cpu",
                ],
                worker_init=install_slow_scripted_detector,
            )
        )
    )
    runner.start()
    seen: list[tuple[str, float]] = []
    try:
        deadline = time.monotonic() + 60
        while not ("done" in {st for st, _ in seen} and any(st == "running" and 0 < p < 1 for st, p in seen)):
            assert time.monotonic() < deadline, f"no progress seen: {seen}"
            time.sleep(0.2)
            with contextlib.suppress(OperationalError):  # the runner is still creating the tables
                seen = _job_state(db)[1]
        from service import jobs_repo
        from service.db import make_engine, session_factory
        from service.models import JobRow

        engine = make_engine(db)
        with session_factory(engine, write=True)() as s:  # what POST /api/jobs/{uid}/cancel does
            jobs_repo.request_cancel(s, jobs_repo.get_job(s, s.scalar(select(JobRow.uid))))
            s.commit()
        engine.dispose()
    finally:
        runner.join(60)
    assert not runner.is_alive()
    assert result["code"] == batch.EXIT_PARTIAL
    engine = _engine(db)
    with engine.connect() as c:
        assert c.scalar(select(JobRow.status)) == "cancelled"
    check = batch.check_evidence(engine, ev)
    engine.dispose()
    _, items = _job_state(db)
    statuses = [st for st, _ in items]
    # the second video may just finish before the runner sees the cancel (it looks once a second)
    assert statuses[0] == "done" and statuses[-1] == "cancelled" and set(statuses) == {"done", "cancelled"}, items
    assert check.ok, check.lines()
