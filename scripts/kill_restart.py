#!/usr/bin/env python
"""Kill `crosswatch batch` with SIGKILL at random moments, restart it each time, and prove the
result is exactly one clean run: same runs, same events, same evidence, nothing twice, no orphan
evidence file, no evidence row without its file.

    .venv/bin/python scripts/kill_restart.py                    # 10 kills, the default batch below
    .venv/bin/python scripts/kill_restart.py --kills 3 --seed 7 --workdir /tmp/kr --json

The default batch (built in --workdir) has 20 inputs: the five sample clips with their crossing
files (after `make assets`), ten small synthetic clips and five bad files (zero bytes, text
renamed .mp4, truncated, unsupported codec, audio only), mapped to crossings by a crossings map.
Each phase runs the real command in a child process, `python -m service.cli batch ...`:

1. reference: the batch once, uninterrupted, into its own database and evidence folder;
2. kills: the batch into a second database, SIGKILLed after a random delay (uniform in
   [--min-s, --max-s]; --max-s defaults to half the reference's wall time, times the share of
   videos not yet done), restarted, --kills times (a start that finishes the whole batch before
   its kill ends the kills early);
3. final: the batch once more, to the end;
4. the two databases are compared run by run and event by event (type, track, time, frame, box,
   class, wall-clock time, every evidence file's kind, path, size and SHA-256), traffic counts
   too; and `service.runs.evidence_check.check_evidence` checks the second evidence folder against its
   database (every file referenced, every referenced file present and unchanged).

Exit status 0 when everything matches, 1 otherwise. `tests/service/runs/test_batch_kill.py` runs the same
functions with a scripted detector and fewer kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_RUNNER = [sys.executable, "-m", "service.cli", "batch"]


@dataclass
class Attempt:
    delay_s: float  # when the kill was due
    killed: bool  # False: the batch ended before its kill
    exit_status: int | None  # the batch's own status when it ended by itself


@dataclass
class Report:
    reference_wall_s: float
    reference_exit: int
    reference_outcome: dict[str, int] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    final_exit: int | None = None
    final_wall_s: float = 0.0
    final_outcome: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    events: int = 0
    differences: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    evidence_ok: bool = False

    @property
    def kills(self) -> int:
        return sum(a.killed for a in self.attempts)

    @property
    def ok(self) -> bool:
        return not self.differences and self.evidence_ok and self.final_exit == self.reference_exit


# -- running the batch -------------------------------------------------------------------------------
def batch_argv(
    inputs: Sequence[str], selector: Sequence[str], db: str, evidence: Path, extra: Sequence[str]
) -> list[str]:
    return [*inputs, *selector, "--db", db, "--evidence-dir", str(evidence), *extra]


def run_to_end(
    runner: Sequence[str], argv: Sequence[str], log: Path, timeout_s: float = 3600
) -> tuple[int, float, dict[str, int]]:
    """Run the batch (`--json`) to its end; (exit status, wall seconds, videos per outcome:
    processed / reused / failed, from its summary)."""
    t0 = time.perf_counter()
    with open(log, "ab") as err:
        done = subprocess.run(
            [*runner, *argv, "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            timeout=timeout_s,
            env=_env(),
        )
    wall = time.perf_counter() - t0
    lines = [ln for ln in done.stdout.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
    files = json.loads(lines[-1])["files"] if lines else []
    outcome = Counter("reused" if f["reused"] else "processed" if f["status"] == "done" else "failed" for f in files)
    return done.returncode, wall, dict(outcome)


def run_and_kill(runner: Sequence[str], argv: Sequence[str], delay_s: float, log: Path) -> Attempt:
    """Start the batch, SIGKILL the runner (only the runner: its workers die with it) after
    `delay_s`, and wait until it is gone."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*runner, *argv], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, env=_env()
        )
        try:
            rc = proc.wait(timeout=delay_s)
            return Attempt(round(delay_s, 2), False, rc)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return Attempt(round(delay_s, 2), True, None)


def _env() -> dict[str, str]:
    env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _outcome(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("processed", "reused", "failed"))


