"""`watch_session(request, emit)`: open a live run for one source at one crossing (the database
run, its evidence folder, the detectors) and hand back the `LiveRun` that watches it.

Evidence is made as `process` makes it (`live_recorder`): plate reading, violation code, GA/T 832
scene pictures and the anti-forgery code and seal, with the key kept beside the evidence folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.config import Crossing, load_crossing
from detector.evidence import EvidenceError, EvidenceRecorder
from detector.live import Emit, LiveSource
from detector.pipeline import Detector, PipelineSettings
from service.db import make_engine, upgrade
from service.repository import Repository
from service.run_records import hash_settings

from .. import detectors
from ..crossings import register_crossing
from ..errors import UserError
from .watcher import Watcher, WatchOptions


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """Watch `source` at the crossing of `crossing_file` with these settings, into this database
    and evidence folder; `start_time` (a followed file only) times frames by the file's timestamps."""

    source: LiveSource
    crossing_file: Path
    db_url: str
    evidence_root: Path
    model: str
    device: str
    imgsz: int
    detect_fps: float
    follow: bool = False
    start_time: datetime | None = None
    options: WatchOptions | None = None

    @property
    def settings(self) -> PipelineSettings:
        return PipelineSettings(model=self.model, imgsz=self.imgsz, detect_fps=self.detect_fps)


@dataclass
class LiveRun:
    """An opened live run: `run(duration)` watches until stopped and closes the run."""

    watcher: Watcher
    repo: Repository
    run_id: int
    run_start: datetime

    def run(self, duration_s: float | None) -> dict[str, Any]:
        """Watch; the summary (the run is `done`). An exception marks the run failed and propagates:
        what was written stays."""
        try:
            summary = self.watcher.run(duration_s)
        except KeyboardInterrupt:
            self.repo.fail_run(self.run_id, "interrupted")
            raise
        except BaseException as e:
            self.repo.fail_run(self.run_id, f"{type(e).__name__}: {e}")
            raise
        summary["run_id"] = self.run_id
        self.repo.finish_run(
            self.run_id,
            events=[],
            counts=[],
            duration_s=summary["duration_s"],
            frames=summary["frames"],
            elapsed_s=summary["elapsed_s"],
            timings={"live": self.watcher.stats.as_dict()},
        )
        return summary


# a stream's frames are timed by this machine's clock when each connection began, plus the stream's timestamps
RECEIVER_CLOCK = "接收端系统时钟+帧时间戳 receiver's system clock at connection + frame PTS"


def live_recorder(req: WatchRequest, crossing: Crossing, run_start: datetime) -> EvidenceRecorder:
    """The evidence recorder of a live run, built as `process` builds it: plate reader (models checked
    against their SHA-256), violation codes, the crossing's geometry for the scene pictures and the
    evidence key. Any of them missing or broken is one UserError line."""
    from detector.codes import CodesError, load_codes
    from detector.evidence.seal import evidence_key
    from detector.plates import PlateModelError, PlateReader
    from detector.plates.formats import REGIONS
    from detector.regions import RegionError, plan_detection

    try:
        plan_detection(crossing)  # a crossing whose regions leave nothing to detect: refused before the stream
        plate_reader = PlateReader(regions=tuple(crossing.plate_regions or ()) or REGIONS)
        clock = None if req.start_time is not None else RECEIVER_CLOCK
        return EvidenceRecorder(
            req.evidence_root,
            crossing.name,
            start_time=run_start,
            crossing=crossing,
            plate_reader=plate_reader,
            codes=load_codes(),
            evidence_key=evidence_key(req.evidence_root),
            clock_source=clock,
        )
    except RegionError as e:
        raise UserError(f"{req.crossing_file}: {e}") from None
    except (EvidenceError, PlateModelError, CodesError) as e:
        raise UserError(str(e)) from None


def watch_session(req: WatchRequest, emit: Emit) -> LiveRun:
    """Register the crossing and open the run (`running`); bad input is a UserError or ConfigError,
    raised before the database is touched."""
    crossing = load_crossing(req.crossing_file)
    path = detectors.model_path(req.model)
    settings = req.settings
    run_start = req.start_time or datetime.now().astimezone()
    settings_dict = {**settings.as_dict(), "live": {"source": req.source.display, "follow": bool(req.follow)}}
    recorder = live_recorder(req, crossing, run_start)
    engine = make_engine(req.db_url)
    upgrade(engine)
    repo = Repository(engine)
    version = register_crossing(repo, crossing, req.crossing_file)
    # a live run is one watch of one source from one moment: its identity is (source, start)
    identity = hashlib.sha256(
        f"live\n{req.source.display}\n{datetime.now().astimezone().isoformat()}".encode()
    ).hexdigest()
    run_id = repo.start_run(
        video_path=req.source.display,
        video_sha256=identity,
        crossing_version_id=version.version_id,
        model=settings.model,
        settings=settings_dict,
        settings_hash=hash_settings(settings_dict),
        start_time=run_start,
    )
    cache: dict[tuple[int, int], Detector] = {}

    def detector_for(size: tuple[int, int]) -> Detector:
        if size not in cache:
            cache[size] = detectors.make_detector(crossing, size, req.device, path, settings.imgsz)
        return cache[size]

    rel_root = f"{crossing.id}/live-{run_start:%Y%m%dT%H%M%S}-run{run_id}"
    watcher = Watcher(
        req.source,
        crossing,
        detector_for,
        settings,
        repo,
        run_id,
        recorder,
        run_start=run_start,
        rel_root=rel_root,
        evidence_root=req.evidence_root,
        emit=emit,
        options=req.options,
        pts_anchor=req.start_time is not None,
    )
    return LiveRun(watcher, repo, run_id, run_start)
