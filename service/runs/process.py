"""`process_video(request)`: one video into events, evidence and traffic counts in the database.

All or nothing per run key: a run already `done` is returned as it is (`reused`), otherwise the
pipeline runs, the evidence is written to this call's own attempt folder, moved into the run key's
folder and stored in one commit under the run key's lock (`evidence_store`); a run that another
process stored meanwhile is returned as `reused` and `concurrent`, this call's files discarded. Progress goes to `on_progress(seconds decoded, video duration)`; nothing is printed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from detector.config import Crossing, load_signal_plan
from detector.pipeline import Pipeline
from detector.video import VideoError, VideoInfo, file_sha256, probe
from detector.vocabulary import EventType
from service.repository import Repository
from service.run_records import CountRecord, EventRecord, EvidenceRecord, RunAlreadyDone, RunInfo

from . import detectors, evidence_store
from .crossings import register_crossing
from .database import open_database
from .errors import UserError
from .evidence_writer import BackgroundEvidence
from .request import ProcessRequest, RunKey, run_key_of

OnProgress = Callable[[float, float | None], None]  # (video seconds decoded, video duration or None)


@dataclass(frozen=True)
class ProcessOutcome:
    """What one `process_video` call did (a stored run, new or reused)."""

    video: Path
    crossing_id: str
    run_id: int
    reused: bool
    duration_s: float
    frames: int
    elapsed_s: float  # the pipeline's own time
    wall_s: float  # the whole call
    events: list[dict[str, Any]]  # the stable `process --json` shape
    counts: dict[str, Any]  # {event type: n for every EventType, "traffic": {stop_line: {class: n}}}
    evidence_root: Path
    timings: dict[str, float]
    processed_frames: int | None = None
    warnings: tuple[str, ...] = field(default=())  # e.g. evidence of an event incomplete
    concurrent: bool = False  # another process stored this run while this call was processing it

    def to_json(self) -> dict[str, Any]:
        """The `crosswatch process --json` object."""
        return {
            "video": str(self.video),
            "crossing": self.crossing_id,
            "duration_s": round(self.duration_s, 3),
            "frames": self.frames,
            "elapsed_s": round(self.elapsed_s, 3),
            "events": self.events,
            "counts": self.counts,
            "run_id": self.run_id,
            "reused": self.reused,
            "processed_frames": self.processed_frames,
            "wall_s": round(self.wall_s, 3),
            "evidence_root": str(self.evidence_root),
            "timings": self.timings,
            "concurrent": self.concurrent,
        }


class ShareReporter:
    """An `OnProgress` that passes the share of the video decoded (0..1) to `report`, at most
    every `interval` seconds (the end is reported by whoever knows the video succeeded)."""

    def __init__(self, report: Callable[[float], None], interval: float = 0.5):
        self.report, self.interval = report, interval
        self._last = float("-inf")

    def __call__(self, t: float, duration: float | None) -> None:
        now = time.monotonic()
        if not duration or now - self._last < self.interval:
            return
        self._last = now
        self.report(round(min(max(t / duration, 0.0), 1.0), 4))


def event_json(e: Any, evidence_root: Path, tz: tzinfo | None = None) -> dict[str, Any]:
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
        "plate": e.plate,
        "plate_status": e.plate_status,
        "plate_colour": e.plate_colour,
        "plate_confidence": e.plate_confidence,
        "plate_reason": e.plate_reason,
        "violation_code": e.violation_code,
        "anti_forgery_code": e.anti_forgery_code,
        "evidence": {
            f.kind: {"path": str(evidence_root / f.relpath), "sha256": f.sha256, "size": f.size} for f in e.evidence
        },
    }


def _counts(events: list[Any], counts: list[Any]) -> dict[str, Any]:
    by_type = {t.value: 0 for t in EventType}
    for e in events:
        by_type[e.type] = by_type.get(e.type, 0) + 1
    traffic: dict[str, dict[str, int]] = {}
    for c in counts:
        traffic.setdefault(c.stop_line, {}).setdefault(c.class_name, 0)
        traffic[c.stop_line][c.class_name] += c.count
    return {**by_type, "traffic": traffic}


def _outcome(
    req: ProcessRequest,
    crossing: Crossing,
    repo: Repository,
    run_id: int,
    *,
    reused: bool,
    duration_s: float,
    frames: int,
    elapsed_s: float,
    timings: dict[str, float],
    wall0: float,
    processed: int | None = None,
    warnings: tuple[str, ...] = (),
    concurrent: bool = False,
) -> ProcessOutcome:
    events, counts = repo.run_events(run_id), repo.run_counts(run_id)
    tz = req.start_time.tzinfo if req.start_time else None
    return ProcessOutcome(
        req.video,
        crossing.id,
        run_id,
        reused,
        duration_s,
        frames,
        elapsed_s,
        time.perf_counter() - wall0,
        [event_json(e, req.evidence_root, tz) for e in events],
        _counts(events, counts),
        req.evidence_root,
        timings,
        processed,
        warnings,
        concurrent,
    )


def process_video(req: ProcessRequest, on_progress: OnProgress | None = None) -> ProcessOutcome:
    """Everything `crosswatch process` does. Bad input is a `UserError` or `ConfigError` (one line).

    The evidence is written to this call's own attempt folder and moved into the run key's folder
    only when the run commits (`evidence_store`). When another process stored the same run
    meanwhile, this call's work is discarded and that run comes back (`reused` and `concurrent`)."""
    from detector.codes import CodesError, load_codes
    from detector.evidence import EvidenceError, EvidenceRecorder
    from detector.evidence.seal import evidence_key
    from detector.plates import PlateModelError, PlateReader
    from detector.plates.formats import REGIONS

    wall0 = time.perf_counter()
    crossing = req.crossing()
    plan = load_signal_plan(req.signal_plan, [s.id for s in crossing.signals]) if req.signal_plan else None
    try:
        info = probe(req.video)
    except VideoError as e:
        raise UserError(str(e)) from None
    path = detectors.model_path(req.model)
    evidence_store.check_root(req.evidence_root)

    attempt = evidence_store.Attempt.open(req.evidence_root)  # this call's own evidence folder
    try:
        # before anything touches the database: a missing CJK font, a plate model that does not match its
        # SHA-256 or a bad codes table is one line and nothing stored
        try:
            plate_t0 = time.perf_counter()
            plate_reader = PlateReader(regions=tuple(crossing.plate_regions or ()) or REGIONS)
            plate_init_s = time.perf_counter() - plate_t0
            recorder = EvidenceRecorder(
                attempt.path,
                crossing.name,
                start_time=req.start_time,
                crossing=crossing,
                plate_reader=plate_reader,
                codes=load_codes(),
                evidence_key=evidence_key(req.evidence_root),
            )
        except (EvidenceError, PlateModelError, CodesError) as e:
            raise UserError(str(e)) from None
        except OSError as e:  # the evidence key file beside the evidence folder
            raise UserError(f"evidence key beside {req.evidence_root}: {e.strerror or e}") from None

        key = run_key_of(crossing, file_sha256(req.video), req.settings_hash())
        engine = open_database(req.db_url)
        try:
            repo = Repository(engine)
            version = repo.find_crossing_version(crossing.id, key.geometry_hash)
            done = repo.find_run(key.video_sha256, version.version_id, key.settings_hash) if version else None
            if done is not None and done.status == "done":
                return _reused(req, crossing, repo, done, wall0)
            return _run(req, crossing, repo, key, attempt, recorder, info, path, plan, on_progress, plate_init_s, wall0)
        finally:
            engine.dispose()
    finally:
        attempt.discard()