# -- comparing databases -----------------------------------------------------------------------------
def fingerprint(db_url: str) -> dict[tuple, dict[str, Any]]:
    """Every run, keyed by (video SHA-256, crossing, settings hash): its status, traffic counts and
    events (each with its evidence files), in a form that compares across databases."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload, sessionmaker

    from service.db import make_engine
    from service.models import CrossingVersionRow, EventRow, TrafficCountRow, VideoRunRow

    engine = make_engine(db_url)
    out: dict[tuple, dict[str, Any]] = {}
    try:
        with sessionmaker(engine)() as s:
            for run in s.scalars(select(VideoRunRow)):
                crossing = s.get_one(CrossingVersionRow, run.crossing_version_id).crossing_id
                key = (run.video_sha256, crossing, run.settings_hash)
                if key in out:
                    out[key]["duplicate_runs"] += 1
                    continue
                events = s.scalars(
                    select(EventRow)
                    .where(EventRow.run_id == run.id)
                    .options(selectinload(EventRow.evidence))
                    .order_by(EventRow.event_key)
                ).all()
                counts = s.execute(
                    select(
                        TrafficCountRow.stop_line,
                        TrafficCountRow.class_name,
                        TrafficCountRow.minute_start,
                        TrafficCountRow.count,
                    ).where(TrafficCountRow.run_id == run.id)
                ).all()
                out[key] = {
                    "status": run.status,
                    "duplicate_runs": 0,
                    "counts": sorted(tuple(c) for c in counts),
                    "events": [
                        (
                            e.event_key,
                            e.type,
                            e.track_id,
                            e.class_name,
                            round(e.t, 3),
                            e.frame,
                            tuple(round(v, 1) for v in (e.x1, e.y1, e.x2, e.y2)),
                            _utc(e.occurred_at),
                            tuple(sorted((f.kind, f.relpath, f.size, f.sha256) for f in e.evidence)),
                        )
                        for e in events
                    ],
                }
    finally:
        engine.dispose()
    return out


def _utc(t: datetime | None) -> str | None:
    """UTC, without an offset: SQLite hands back naive UTC, PostgreSQL aware datetimes."""
    if t is None:
        return None
    return (t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t).isoformat()


def compare(reference: dict[tuple, dict], result: dict[tuple, dict]) -> list[str]:
    """One line per difference between two fingerprints (empty: identical)."""
    diffs: list[str] = []
    for key in sorted(reference.keys() | result.keys()):
        diffs.extend(_run_differences(f"video {key[0][:12]} @ {key[1]}", reference.get(key), result.get(key)))
    return diffs


def _run_differences(name: str, a: dict | None, b: dict | None) -> list[str]:
    diffs: list[str] = []
    if a is None or b is None:
        return [f"{name}: run only in the {'result' if a is None else 'reference'}"]
    if b["duplicate_runs"] or a["duplicate_runs"]:
        diffs.append(f"{name}: {b['duplicate_runs']} duplicate runs")
    if a["status"] != b["status"]:
        diffs.append(f"{name}: status {b['status']} (reference {a['status']})")
    keys_a = Counter(e[0] for e in a["events"])
    keys_b = Counter(e[0] for e in b["events"])
    for k in sorted(keys_a.keys() | keys_b.keys()):
        if keys_a[k] != keys_b[k]:
            diffs.append(f"{name}: event {k}: {keys_b[k]} stored, reference {keys_a[k]}")
    if not diffs and a["events"] != b["events"]:
        for ea, eb in zip(a["events"], b["events"]):
            if ea != eb:
                diffs.append(f"{name}: event {ea[0]} differs: {eb} (reference {ea})")
    if a["counts"] != b["counts"]:
        diffs.append(f"{name}: traffic counts differ")
    return diffs


def done_runs(db_url: str) -> int:
    """Runs stored as done so far (0 before the first start made the tables)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from service.db import make_engine
    from service.models import VideoRunRow

    engine = make_engine(db_url)
    try:
        with engine.connect() as c:
            return int(c.scalar(select(func.count()).select_from(VideoRunRow).where(VideoRunRow.status == "done")) or 0)
    except (OperationalError, ProgrammingError):
        return 0
    finally:
        engine.dispose()


