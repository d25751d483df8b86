"""`crosswatch` command line: process videos into events + evidence in the database."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from .config import ConfigError, Crossing, load_crossing, load_signal_plan
from .pipeline import PipelineSettings

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UserError(Exception):
    """One line for a person; the command exits non-zero with it."""


def _parse_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--start-time: not an ISO 8601 date-time with offset: {value!r}") from None
    if dt.tzinfo is None:
        raise UserError(f"--start-time: needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00 (got {value!r})")
    return dt


def evidence_run_dir(crossing: Crossing, video_sha: str, settings_hash: str) -> str:
    """The evidence folder of one run (relative to the evidence root): one per run key — video,
    crossing geometry version and settings — so two versions of a crossing never share files."""
    return f"{crossing.id}/{video_sha[:16]}-{crossing.geometry_hash()[:8]}-{settings_hash[:8]}"


def _signal_box(crossing: Crossing, signal_id: str | None) -> tuple[float, float, float, float] | None:
    if signal_id is None:
        return None
    boxes = [b for _, b in crossing.signal(signal_id).lamps.items()]
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[0] + b[2] for b in boxes)
    y2 = max(b[1] + b[3] for b in boxes)
    return (x1, y1, x2, y2)


def _evidence_root(option: str | None, db_url: str) -> Path:
    """--evidence-dir, else $CROSSWATCH_EVIDENCE_DIR, else `evidence/` beside the SQLite file, else data/evidence."""
    if option or os.environ.get("CROSSWATCH_EVIDENCE_DIR"):
        return Path(option or os.environ["CROSSWATCH_EVIDENCE_DIR"]).resolve()
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return (Path(db_url.split("///", 1)[1]).parent / "evidence").resolve()
    return Path("data/evidence").resolve()


def _event_json(e, evidence_root: Path, tz=None) -> dict:
    """One event in the stable `process --json` shape, from a stored EventInfo (times in `tz`)."""
    return {
        "id": e.uid,
        "type": e.type,
        "track_id": e.track_id,
        "class": e.class_name,
        "t": round(e.t, 3),
        "frame": e.frame,
        "box": [round(v, 1) for v in e.box],
        "lane": e.lane,
        "stop_line": e.stop_line,
        "signal": e.signal_state,
        "signal_id": e.signal_id,
        "signal_source": e.signal_source,
        "since_red_s": e.since_red_s,
        "occurred_at": e.occurred_at.astimezone(tz).isoformat(timespec="milliseconds") if e.occurred_at else None,
        "review_status": e.review_status,
        "evidence": {f.kind: {"path": str(evidence_root / f.relpath), "sha256": f.sha256, "size": f.size}
                     for f in e.evidence},
    }


def _resolve_model(args: argparse.Namespace) -> tuple[str, str, Path]:
    """(device, model name, model path) from --device and --model (default: the manifest's for the device)."""
    from . import assets
    from .detection import pick_device

    device = pick_device(args.device)
    model_name = args.model or assets.default_model_name("cuda" if device.startswith("cuda") else "cpu")
    try:
        return device, model_name, assets.resolve_model(model_name)
    except assets.AssetError as e:
        raise UserError(str(e)) from None


def _detector(crossing: Crossing, size: tuple[int, int], device: str, model_path: Path, imgsz: int):
    """The detector for a crossing's video of `size` (width, height): its tiles in that pixel space."""
    from .detection import ModelError, YoloDetector

    try:
        opts = crossing.scaled_to(size).detection
        return YoloDetector(model_path, device=device, imgsz=imgsz, tiles=opts.tiles, roi=opts.roi)
    except ModelError as e:
        raise UserError(str(e)) from None


def cmd_process(args: argparse.Namespace) -> int:
    out = process_video(args)
    if args.json:
        json.dump(out, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_summary(out)
    return EXIT_OK


def process_video(args: argparse.Namespace) -> dict:
    """Everything `process` does; returns the `--json` object plus `timings` (s per stage) and `wall_s`."""
    wall0 = time.perf_counter()
    from .video import VideoError, file_sha256, probe

    crossing_file = Path(args.crossing)
    crossing = load_crossing(crossing_file)
    plan = load_signal_plan(args.signal_plan, [s.id for s in crossing.signals]) if args.signal_plan else None
    start_time = _parse_start(args.start_time)
    video = Path(args.video)
    try:
        info = probe(video)
    except VideoError as e:
        raise UserError(str(e)) from None

    device, model_name, model_path = _resolve_model(args)

    from service.db import default_db_url, make_engine, upgrade
    from service.repository import CountRecord, EventRecord, EvidenceRecord, Repository, hash_settings

    from .pipeline import Pipeline

    settings = PipelineSettings(model=model_name, imgsz=args.imgsz, detect_fps=args.detect_fps)
    settings_dict = settings.as_dict()
    settings_dict["signal_plan"] = Path(args.signal_plan).read_text(encoding="utf-8") if args.signal_plan else None
    settings_hash = hash_settings(settings_dict)
    video_sha = file_sha256(video)
    db_url = args.db or default_db_url()
    engine = make_engine(db_url)
    upgrade(engine)
    repo = Repository(engine)
    evidence_root = _evidence_root(args.evidence_dir, db_url)
    tz = start_time.tzinfo if start_time else None

    version = repo.find_crossing_version(crossing.id, crossing.geometry_hash())
    done = repo.find_run(video_sha, version.version_id, settings_hash) if version else None
    if done is not None and done.status == "done":
        return _run_dict(video, crossing, done.duration_s or 0.0, done.frames or 0, done.elapsed_s or 0.0,
                         repo.run_events(done.id), repo.run_counts(done.id), evidence_root, tz, reused=True,
                         run_id=done.id, timings=dict(done.timings or {}), wall_s=time.perf_counter() - wall0)

    from .evidence import EvidenceBatchError, EvidenceError, EvidenceRecorder

    try:
        recorder = EvidenceRecorder(evidence_root, crossing.name, start_time=start_time)  # fails early without a CJK font
    except EvidenceError as e:
        raise UserError(str(e)) from None
    detector = _detector(crossing, (info.width, info.height), device, model_path, settings.imgsz)
    setup_s = time.perf_counter() - wall0
    if getattr(args, "progress", False):  # machine-readable progress for the service's jobs worker
        bar = _JsonProgress()
    else:
        bar = _progress_bar(video, info.duration_s) if sys.stderr.isatty() and not args.json else None
    try:
        result = Pipeline(crossing, detector, settings, plan).run(video, progress=bar.update if bar else None)
    except VideoError as e:
        raise UserError(str(e)) from None
    finally:
        if bar:
            bar.close()

    t0 = time.perf_counter()
    run_dir = evidence_run_dir(crossing, video_sha, settings_hash)
    jobs = [(e, f"{run_dir}/{e.key}", _signal_box(result.crossing, e.signal_id)) for e in result.events]
    try:
        files = recorder.record_many(video, jobs) if jobs else {}
    except EvidenceBatchError as e:  # keep every event; say which evidence is incomplete
        files = e.results
        for key, reason in e.failures.items():
            print(f"crosswatch: warning: evidence of event {key} incomplete: {reason}", file=sys.stderr)
    except EvidenceError as e:
        raise UserError(str(e)) from None
    evidence_s = time.perf_counter() - t0
    records = [EventRecord.from_violation(e, [EvidenceRecord(f.kind, f.relpath, f.sha256, f.size, f.mime)
                                                for f in files.get(e.key, [])])
               for e in result.events]
    counts = [CountRecord(r.stop_line, r.class_name, r.minute, r.count) for r in result.counts]

    t0 = time.perf_counter()
    version = repo.upsert_crossing(crossing, crossing_file.read_text(encoding="utf-8"))
    run_id = repo.start_run(video_path=str(video.resolve()), video_sha256=video_sha,
                            crossing_version_id=version.version_id, model=settings.model,
                            settings=settings_dict, settings_hash=settings_hash, start_time=start_time)
    timings = {"setup": setup_s, **result.timings, "evidence": evidence_s}
    timings["database"] = time.perf_counter() - t0  # up to here; the final commit is a few ms more
    timings = {k: round(v, 3) for k, v in timings.items()}
    repo.finish_run(run_id, events=records, counts=counts, duration_s=result.duration_s, frames=result.frames,
                    elapsed_s=round(result.elapsed_s, 3), timings=timings)
    return _run_dict(video, crossing, result.duration_s, result.frames, result.elapsed_s, repo.run_events(run_id),
                     repo.run_counts(run_id), evidence_root, tz, reused=False, run_id=run_id, timings=timings,
                     processed=result.processed, wall_s=time.perf_counter() - wall0)


def _progress_bar(video: Path, duration: float | None):
    from tqdm import tqdm

    bar = tqdm(total=round(duration or 0, 1) or None, unit="s", desc=video.name, file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s video [{elapsed}<{remaining}]")

    class _Bar:
        def update(self, t: float, _duration: float | None) -> None:
            bar.n = round(t, 1)
            bar.refresh()

        def close(self) -> None:
            bar.close()

    return _Bar()


class _JsonProgress:
    """`--progress`: JSON lines `{"progress": 0.37}` (share of the video decoded) on stderr, at most
    every `interval` seconds, for a parent process (the service's jobs worker) to read."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._last = float("-inf")

    def update(self, t: float, duration: float | None) -> None:
        now = time.monotonic()
        if not duration or now - self._last < self.interval:
            return
        self._last = now
        self._emit(min(max(t / duration, 0.0), 1.0))

    def close(self) -> None:  # the parent marks a finished video 1.0 itself (success is known only then)
        pass

    @staticmethod
    def _emit(share: float) -> None:
        sys.stderr.write(json.dumps({"progress": round(share, 4)}) + "\n")
        sys.stderr.flush()


def _run_dict(video: Path, crossing: Crossing, duration_s: float, frames: int, elapsed_s: float, events, counts,
              evidence_root: Path, tz, *, reused: bool, run_id: int, timings: dict, wall_s: float,
              processed: int | None = None) -> dict:
    by_type = {"red_light": 0, "wrong_way": 0}
    for e in events:
        by_type[e.type] = by_type.get(e.type, 0) + 1
    traffic: dict[str, dict[str, int]] = {}
    for c in counts:
        traffic.setdefault(c.stop_line, {}).setdefault(c.class_name, 0)
        traffic[c.stop_line][c.class_name] += c.count
    return {
        "video": str(video),
        "crossing": crossing.id,
        "duration_s": round(duration_s, 3),
        "frames": frames,
        "elapsed_s": round(elapsed_s, 3),
        "events": [_event_json(e, evidence_root, tz) for e in events],
        "counts": {**by_type, "traffic": traffic},
        "run_id": run_id,
        "reused": reused,
        "processed_frames": processed,
        "wall_s": round(wall_s, 3),
        "evidence_root": str(evidence_root),
        "timings": timings,
    }


def _print_summary(out: dict) -> None:
    wall, dur = out["wall_s"], out["duration_s"]
    name = Path(out["video"]).name
    if out["reused"]:
        print(f"{name} @ {out['crossing']}: already processed (run {out['run_id']}); nothing added")
    else:
        print(f"{name} @ {out['crossing']}: {dur:.1f} s video, {out['frames']} frames "
              f"({out['processed_frames']} detected), {wall:.1f} s wall, {dur / max(wall, 1e-9):.2f}x real time")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in out["timings"].items()))
    c = out["counts"]
    print(f"  events: {c['red_light']} red-light (闯红灯), {c['wrong_way']} wrong-way (逆行)")
    for e in out["events"]:
        extra = f" since red {e['since_red_s']:.1f} s" if e["since_red_s"] is not None else ""
        print(f"   - {e['type']:9s} t={e['t']:7.2f}s track {e['track_id']:<4d} {e['class']:10s} lane={e['lane']}{extra}")
    for line, per_class in c["traffic"].items():
        print(f"  traffic over {line}: " + ", ".join(f"{k} {v}" for k, v in sorted(per_class.items())))
    print(f"  database run {out['run_id']}; evidence under {out['evidence_root']}")


def _eval_jobs(args: argparse.Namespace) -> list[tuple[str, Path, Path, Path]]:
    """(name, clip, crossing, truth) to evaluate: one clip with its files, or every labelled clip of a folder."""
    from . import assets

    target = Path(args.video)
    if target.is_file():
        if not (args.crossing and args.truth):
            raise UserError("eval of one clip needs --crossing and --truth")
        return [(target.stem, target, Path(args.crossing), Path(args.truth))]
    if not target.is_dir():
        raise UserError(f"{target}: no such file or folder")
    jobs = []
    for clip in sorted(p for p in target.iterdir() if p.suffix.lower() in {".mp4", ".mkv", ".avi", ".mov", ".ts"}):
        look = [target, assets.REPO_ROOT / "sample_videos"]
        crossing = next((d / f"{clip.stem}.crossing.yaml" for d in look if (d / f"{clip.stem}.crossing.yaml").exists()), None)
        truth = next((d / f"{clip.stem}.truth.json" for d in look if (d / f"{clip.stem}.truth.json").exists()), None)
        if crossing and truth:
            jobs.append((clip.stem, clip, crossing, truth))
        else:
            print(f"crosswatch: {clip.name}: skipped (no {'crossing file' if not crossing else 'labels'})",
                  file=sys.stderr)
    if not jobs:
        raise UserError(f"{target}: no clip with both a crossing file and labels")
    return jobs


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the pipeline (no database, no evidence) and compare its events with hand-checked labels."""
    import tempfile

    from . import evaluation
    from .pipeline import Pipeline
    from .video import VideoError, probe, reverse_video

    device, model_name, model_path = _resolve_model(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="crosswatch-eval-") as tmp:
        for name, clip, crossing_file, truth_file in _eval_jobs(args):
            crossing = load_crossing(crossing_file)
            truth = json.loads(truth_file.read_text(encoding="utf-8"))
            if args.reverse:
                rev = Path(tmp) / f"{clip.stem}.reversed.mp4"
                try:
                    reverse_video(clip, rev)
                except VideoError as e:
                    raise UserError(str(e)) from None
                clip, truth, name = rev, evaluation.reverse_truth(truth), f"{name} (reversed)"
            settings = PipelineSettings(model=model_name, imgsz=args.imgsz, detect_fps=args.detect_fps)
            try:
                info = probe(clip)
                detector = _detector(crossing, (info.width, info.height), device, model_path, settings.imgsz)
                result = Pipeline(crossing, detector, settings).run(clip)
            except VideoError as e:
                raise UserError(str(e)) from None
            events = [{"type": e.type.value, "t": e.t, "box": list(e.box), "class": e.class_name,
                       "track_id": e.track_id} for e in result.events]
            row = {"clip": name, "detect_fps": args.detect_fps, "duration_s": result.duration_s,
                   "elapsed_s": round(result.elapsed_s, 2), "frames_detected": result.processed}
            for kind in ("red_light", "wrong_way"):
                row[kind] = evaluation.score(kind, events, truth).as_dict()
            sig = truth.get("phases")
            if sig and crossing.signals:
                log = result.signal_log.get(crossing.signals[0].id, [])
                row["signal"] = evaluation.signal_agreement(log, sig, result.duration_s)
            totals: dict[str, dict[str, int]] = {}
            for c in result.counts:
                totals.setdefault(c.stop_line, {}).setdefault(c.class_name, 0)
                totals[c.stop_line][c.class_name] += c.count
            row["count"] = evaluation.count_error(totals, truth)
            rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print(_eval_table(rows))
    return EXIT_OK


def _eval_table(rows: list[dict]) -> str:
    def rate(r: dict) -> str:
        if not r["positives"] and not r["events"]:
            return "      -"
        return f"{r['capture']:.2f}/{r['validity']:.2f} ({r['hit']}/{r['positives']}, {r['false']} false)"

    head = f"{'clip':34s} {'red light capture/validity':32s} {'wrong way capture/validity':32s} {'signal':>7s} {'count':>9s} {'x rt':>5s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        sig = r.get("signal", {}).get("agreement") if r.get("signal") else None
        cnt = r.get("count")
        sig_s = f"{sig:.3f}" if sig is not None else "-"
        cnt_s = f"{cnt['counted']}/{cnt['labelled']}" if cnt else "-"
        speed = r["duration_s"] / max(r["elapsed_s"], 1e-9)
        lines.append(f"{r['clip'][:34]:34s} {rate(r['red_light']):32s} {rate(r['wrong_way']):32s} "
                     f"{sig_s:>7s} {cnt_s:>9s} {speed:5.2f}")
        for kind in ("red_light", "wrong_way"):
            for m in r[kind]["missed"]:
                lines.append(f"    missed {kind} {m['id']} t={m['t']:.2f} box={m['box']}")
            for f in r[kind]["false_events"]:
                what = f"legal road user {f['label']['id']}" if f["label"] else "nothing labelled"
                lines.append(f"    false  {kind} t={f['event']['t']:.2f} box={[round(v) for v in f['event']['box']]} "
                             f"track {f['event']['track_id']} ({what})")
    return "\n".join(lines)


def _machine() -> dict:
    import platform

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def cmd_bench(args: argparse.Namespace) -> int:
    """Time one full `process` run (fresh temporary database and evidence folder) and print it as JSON."""
    import resource
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crosswatch-bench-") as tmp:
        sub = argparse.Namespace(**{**vars(args), "db": f"sqlite:///{tmp}/bench.db", "evidence_dir": f"{tmp}/evidence",
                                    "json": True, "start_time": None, "signal_plan": None})
        out = process_video(sub)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {
        "video": out["video"], "crossing": out["crossing"], "model": args.model or "default",
        "device": args.device, "imgsz": args.imgsz, "detect_fps": args.detect_fps,
        "duration_s": out["duration_s"], "frames_decoded": out["frames"], "frames_detected": out["processed_frames"],
        "wall_s": out["wall_s"], "realtime_factor": round(out["duration_s"] / out["wall_s"], 3),
        "pipeline_s": out["elapsed_s"], "pipeline_realtime_factor": round(out["duration_s"] / out["elapsed_s"], 3),
        "stages_s": out["timings"], "events": len(out["events"]), "peak_rss_mib": round(peak_kib / 1024, 1),
        "machine": _machine(),
    }
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return EXIT_OK


# The sample clips' recording times are unknown; the demo dates them one day and one hour apart
# from this (local time, +08:00) so the statistics pages have wall-clock times to bucket.
DEMO_FIRST_START = datetime.fromisoformat("2026-11-02T07:30:00+08:00")


def cmd_demo(args: argparse.Namespace) -> int:
    """Process every bundled sample clip that has a crossing file (after `make assets`)."""
    from datetime import timedelta

    from . import assets

    failed = 0
    for i, (name, clip, crossing_file) in enumerate(assets.sample_clips_with_crossings()):
        if not clip.exists():
            print(f"crosswatch: {name}: clip missing at {clip} (run `make assets`)", file=sys.stderr)
            failed += 1
            continue
        start = args.start_time or (DEMO_FIRST_START + timedelta(days=i, hours=i)).isoformat()
        sub = argparse.Namespace(**{**vars(args), "video": str(clip), "crossing": str(crossing_file),
                                    "start_time": start})
        try:
            cmd_process(sub)
        except (ConfigError, UserError) as e:
            print(f"crosswatch: {name}: error: {e}", file=sys.stderr)
            failed += 1
    return EXIT_FAIL if failed else EXIT_OK


def _add_model_options(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--model", help="model manifest name or path (default: the manifest's default for the device)")
    pr.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    pr.add_argument("--imgsz", type=int, default=640)
    pr.add_argument("--detect-fps", type=float, default=PipelineSettings().detect_fps,
                    help="detect on at most this many frames per video second; 0 = every frame")


def _add_pipeline_options(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the project's data folder, or $CROSSWATCH_DB_URL)")
    pr.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file, or $CROSSWATCH_EVIDENCE_DIR)")
    _add_model_options(pr)
    pr.add_argument("--start-time", help="wall-clock time of the video's first frame, ISO 8601 with offset")
    pr.add_argument("--signal-plan", help="phase plan YAML: [{t, state}, ...] instead of reading the lamps")
    pr.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crosswatch", description="Traffic-violation camera analytics (闯红灯 / 逆行).")
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("process", help="find violations in one video and store events + evidence")
    pr.add_argument("video")
    pr.add_argument("--crossing", required=True, help="crossing YAML file")
    _add_pipeline_options(pr)
    pr.add_argument("--progress", action="store_true",
                    help='print JSON lines {"progress": 0.37} on stderr while decoding (for the jobs worker)')
    pr.set_defaults(func=cmd_process)

    ev = sub.add_parser("eval", help="compare the pipeline's events with hand-checked labels (*.truth.json)")
    ev.add_argument("video", help="a clip, or a folder of clips (each with NAME.crossing.yaml and NAME.truth.json "
                                  "beside it or in sample_videos/)")
    ev.add_argument("--crossing", help="crossing YAML (one clip)")
    ev.add_argument("--truth", help="labels JSON (one clip)")
    ev.add_argument("--reverse", action="store_true",
                    help="play the clip backwards and reverse the lane labels (every legal vehicle then drives the wrong way)")
    _add_model_options(ev)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)

    be = sub.add_parser("bench", help="time one full run of a clip (temporary database) and print JSON")
    be.add_argument("video")
    be.add_argument("--crossing", required=True)
    _add_model_options(be)
    be.add_argument("--out", help="also save the JSON here")
    be.set_defaults(func=cmd_bench)

    de = sub.add_parser("demo", help="process every bundled sample clip into the database (after `make assets`)")
    _add_pipeline_options(de)
    de.set_defaults(func=cmd_demo)

    from .batch import add_parser as add_batch_parser  # batch (many videos, local pool or Ray)

    add_batch_parser(sub, _add_model_options)

    from .live import add_parser as add_watch_parser  # watch (live streams)

    add_watch_parser(sub)

    from service.cli import add_commands  # serve, user, db

    add_commands(sub)
    from service.reports.cli import add_report_command  # report (创城简报)

    add_report_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UserError) as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_FAIL
    except KeyboardInterrupt:
        print("crosswatch: interrupted; nothing of this run was stored", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


