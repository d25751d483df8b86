"""What "process a video" is asked to do: one frozen `ProcessRequest`, and the run key derived from it.

The run key — the video's content SHA-256, the crossing's geometry version and the settings hash —
identifies a run in the database (`video_runs`) and names its evidence folder. Both rules live
here and nowhere else: `process_video`, `crosswatch batch` (to skip finished videos before
dispatching them) and the jobs worker all ask the request.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.config import ConfigError, Crossing, load_crossing
from detector.pipeline import PipelineSettings
from service.db import default_db_url
from service.run_records import hash_settings

from .errors import UserError

DEFAULT_IMGSZ = 640
DEFAULT_DETECT_FPS = PipelineSettings().detect_fps
IMGSZ_RANGE = (32, 8192)  # pixels of the model's input side
MAX_DETECT_FPS = 1000.0
START_YEARS = (1970, 2999)  # a wall clock outside these years is a typo, and would overflow event times
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?|\d{1,3}")


def check_options(*, imgsz: int, detect_fps: float, device: str | None = None) -> None:
    """The model options a run may be asked for; anything else is a UserError naming the option."""
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or not IMGSZ_RANGE[0] <= imgsz <= IMGSZ_RANGE[1]:
        raise UserError(
            f"--imgsz must be a whole number of pixels from {IMGSZ_RANGE[0]} to {IMGSZ_RANGE[1]}, not {imgsz!r}"
        )
    if not (isinstance(detect_fps, (int, float)) and math.isfinite(detect_fps) and 0 <= detect_fps <= MAX_DETECT_FPS):
        raise UserError(f"--detect-fps must be from 0 (every frame) to {MAX_DETECT_FPS:g}, not {detect_fps!r}")
    if device is not None and not _DEVICE.fullmatch(device):
        raise UserError(f"--device must be cpu, cuda, cuda:N, mps or auto, not {device!r}")


def parse_start(value: str | None) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset (`--start-time`), or None."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--start-time: not an ISO 8601 date-time with offset: {value!r}") from None
    if dt.tzinfo is None:
        raise UserError(f"--start-time: needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00 (got {value!r})")
    if not START_YEARS[0] <= dt.year <= START_YEARS[1]:
        raise UserError(f"--start-time: the year must be from {START_YEARS[0]} to {START_YEARS[1]} (got {value!r})")
    return dt


def evidence_root(option: str | Path | None, db_url: str) -> Path:
    """--evidence-dir, else $CROSSWATCH_EVIDENCE_DIR, else `evidence/` beside the SQLite file, else data/evidence."""
    if option or os.environ.get("CROSSWATCH_EVIDENCE_DIR"):
        return Path(option or os.environ["CROSSWATCH_EVIDENCE_DIR"]).resolve()
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return (Path(db_url.split("///", 1)[1]).parent / "evidence").resolve()
    return Path("data/evidence").resolve()


def resolve_device_and_model(device: str | None, model: str | None) -> tuple[str, str]:
    """(device, model name): `auto` becomes cuda or cpu; no model = the manifest's default for that device."""
    from detector import assets
    from detector.detection import pick_device

    dev = pick_device(device)
    return dev, model or assets.default_model_name("cuda" if dev.startswith("cuda") else "cpu")


def settings_dict(settings: PipelineSettings, signal_plan: Path | None) -> dict[str, Any]:
    """The settings a run is stored with: the pipeline's, plus the signal plan's text."""
    out = settings.as_dict()
    try:
        out["signal_plan"] = Path(signal_plan).read_text(encoding="utf-8") if signal_plan else None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ConfigError(f"{signal_plan}: cannot read: {reason}") from None
    return out


def settings_hash(settings: PipelineSettings, signal_plan: Path | None) -> str:
    """The settings part of the run key."""
    return hash_settings(settings_dict(settings, signal_plan))


@dataclass(frozen=True, slots=True)
class RunKey:
    """A run's identity: same video content, crossing geometry and settings = the same run."""

    video_sha256: str
    crossing_id: str
    geometry_hash: str
    settings_hash: str

    @property
    def evidence_dir(self) -> str:
        """The run's evidence folder (relative to the evidence root): one per run key, so two
        versions of a crossing never share files."""
        return f"{self.crossing_id}/{self.video_sha256[:16]}-{self.geometry_hash[:8]}-{self.settings_hash[:8]}"


def run_key_of(crossing: Crossing, video_sha256: str, settings_hash_: str) -> RunKey:
    return RunKey(video_sha256, crossing.id, crossing.geometry_hash(), settings_hash_)


@dataclass(frozen=True, slots=True)
class ProcessRequest:
    """Process one video at one crossing with these settings into this database and evidence folder.

    `device` and `model` are resolved (see `build`): the request says exactly what runs."""

    video: Path
    crossing_file: Path
    db_url: str
    evidence_root: Path
    model: str
    device: str
    imgsz: int = DEFAULT_IMGSZ
    detect_fps: float = DEFAULT_DETECT_FPS
    start_time: datetime | None = None
    signal_plan: Path | None = None

    @classmethod
    def build(
        cls,
        video: str | Path,
        crossing_file: str | Path,
        *,
        db_url: str | None = None,
        evidence_dir: str | Path | None = None,
        model: str | None = None,
        device: str | None = "auto",
        imgsz: int = DEFAULT_IMGSZ,
        detect_fps: float = DEFAULT_DETECT_FPS,
        start_time: datetime | None = None,
        signal_plan: str | Path | None = None,
    ) -> ProcessRequest:
        """A request with the defaults filled in: database ($CROSSWATCH_DB_URL or the project's
        SQLite file), evidence root (see `evidence_root`), device and the device's default model."""
        check_options(imgsz=imgsz, detect_fps=detect_fps, device=device)
        db = db_url or default_db_url()
        dev, model_name = resolve_device_and_model(device, model)
        return cls(
            Path(video),
            Path(crossing_file),
            db,
            evidence_root(evidence_dir, db),
            model_name,
            dev,
            imgsz,
            detect_fps,
            start_time,
            Path(signal_plan) if signal_plan else None,
        )

    def with_(self, **changes: Any) -> ProcessRequest:
        return replace(self, **changes)

    @property
    def settings(self) -> PipelineSettings:
        return PipelineSettings(model=self.model, imgsz=self.imgsz, detect_fps=self.detect_fps)

    def settings_dict(self) -> dict[str, Any]:
        return settings_dict(self.settings, self.signal_plan)

    def settings_hash(self) -> str:
        return settings_hash(self.settings, self.signal_plan)

    def crossing(self) -> Crossing:
        return load_crossing(self.crossing_file)

    def run_key(self, video_sha256: str | None = None, crossing: Crossing | None = None) -> RunKey:
        """The run key (reads the whole video for its SHA-256 unless `video_sha256` is given)."""
        if video_sha256 is None:
            from detector.video import file_sha256

            video_sha256 = file_sha256(self.video)
        return run_key_of(crossing or self.crossing(), video_sha256, self.settings_hash())