def check_evidence(db_url: str, evidence: Path) -> tuple[bool, list[str]]:
    from service.db import make_engine
    from service.runs.evidence_check import check_evidence as check

    engine = make_engine(db_url)
    try:
        result = check(engine, evidence)
    finally:
        engine.dispose()
    return result.ok, result.lines()


# -- the whole experiment ----------------------------------------------------------------------------
def kill_restart(
    runner: Sequence[str],
    inputs: Sequence[str],
    selector: Sequence[str],
    workdir: Path,
    *,
    kills: int,
    rng: random.Random,
    min_s: float,
    max_s: float | None,
    extra: Sequence[str] = (),
    db_ref: str | None = None,
    db: str | None = None,
    max_share: float = 0.5,
    say=print,
) -> Report:
    """Reference run, `kills` killed runs, final run, comparison (see the module docstring).
    Without `max_s`, kills fall up to `max_share` of the reference's wall time after a start. A
    start that ends before its kill has finished the batch: the kills stop there."""
    db_ref = db_ref or f"sqlite:///{workdir / 'reference.db'}"
    db = db or f"sqlite:///{workdir / 'killed.db'}"
    log = workdir / "batch.log"
    ref_argv = batch_argv(inputs, selector, db_ref, workdir / "evidence-reference", extra)
    rc, wall, outcome = run_to_end(runner, ref_argv, log)
    report = Report(reference_wall_s=round(wall, 1), reference_exit=rc, reference_outcome=outcome)
    say(f"reference run: exit {rc} in {wall:.1f} s: {_outcome(outcome)}")
    total = max(outcome.get("processed", 0), 1)
    argv = batch_argv(inputs, selector, db, workdir / "evidence", extra)
    while report.kills < kills:
        # the window shrinks with the work left, so that most starts die mid-batch, not after it
        left = 1.0 - done_runs(db) / total
        top = max_s if max_s is not None else max(min_s + 0.5, wall * max_share * left)
        attempt = run_and_kill(runner, argv, rng.uniform(min_s, top), log)
        report.attempts.append(attempt)
        if not attempt.killed:
            say(f"  start {len(report.attempts)}: finished the batch (exit {attempt.exit_status}) before its kill")
            break
        say(f"  start {len(report.attempts)}: SIGKILL after {attempt.delay_s:.2f} s")
    report.final_exit, final_wall, report.final_outcome = run_to_end(runner, argv, log)
    report.final_wall_s = round(final_wall, 1)
    say(
        f"final run: exit {report.final_exit} in {final_wall:.1f} s: {_outcome(report.final_outcome)} "
        "(reused = finished during a killed start)"
    )
    ref, got = fingerprint(db_ref), fingerprint(db)
    report.runs = len(got)
    report.events = sum(len(r["events"]) for r in got.values())
    report.differences = compare(ref, got)
    report.evidence_ok, report.evidence = check_evidence(db, workdir / "evidence")
    return report


# -- the default batch -------------------------------------------------------------------------------
SYNTH_CROSSING = {
    "id": "synthetic-clips",
    "name": "合成路口",
    "frame_size": [320, 240],
    "signals": [{"id": "main", "lamps": {"red": [280, 10, 24, 24], "green": [280, 44, 24, 24]}}],
    "stop_lines": [{"id": "stop-1", "points": [[0, 120], [270, 120]], "entering": [0, -1], "signal": "main"}],
}


def _encode(path: Path, frames: Sequence[Any], codec: str = "libx264", fps: int = 10, faststart: bool = False) -> Path:
    import av

    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _synthetic_frames(shade: int, n: int = 30) -> list[Any]:
    import numpy as np

    frames = []
    for i in range(n):
        img = np.full((240, 320, 3), shade, np.uint8)
        img[10:34, 280:304] = (250, 40, 40)  # the red lamp, lit
        bottom = 205 - 10 * i
        if bottom > 0:
            img[max(0, bottom - 40) : bottom, 100:120] = 230
        frames.append(img)
    return frames