def _reused(
    req: ProcessRequest, crossing: Crossing, repo: Repository, run: RunInfo, wall0: float, *, concurrent: bool = False
) -> ProcessOutcome:
    return _outcome(
        req,
        crossing,
        repo,
        run.id,
        reused=True,
        duration_s=run.duration_s or 0.0,
        frames=run.frames or 0,
        elapsed_s=run.elapsed_s or 0.0,
        timings=dict(run.timings or {}),
        wall0=wall0,
        concurrent=concurrent,
    )


def _run(
    req: ProcessRequest,
    crossing: Crossing,
    repo: Repository,
    key: RunKey,
    attempt: evidence_store.Attempt,
    recorder: Any,
    info: VideoInfo,
    path: Path,
    plan: Any,
    on_progress: OnProgress | None,
    plate_init_s: float,
    wall0: float,
) -> ProcessOutcome:
    """Run the pipeline, let `recorder` write the evidence into `attempt`'s folder, then, under the
    run key's lock: return the run another process stored meanwhile, or move the folder into place
    and commit the run."""
    settings = req.settings
    detector = detectors.make_detector(crossing, (info.width, info.height), req.device, path, settings.imgsz)
    setup_s = time.perf_counter() - wall0
    # each event's evidence is written on a worker thread as soon as its road user's track has ended
    writer = BackgroundEvidence(recorder, req.video, crossing.scaled_to((info.width, info.height)), key.evidence_dir)
    try:
        try:
            result = Pipeline(crossing, detector, settings, plan).run(
                req.video, progress=on_progress, on_settled=writer.add
            )
        except VideoError as e:
            raise UserError(str(e)) from None
        t0 = time.perf_counter()
        files, warnings = writer.finish()
    finally:
        writer.close()
    evidence_s = writer.busy_s  # the recorder's own time, mostly while the pipeline was still running
    evidence_wait_s = time.perf_counter() - t0  # what it added after the pipeline
    records = [
        EventRecord.from_violation(
            e, [EvidenceRecord(f.kind, f.relpath, f.sha256, f.size, f.mime) for f in files.get(e.key, [])]
        )
        for e in result.events
    ]
    attempt.keep_only({f.relpath for r in records for f in r.evidence})  # half an event's pictures: not evidence
    counts = [CountRecord(r.stop_line, r.class_name, r.minute, r.count) for r in result.counts]
    # plate reading (inside "evidence") + loading its models (inside "setup"): what plates cost the command
    plates_s = plate_init_s + sum(e.plate.ms for e in result.events if e.plate is not None) / 1000.0
    timings = {
        "setup": setup_s,
        **result.timings,
        "evidence": evidence_s,
        "evidence_wait": evidence_wait_s,
        "plates": plates_s,
    }

    t0 = time.perf_counter()
    with evidence_store.commit_lock(req.evidence_root, key.evidence_dir):
        version = repo.find_crossing_version(crossing.id, key.geometry_hash)
        done = repo.find_run(key.video_sha256, version.version_id, key.settings_hash) if version else None
        if done is not None and done.status == "done":  # another process stored it meanwhile
            return _reused(req, crossing, repo, done, wall0, concurrent=True)
        evidence_store.clear_unreferenced(repo.engine, req.evidence_root, key.evidence_dir)
        moved = attempt.move_into_place(key.evidence_dir)
        try:
            version = register_crossing(repo, crossing, req.crossing_file)
            run_id = repo.start_run(
                video_path=str(req.video.resolve()),
                video_sha256=key.video_sha256,
                crossing_version_id=version.version_id,
                model=settings.model,
                settings=req.settings_dict(),
                settings_hash=key.settings_hash,
                start_time=req.start_time,
            )
            timings["database"] = time.perf_counter() - t0  # up to here; the final commit is a few ms more
            timings = {k: round(v, 3) for k, v in timings.items()}
            repo.finish_run(
                run_id,
                events=records,
                counts=counts,
                duration_s=result.duration_s,
                frames=result.frames,
                elapsed_s=round(result.elapsed_s, 3),
                timings=timings,
            )
        except RunAlreadyDone as e:  # stored meanwhile by a process with another evidence folder
            if moved is not None:
                shutil.rmtree(moved, ignore_errors=True)  # this attempt's own files: never committed
            return _reused(req, crossing, repo, e.run, wall0, concurrent=True)
        except BaseException:
            if moved is not None:
                shutil.rmtree(moved, ignore_errors=True)
            raise
    return _outcome(
        req,
        crossing,
        repo,
        run_id,
        reused=False,
        duration_s=result.duration_s,
        frames=result.frames,
        elapsed_s=result.elapsed_s,
        timings=timings,
        wall0=wall0,
        processed=result.processed,
        warnings=tuple(warnings),
    )
