"""End to end: `crosswatch process` on the real shared clips with the real default model.

These read the clips and model fetched by `make assets` (assets/), and score events with the
reference scorer from ../shared/tools. They skip with a reason when the assets are absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest

from detector import assets
from detector.evaluation import reverse_truth
from detector.evidence import sha256_file
from detector.video import reverse_video, scaled_copy

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCORER = REPO.parent / "shared" / "tools" / "score_events.py"


def _clip(name: str) -> Path:
    path = assets.sample_clip(name)
    if not path.exists():
        pytest.skip(f"sample clip {name} not fetched (run `make assets`)")
    return path


def _model_ready() -> None:
    if not assets.resolve_model(assets.default_model_name("cpu")).exists():
        pytest.skip("default model not fetched (run `make assets`)")


def _scorer():
    if not SCORER.exists():
        pytest.skip(f"reference scorer missing at {SCORER}")
    spec = importlib.util.spec_from_file_location("score_events", SCORER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_cli(*args: str, db: Path, evidence: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "process",
            *args,
            "--db",
            f"sqlite:///{db}",
            "--evidence-dir",
            str(evidence),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )


def rows(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        names = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
        return c.execute(f"select count(*) from {table}").fetchone()[0] if table in names else 0


@pytest.fixture(scope="module")
def vn_run(tmp_path_factory):
    _model_ready()
    clip = _clip("vn_rear_stopline")
    tmp = tmp_path_factory.mktemp("vn")
    db, evidence = tmp / "cw.db", tmp / "evidence"
    proc = run_cli(
        str(clip),
        "--crossing",
        str(assets.sample_crossing("vn_rear_stopline")),
        "--json",
        "--start-time",
        "2026-03-01T08:00:00+08:00",
        db=db,
        evidence=evidence,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), db, evidence, clip


def test_vn_red_light_matches_hand_labels(vn_run):
    out, _, _, _ = vn_run
    scorer = _scorer()
    truth = json.loads(assets.sample_truth("vn_rear_stopline").read_text())
    s = scorer.score("red_light", out["events"], scorer.red_light_labels(truth))
    assert s["capture"] >= 0.9 and s["validity"] >= 0.9, s


def test_vn_json_shape_and_evidence(vn_run):
    out, _, evidence_root, _ = vn_run
    assert {"video", "crossing", "duration_s", "frames", "elapsed_s", "events", "counts"} <= set(out)
    assert out["frames"] == 914 and abs(out["duration_s"] - 30.47) < 0.1
    assert out["counts"]["traffic"], "road users crossing the stop line are counted"
    ev = out["events"][0]
    for key in ("id", "type", "track_id", "class", "t", "frame", "box", "lane", "signal", "since_red_s", "evidence"):
        assert key in ev
    assert ev["signal"] == "RED" and ev["since_red_s"] >= 0.5
    assert ev["occurred_at"].startswith("2026-03-01T08:00:0")
    kinds = set(ev["evidence"])
    assert {"frame_before", "frame_past", "frame_junction", "closeup", "signal", "composite", "clip"} <= kinds
    for f in ev["evidence"].values():
        path = Path(f["path"])
        assert path.is_file() and path.resolve().is_relative_to(evidence_root.resolve())
        assert sha256_file(path) == f["sha256"]
    with av.open(ev["evidence"]["clip"]["path"]) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert float(s.duration * s.time_base) >= 4.5  # event at ~1.9 s: 1.9 s before + >= 3 s after


def test_vn_rerun_adds_nothing(vn_run):
    out, db, evidence, clip = vn_run
    before = (rows(db, "events"), rows(db, "evidence_files"), rows(db, "traffic_counts"), rows(db, "video_runs"))
    proc = run_cli(
        str(clip),
        "--crossing",
        str(assets.sample_crossing("vn_rear_stopline")),
        "--json",
        "--start-time",
        "2026-03-01T08:00:00+08:00",
        db=db,
        evidence=evidence,
    )
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["reused"] is True
    assert [e["id"] for e in again["events"]] == [e["id"] for e in out["events"]]
    after = (rows(db, "events"), rows(db, "evidence_files"), rows(db, "traffic_counts"), rows(db, "video_runs"))
    assert after == before and before[0] == len(out["events"])


def test_motorway_wrong_way_forward_and_reversed(tmp_path):
    _model_ready()
    clip = _clip("nl_motorway_overpass")
    crossing = str(assets.sample_crossing("nl_motorway_overpass"))
    scorer = _scorer()
    truth = json.loads(assets.sample_truth("nl_motorway_overpass").read_text())

    fwd = run_cli(str(clip), "--crossing", crossing, "--json", db=tmp_path / "a.db", evidence=tmp_path / "ev")
    assert fwd.returncode == 0, fwd.stderr
    assert [e for e in json.loads(fwd.stdout)["events"] if e["type"] == "wrong_way"] == []

    rev = tmp_path / "reversed.mp4"
    reverse_video(clip, rev)
    back = run_cli(str(rev), "--crossing", crossing, "--json", db=tmp_path / "b.db", evidence=tmp_path / "ev")
    assert back.returncode == 0, back.stderr
    s = scorer.score("wrong_way", json.loads(back.stdout)["events"], scorer.wrong_way_labels(reverse_truth(truth)))
    assert s["capture"] >= 0.9 and s["validity"] >= 0.9, s


def test_dusk_clip_reversed_headlit_riders_are_two_wheelers(tmp_path):
    """Makassar at dusk, played backwards: every legal road user now rides the wrong way, most of them
    small headlit motorbikes that the COCO model boxes "car". An event named "car" for a motorbike does
    not match its label (the scorer pairs vehicle families), so it counts as a miss and a false event.
    Measured 2026-12-07: 18/28, 4 false (0.64 / 0.82; the 4 are riders the labels leave out, checked by
    eye); before the two-wheeler width fit, 11/28, 11 false."""
    _model_ready()
    clip = _clip("makassar_alauddin_dusk")
    crossing = str(assets.sample_crossing("makassar_alauddin_dusk"))
    truth = json.loads((REPO / "sample_videos" / "makassar_alauddin_dusk.truth.json").read_text())
    rev = tmp_path / "reversed.mp4"
    reverse_video(clip, rev)
    back = run_cli(str(rev), "--crossing", crossing, "--json", db=tmp_path / "b.db", evidence=tmp_path / "ev")
    assert back.returncode == 0, back.stderr
    scorer = _scorer()
    s = scorer.score("wrong_way", json.loads(back.stdout)["events"], scorer.wrong_way_labels(reverse_truth(truth)))
    assert s["positives"] == 28  # the two real wrong-way riders ride with their lane when played backwards
    assert s["capture"] >= 0.55 and s["validity"] >= 0.7, s


def test_eval_scores_a_copy_at_another_resolution_in_the_labels_pixels(tmp_path):
    """`crosswatch eval` on Makassar at 2x (1192x616) with the original crossing file and labels: the
    events come out in the video's pixels and are scored in the labels' (`frame_size`), so the two
    wrong-way riders match as at 596x308 (before, every event was 2x off its label and counted false)."""
    _model_ready()
    big = scaled_copy(_clip("makassar_alauddin_dusk"), tmp_path / "makassar_2x.mp4", (1192, 616))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "eval",
            str(big),
            "--crossing",
            str(assets.sample_crossing("makassar_alauddin_dusk")),
            "--truth",
            str(REPO / "sample_videos" / "makassar_alauddin_dusk.truth.json"),
            "--device",
            "cpu",
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "YOLO_OFFLINE": "1"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    ww = row["wrong_way"]
    assert (ww["hit"], ww["positives"], ww["false"]) == (2, 2, 0), ww


@pytest.mark.parametrize("kind", ["zero_bytes", "not_video", "corrupt", "truncated"])
def test_bad_video_one_line_error_nothing_stored(tmp_path, kind):
    _model_ready()
    clip = _clip("vn_rear_stopline")
    bad = tmp_path / f"{kind}.mp4"
    data = clip.read_bytes()
    if kind == "zero_bytes":
        bad.write_bytes(b"")
    elif kind == "not_video":
        bad.write_text("this is a text file, not a video\n" * 50)
    elif kind == "corrupt":
        bad.write_bytes(data[:4096] + bytes(len(data) - 4096))  # header kept, the rest zeroed
    else:  # truncated: the first 40 % of the file
        bad.write_bytes(data[: int(len(data) * 0.4)])
    db = tmp_path / "cw.db"
    proc = run_cli(
        str(bad), "--crossing", str(assets.sample_crossing("vn_rear_stopline")), db=db, evidence=tmp_path / "ev"
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0] and str(bad) in lines[0], proc.stderr
    assert rows(db, "events") == 0 and rows(db, "video_runs") == 0 and rows(db, "crossings") == 0


def _process_sample(name: str, tmp_path: Path) -> tuple[list[dict], dict | None]:
    """`process --json` on a sample clip: its events, and our committed labels for it (if any)."""
    _model_ready()
    proc = run_cli(
        str(_clip(name)),
        "--crossing",
        str(assets.sample_crossing(name)),
        "--json",
        db=tmp_path / "cw.db",
        evidence=tmp_path / "ev",
    )
    assert proc.returncode == 0, proc.stderr
    labels = REPO / "sample_videos" / f"{name}.truth.json"
    return json.loads(proc.stdout)["events"], json.loads(labels.read_text()) if labels.exists() else None


def test_hanoi_red_light_matches_our_labels(tmp_path):
    """A dense motorbike queue at 6 fps VFR: the four riders who went on during red, and nobody of the
    ~40 waiting with a wheel over the line (labels: sample_videos/hanoi_giangvo_langha.truth.json)."""
    scorer = _scorer()
    events, truth = _process_sample("hanoi_giangvo_langha", tmp_path)
    s = scorer.score("red_light", events, scorer.red_light_labels(truth))
    assert s["capture"] >= 0.9 and s["validity"] >= 0.9, s
    assert [e for e in events if e["type"] == "wrong_way"] == []


def test_parking_lot_nothing_happens(tmp_path):
    events, _ = _process_sample("intel_parking_lot", tmp_path)
    assert events == []


def test_killed_run_leaves_nothing_and_rerun_stores_once(tmp_path):
    """SIGKILL in the middle of a run: no row at all (the run is written in one transaction at the end);
    the re-run then stores each event exactly once, in the same evidence folders."""
    import signal
    import time

    _model_ready()
    clip = _clip("vn_rear_stopline")
    db, evidence = tmp_path / "cw.db", tmp_path / "ev"
    cmd = [
        sys.executable,
        "-m",
        "service.cli",
        "process",
        str(clip),
        "--crossing",
        str(assets.sample_crossing("vn_rear_stopline")),
        "--db",
        f"sqlite:///{db}",
        "--evidence-dir",
        str(evidence),
        "--device",
        "cpu",
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, "YOLO_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(6)  # model loaded, pipeline running (it needs > 10 s on this 2-core machine)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (rows(db, "events"), rows(db, "video_runs"), rows(db, "traffic_counts")) == (0, 0, 0)

    done = run_cli(
        str(clip), "--crossing", str(assets.sample_crossing("vn_rear_stopline")), "--json", db=db, evidence=evidence
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert rows(db, "events") == len(out["events"]) == 2
    assert rows(db, "video_runs") == 1
    folders = {p.parent for p in evidence.rglob("*.jpg")}
    assert len(folders) == 2  # one folder per event, nothing left over


def test_makassar_real_contraflow_found_and_nothing_false(tmp_path):
    """Real wrong-way riding at dusk (labels: sample_videos/makassar_alauddin_dusk.truth.json): two riders
    come down the kerb of the away lane one behind the other. The second rider only ever gets weak boxes
    (0.1-0.35, 15-30 px): the size-aware track birth and decision (tracking.py, rules/wrong_way.py) find
    it too. Both riders, once each, and no legal vehicle flagged."""
    scorer = _scorer()
    events, truth = _process_sample("makassar_alauddin_dusk", tmp_path)
    s = scorer.score("wrong_way", events, scorer.wrong_way_labels(truth))
    assert s["hit"] == 2 and s["false"] == 0, s
    assert len([e for e in events if e["type"] == "wrong_way"]) == 2, events  # no rider twice