def make_bad_files(folder: Path, sample: Path | None) -> list[Path]:
    """Zero bytes, text renamed .mp4, truncated, unsupported codec, audio only."""
    import av
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video\n" * 40)
    rng = np.random.default_rng(0)
    full = _encode(
        folder / "full.tmp.mp4",
        [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(80)],
        codec="mpeg4",
        faststart=True,
    )
    data = full.read_bytes()
    full.unlink()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    src = sample.read_bytes() if sample else _encode(folder / "g.tmp.mp4", _synthetic_frames(90)).read_bytes()
    (folder / "g.tmp.mp4").unlink(missing_ok=True)
    (folder / "odd-codec.mp4").write_bytes(src.replace(b"avc1", b"xq9z").replace(b"avcC", b"zzzz"))
    with av.open(str(folder / "audio-only.mp4"), "w") as c:
        s = c.add_stream("aac", rate=8000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for i in range(8):
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return sorted(folder.iterdir())


def default_batch(workdir: Path, synthetic: int = 10) -> tuple[list[str], list[str]]:
    """(inputs, crossing selector args): sample clips + synthetic clips + bad files, and a map."""
    import yaml

    from detector import assets

    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    rules: dict[str, str] = {}
    first_sample = None
    for name, clip, crossing in assets.sample_clips_with_crossings():
        if clip.exists():
            target = inputs / "samples" / f"{name}_20260301_080000.mp4"
            target.parent.mkdir(exist_ok=True)
            if not target.exists():
                os.symlink(clip, target)
            rules[f"{name}_*"] = str(crossing)
            first_sample = first_sample or clip
    if first_sample is None:
        print(
            "kill_restart: no sample clips (run `make assets`): the batch has synthetic clips only, and the real "
            "model finds no events in them",
            file=sys.stderr,
        )
    (workdir / "synthetic.crossing.yaml").write_text(yaml.safe_dump(SYNTH_CROSSING, allow_unicode=True))
    rules["synthetic_*"] = str(workdir / "synthetic.crossing.yaml")
    for i in range(synthetic):
        path = inputs / "synthetic" / f"synthetic_{i:02d}_20260301_09{i:02d}00.mp4"
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            _encode(path, _synthetic_frames(40 + 6 * i))
    make_bad_files(inputs / "bad", first_sample)
    for bad in (inputs / "bad").iterdir():
        rules.setdefault(bad.name, str(workdir / "synthetic.crossing.yaml"))
    (workdir / "map.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False))
    return [str(inputs)], ["--crossings-map", str(workdir / "map.yaml")]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    p.add_argument("--min-s", type=float, default=1.0, help="earliest kill after a start (s)")
    p.add_argument(
        "--max-s",
        type=float,
        default=None,
        help="latest kill after a start (default: reference wall / 2 x share of videos left)",
    )
    p.add_argument("--workdir", help="keep everything here (default: a temporary folder, removed)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    tmp = None if args.workdir else tempfile.mkdtemp(prefix="crosswatch-kill-")
    workdir = Path(args.workdir or tmp).resolve()  # type: ignore[arg-type]
    workdir.mkdir(parents=True, exist_ok=True)
    say = (lambda *_: None) if args.json else print
    try:
        inputs, selector = default_batch(workdir)
        say(f"kill_restart: seed {seed}, {args.kills} kills, workdir {workdir}")
        report = kill_restart(
            DEFAULT_RUNNER,
            inputs,
            selector,
            workdir,
            kills=args.kills,
            rng=random.Random(seed),
            min_s=args.min_s,
            max_s=args.max_s,
            say=say,
            extra=["--workers", str(args.workers), "--device", "cpu", "--timezone", "+08:00"],
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({**asdict(report), "kills": report.kills, "ok": report.ok, "seed": seed}, indent=1))
    else:
        print(
            f"{report.kills} kills{' (then a start finished the batch)' if len(report.attempts) > report.kills else ''}; "
            f"final exit {report.final_exit} (reference {report.reference_exit}); "
            f"{report.runs} runs, {report.events} events"
        )
        print(
            "database vs clean run: "
            + ("identical" if not report.differences else f"{len(report.differences)} differences")
        )
        for d in report.differences:
            print(f"  {d}")
        print("\n".join(report.evidence))
        print("RESULT: " + ("OK — exactly one clean run" if report.ok else "FAILED"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
