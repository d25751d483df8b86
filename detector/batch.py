"""`crosswatch batch`: many videos, each processed exactly once, on a local pool or on Ray.

    crosswatch batch INPUTS... --crossing C.yaml | --crossings-map MAP.yaml
                     [--workers N] [--executor local|ray] [--ray-address ADDR] [--db URL] ...

Inputs are video files, folders (searched recursively for video file names) and list files
(`.txt`/`.lst`/`.list`: one path a line, relative to the list; `#` starts a comment). Every video
is one task, keyed like `crosswatch process` keys its run: the video's content SHA-256, the
crossing's geometry version and the settings. The task itself is `detector.cli.process_video()`
(all-or-nothing and idempotent per key) running in a worker process (`detector/executors.py`).

Exactly once, also when the runner is killed at any moment:

- a task whose run is already `done` is skipped before it is dispatched (SHA-256 cached per
  (path, size, mtime) in the job record, so a re-run does not read every file again);
- the same content twice among the inputs is processed once (the second waits, then is reused);
- a killed run never reached its single commit, so nothing of it is in the database; the re-run
  restarts it (`Repository.start_run` clears a never-finished run) — and first deletes every file
  in the run's evidence folder that no stored evidence row names (pictures written before the
  kill, half-written temp files), so evidence on disk and rows in the database agree again.
  `check_evidence()` (`crosswatch batch --verify`) proves it for a whole evidence folder.

The batch records itself as one job per crossing (`jobs`/`job_items`, `created_by` "batch") with
each video's status, progress, error and run id, so `GET /api/jobs` shows it like any other job;
running the same batch again reopens that job. Bad files (missing, zero bytes, not a video,
corrupt, truncated, unsupported codec, unreadable, a crashing decoder) are failed items with the
reason, and the batch goes on. Exit status: 0 all done, 3 some files failed (`EXIT_PARTIAL`), 1
none could be processed, 2 usage or configuration error, 4 `--verify` found evidence problems,
130 interrupted.

Wall-clock times: `--start-time` dates every video; otherwise a time in the file name matched by
`--time-pattern` (default `%Y%m%d_%H%M%S`, as recorders name `CAM01_20260301_080000.mp4`) in
`--timezone` (default: this machine's), otherwise none (events keep video times only).
"""
from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import io
import json
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Protocol, TextIO

import yaml

from .config import ConfigError, Crossing, load_crossing
from .executors import Executor, LocalExecutor, Message, RayExecutor, Report

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".flv"})  # as the jobs API
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
DEFAULT_TIME_PATTERN = "%Y%m%d_%H%M%S"

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_PARTIAL, EXIT_EVIDENCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

PROGRESS_WRITE_S = 1.0  # an item's progress goes to the database at most this often
CANCEL_POLL_S = 1.0  # how often the runner looks for a cancel requested through the jobs API
CACHE_FLUSH_S = 30.0  # how often new SHA-256 values are saved in the job record
LOG_EVERY_S = 30.0  # plain-log progress line interval (not a terminal)
HASH_THREADS = 2


class BatchError(Exception):
    """The batch cannot start (bad arguments, unreadable list or map); one line for a person."""


# -- inputs ----------------------------------------------------------------------------------------
def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Every video named by `inputs`, absolute, each once, in the order given (folders sorted).

    A named file is taken whatever its name (a bad one is reported when processed); folders
    contribute files with a video suffix only; a list file contributes its lines. A path that does
    not exist is kept: it becomes a failed item ("no such file") rather than stopping the batch."""
    out: dict[Path, None] = {}
    for raw in inputs:
        _expand_one(Path(raw).expanduser(), out, lists_seen=set())
    return list(out)


def _expand_one(path: Path, out: dict[Path, None], lists_seen: set[Path]) -> None:
    path = Path(os.path.abspath(path))  # symlinks kept: their names may carry the recording time
    if path.is_dir():
        for video in _videos_under(path):
            out[video] = None
    elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        if path in lists_seen:
            raise BatchError(f"{path}: list file names itself (directly or through another list)")
        for entry in _read_list(path):
            _expand_one(entry, out, lists_seen | {path})
    else:
        out[path] = None


def _videos_under(folder: Path) -> Iterator[Path]:
    """Files with a video suffix below `folder`, sorted, not following symlinked folders."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                yield Path(dirpath) / name


def _read_list(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"{path}: cannot read the list file: {e}") from None
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            p = Path(line).expanduser()
            entries.append(p if p.is_absolute() else path.parent / p)
    return entries


# -- crossings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossingMap:
    """`--crossings-map MAP.yaml`: shell-wildcard patterns -> crossing files, first match wins.

        CAM01_*: crossings/cam01.crossing.yaml     # matched against the file name
        "*/north-gate/*": north.crossing.yaml       # a pattern with '/' matches the full path

    Crossing file paths are relative to the map file."""

    source: Path
    rules: tuple[tuple[str, Path], ...]

    @classmethod
    def load(cls, path: str | Path) -> CrossingMap:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise BatchError(f"{path}: cannot read the crossings map: {e}") from None
        except yaml.YAMLError as e:
            raise BatchError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict) or not data:
            raise BatchError(f"{path}: expected a mapping of file-name patterns to crossing files")
        rules = []
        for pattern, target in data.items():
            if not isinstance(pattern, str) or not isinstance(target, str) or not pattern or not target:
                raise BatchError(f"{path}: entry {pattern!r}: pattern and crossing file must both be text")
            file = Path(target).expanduser()
            rules.append((pattern, (file if file.is_absolute() else path.parent / file).resolve()))
        return cls(path.resolve(), tuple(rules))

    def crossing_for(self, video: Path) -> Path | None:
        for pattern, crossing in self.rules:
            subject = str(video) if "/" in pattern else video.name
            if fnmatch.fnmatchcase(subject, pattern):
                return crossing
        return None


def load_crossings(files: set[Path]) -> dict[Path, Crossing]:
    """Each crossing file once; two files that define the same crossing id differently are refused
    (a batch processes one version of each crossing)."""
    loaded = {f: load_crossing(f) for f in sorted(files)}
    by_id: dict[str, tuple[Path, str]] = {}
    for f, c in loaded.items():
        seen = by_id.setdefault(c.id, (f, c.geometry_hash()))
        if seen[1] != c.geometry_hash():
            raise BatchError(f"{seen[0]} and {f} are two different versions of crossing {c.id!r}: "
                             "process one version per batch")
    return loaded


# -- wall-clock times --------------------------------------------------------------------------------
_TIME_FIELDS = {"Y": r"(?P<Y>\d{4})", "m": r"(?P<m>\d{2})", "d": r"(?P<d>\d{2})",
                "H": r"(?P<H>\d{2})", "M": r"(?P<M>\d{2})", "S": r"(?P<S>\d{2})"}


def parse_timezone(text: str | None) -> tzinfo:
    """'+08:00' / '-0500' / 'UTC' / an IANA name ('Asia/Shanghai'); None = this machine's zone."""
    if text is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    if text.upper() in ("UTC", "Z"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise BatchError(f"--timezone: unknown time zone {text!r} (use +08:00 or a name like Asia/Shanghai)") from None


class TimePattern:
    """A file-name time in strftime notation (%Y %m %d %H %M, optional %S; `*` matches anything)
    searched anywhere in the file name, read in `tz`."""

    def __init__(self, fmt: str, tz: tzinfo):
        self.fmt, self.tz = fmt, tz
        parts, i = [], 0
        while i < len(fmt):
            ch = fmt[i]
            if ch == "%" and i + 1 < len(fmt) and (fmt[i + 1] in _TIME_FIELDS or fmt[i + 1] == "%"):
                parts.append("%" if fmt[i + 1] == "%" else _TIME_FIELDS[fmt[i + 1]])
                i += 2
            elif ch == "%":
                raise BatchError(f"--time-pattern {fmt!r}: only %Y %m %d %H %M %S and %% are understood")
            else:
                parts.append(".*?" if ch == "*" else re.escape(ch))
                i += 1
        regex = "".join(parts)
        missing = [f"%{k}" for k in "YmdHM" if f"(?P<{k}>" not in regex]
        if missing:
            raise BatchError(f"--time-pattern {fmt!r}: needs {' '.join(missing)}")
        if len(re.findall(r"\(\?P<", regex)) != len(set(re.findall(r"\(\?P<(\w)>", regex))):
            raise BatchError(f"--time-pattern {fmt!r}: a field appears twice")
        self.regex = re.compile(regex)

    def start_of(self, video: Path) -> datetime | None:
        """The wall-clock time in the file's name, or None (no match, or no such date)."""
        m = self.regex.search(video.name)
        if m is None:
            return None
        g = {k: int(v) for k, v in m.groupdict().items()}
        try:
            return datetime(g["Y"], g["m"], g["d"], g["H"], g["M"], g.get("S", 0), tzinfo=self.tz)
        except ValueError:
            return None


# -- what a worker runs ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunConfig:
    """The `process` options shared by every video of the batch (sent to each worker)."""

    db_url: str
    evidence_root: str
    model: str | None = None
    device: str = "auto"
    imgsz: int = 640
    detect_fps: float = 10.0
    signal_plan: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    path: str
    crossing_file: str
    crossing_id: str
    sha256: str
    settings_hash: str
    start_time: str | None  # ISO 8601 with offset
    config: RunConfig


@dataclass(frozen=True, slots=True)
class TaskResult:
    status: str  # done | failed
    error: str | None = None
    run_id: int | None = None
    events: int | None = None
    reused: bool = False
    duration_s: float | None = None
    wall_s: float = 0.0
    warnings: tuple[str, ...] = ()
    removed: int = 0  # evidence files of an earlier, killed attempt removed first


def settings_hash(cfg: RunConfig) -> str:
    """The run key's settings hash exactly as `process_video` computes it (a test holds the two
    together), so the runner can find finished runs without starting a worker."""
    from service.repository import hash_settings

    from . import assets
    from .detection import pick_device
    from .pipeline import PipelineSettings

    device = pick_device(cfg.device)
    model = cfg.model or assets.default_model_name("cuda" if device.startswith("cuda") else "cpu")
    settings = PipelineSettings(model=model, imgsz=cfg.imgsz, detect_fps=cfg.detect_fps).as_dict()
    settings["signal_plan"] = Path(cfg.signal_plan).read_text(encoding="utf-8") if cfg.signal_plan else None
    return hash_settings(settings)


def run_dir(crossing_file: str | Path, sha256: str, settings_hash_: str) -> str:
    """The evidence folder of a run, relative to the evidence root (as `process_video` names it)."""
    from .cli import evidence_run_dir
    from .config import load_crossing

    return evidence_run_dir(load_crossing(crossing_file), sha256, settings_hash_)


class _StderrTap(io.TextIOBase):
    """Stands in for sys.stderr around `process_video`: its `{"progress": x}` lines become reports,
    other lines are kept as warnings for the runner to print."""

    def __init__(self, report: Report):
        self.report = report
        self.lines: list[str] = []
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if line.startswith('{"progress"'):
            try:
                self.report("progress", float(json.loads(line)["progress"]))
                return
            except (ValueError, KeyError, TypeError):
                pass
        if line.strip():
            self.lines.append(line.strip())


def execute_task(task: Task, report: Report) -> TaskResult:
    """Process one video in a worker: probe it (its duration goes to the runner), clear what a
    killed earlier attempt left in its evidence folder, run `process_video`; a bad video is a
    `failed` result with the reason, never an exception."""
    t0 = time.perf_counter()
    from service.repository import RunAlreadyDone

    from .cli import UserError, process_video
    from .video import VideoError, probe

    try:
        info = probe(task.path)
    except VideoError as e:
        return TaskResult("failed", str(e), wall_s=time.perf_counter() - t0)
    report("started", {"duration_s": info.duration_s})
    cfg = task.config
    rel = run_dir(task.crossing_file, task.sha256, task.settings_hash)
    removed = remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)
    args = argparse.Namespace(video=task.path, crossing=task.crossing_file, db=cfg.db_url,
                              evidence_dir=cfg.evidence_root, model=cfg.model, device=cfg.device, imgsz=cfg.imgsz,
                              detect_fps=cfg.detect_fps, start_time=task.start_time, signal_plan=cfg.signal_plan,
                              json=True, progress=True)
    tap = _StderrTap(report)
    try:
        with contextlib.redirect_stderr(tap):
            out = process_video(args)
    except RunAlreadyDone as e:  # another process finished the same run meanwhile
        return TaskResult("done", run_id=e.run.id, events=_count_events(cfg.db_url, e.run.id), reused=True,
                          duration_s=e.run.duration_s, wall_s=time.perf_counter() - t0, removed=removed)
    except (UserError, ConfigError, VideoError) as e:
        error: str = str(e)
    except Exception as e:  # noqa: BLE001 - a database or pipeline bug fails this video, not the batch
        error = f"internal error: {type(e).__name__}: {e}"
    else:
        # pictures of an event whose evidence failed half-way are on disk without rows: not evidence
        removed += remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)
        return TaskResult("done", run_id=out["run_id"], events=len(out["events"]), reused=out["reused"],
                          duration_s=out["duration_s"], wall_s=time.perf_counter() - t0,
                          warnings=tuple(tap.lines), removed=removed)
    removed += remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)  # evidence of a failed video
    return TaskResult("failed", error.splitlines()[0] if error else "failed", duration_s=info.duration_s,
                      wall_s=time.perf_counter() - t0, warnings=tuple(tap.lines), removed=removed)


def _count_events(db_url: str, run_id: int) -> int:
    from service.db import make_engine
    from service.repository import Repository

    engine = make_engine(db_url)
    try:
        return Repository(engine).count_events(run_id=run_id)
    finally:
        engine.dispose()


# -- evidence against the database -------------------------------------------------------------------
def _referenced(engine: Any, prefix: str | None = None) -> dict[str, tuple[str, int]]:
    """relpath -> (sha256, size) of every stored evidence file (under `prefix`/ when given)."""
    from sqlalchemy import select

    from service.models import EvidenceFileRow

    q = select(EvidenceFileRow.relpath, EvidenceFileRow.sha256, EvidenceFileRow.size)
    if prefix is not None:
        q = q.where(EvidenceFileRow.relpath.startswith(prefix.rstrip("/") + "/", autoescape=True))
    with engine.connect() as conn:
        return {r: (h, int(n)) for r, h, n in conn.execute(q)}


def _files_under(root: Path, rel: str) -> Iterator[str]:
    """POSIX relpaths (to `root`) of every file below root/rel."""
    base = root / rel
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            yield (Path(dirpath) / name).relative_to(root).as_posix()


def remove_unreferenced(db_url: str, root: Path, rel: str) -> int:
    """Delete every file under root/rel that no evidence row names, then empty folders; the count.

    Called for one run's folder before (and after a failed) attempt: only this batch works on that
    run, and its earlier attempts never committed, so whatever they wrote there is orphaned."""
    if not (root / rel).is_dir():
        return 0
    from service.db import make_engine

    engine = make_engine(db_url)
    try:
        keep = _referenced(engine, rel)
    finally:
        engine.dispose()
    removed = 0
    for relpath in list(_files_under(root, rel)):
        if relpath not in keep:
            (root / relpath).unlink(missing_ok=True)
            removed += 1
    for dirpath, _dirs, _files in sorted(os.walk(root / rel), key=lambda x: -len(x[0])):
        with contextlib.suppress(OSError):  # not empty: kept
            Path(dirpath).rmdir()
    return removed


@dataclass
class EvidenceCheck:
    """Evidence folder against the database: files nobody references, rows without their file,
    files whose size or SHA-256 differs from the row."""

    rows: int = 0
    files: int = 0
    orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.orphans or self.missing or self.damaged)

    def lines(self) -> list[str]:
        head = (f"evidence check: {self.rows} evidence rows, {self.files} files: {len(self.orphans)} orphaned, "
                f"{len(self.missing)} missing, {len(self.damaged)} damaged")
        return ([head] + [f"  orphaned (no row): {p}" for p in self.orphans]
                + [f"  missing (row without file): {p}" for p in self.missing] + [f"  damaged: {p}" for p in self.damaged])


def check_evidence(engine: Any, root: Path, *, hashes: bool = True) -> EvidenceCheck:
    """Every file below `root` must belong to a stored evidence row and every row must have its
    file, same size (and same SHA-256 when `hashes`). Top-level folders starting with '_' or '.'
    (e.g. the service's `_snapshots` cache) are not evidence and are skipped."""
    from .evidence import sha256_file

    rows = _referenced(engine)
    on_disk: set[str] = set()
    if root.is_dir():
        for top in sorted(root.iterdir()):
            if top.name.startswith(("_", ".")):
                continue
            if top.is_file():
                on_disk.add(top.name)
            else:
                on_disk.update(_files_under(root, top.name))
    check = EvidenceCheck(rows=len(rows), files=len(on_disk))
    check.orphans = sorted(on_disk - rows.keys())
    check.missing = sorted(rows.keys() - on_disk)
    for rel in sorted(on_disk & rows.keys()):
        digest, size = rows[rel]
        found = (root / rel).stat().st_size
        if found != size:
            check.damaged.append(f"{rel} (size {found}, recorded {size})")
        elif hashes and sha256_file(root / rel) != digest:
            check.damaged.append(f"{rel} (SHA-256 differs from the record)")
    return check


# -- the runner's view of each video -----------------------------------------------------------------
@dataclass
class FileState:
    path: Path
    crossing_file: Path | None
    crossing_id: str | None
    start_time: datetime | None
    job_id: int | None = None
    item_id: int | None = None
    sha256: str | None = None
    status: str = "pending"  # pending | running | done | failed | cancelled
    error: str | None = None
    run_id: int | None = None
    events: int | None = None
    reused: bool = False
    duration_s: float | None = None
    progress: float = 0.0
    wall_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "crossing": self.crossing_id, "status": self.status, "error": self.error,
                "reused": self.reused, "run_id": self.run_id, "events": self.events, "duration_s": self.duration_s,
                "sha256": self.sha256, "start_time": self.start_time.isoformat() if self.start_time else None}


@dataclass
class Tally:
    """Overall numbers for the progress display: videos and video-hours, and an ETA."""

    total: int
    started_at: float = field(default_factory=time.monotonic)
    finished: int = 0
    failed: int = 0
    processed_s: float = 0.0  # video seconds processed by this run (not reused), finished videos

    def video_seconds(self, files: Sequence[FileState]) -> tuple[float, float, int]:
        """(seconds done incl. the running share, seconds known in all, videos of unknown length)."""
        done = sum((f.duration_s or 0.0) * (1.0 if f.finished else f.progress) for f in files)
        known = sum(f.duration_s or 0.0 for f in files)
        unknown = sum(1 for f in files if f.duration_s is None and not f.finished)
        return done, known, unknown

    def eta_s(self, files: Sequence[FileState]) -> float | None:
        running = sum((f.duration_s or 0.0) * f.progress for f in files if f.status == "running")
        rate = (self.processed_s + running) / max(time.monotonic() - self.started_at, 1e-6)
        if rate <= 0:
            return None
        done, known, unknown = self.video_seconds(files)
        lengths = [f.duration_s for f in files if f.duration_s]
        mean = sum(lengths) / len(lengths) if lengths else 0.0
        remaining = max(known - done, 0.0) + unknown * mean
        return remaining / rate

    def line(self, files: Sequence[FileState]) -> str:
        done, known, unknown = self.video_seconds(files)
        eta = self.eta_s(files)
        more = f" (+{unknown} of unknown length)" if unknown else ""
        eta_s = _duration(eta) if eta is not None and self.finished < self.total else "-"
        return (f"{self.finished}/{self.total} videos ({self.failed} failed), "
                f"{done / 3600:.2f}/{known / 3600:.2f} video-h{more}, ETA {eta_s}")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _outcome(f: FileState) -> str:
    if f.status == "done":
        what = "already processed" if f.reused else f"done, {f.events} events"
        extra = f" ({f.duration_s:.1f} s video in {f.wall_s:.1f} s)" if f.wall_s and not f.reused and f.duration_s else ""
        return f"{f.path.name}: {what}{extra}"
    return f"{f.path.name}: {f.status.upper()}: {f.error}"


# -- progress display --------------------------------------------------------------------------------
class Display(Protocol):
    def started(self, f: FileState) -> None: ...

    def progress(self, f: FileState) -> None: ...

    def finished(self, f: FileState, note: str | None = None) -> None: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...


class LogDisplay:
    """Not a terminal: one line per finished video and a progress line every `every_s` seconds."""

    def __init__(self, files: Sequence[FileState], tally: Tally, stream: TextIO, every_s: float = LOG_EVERY_S):
        self.files, self.tally, self.stream, self.every_s = files, tally, stream, every_s
        self._last = time.monotonic()

    def _print(self, text: str) -> None:
        print(f"crosswatch batch: {text}", file=self.stream, flush=True)

    def started(self, f: FileState) -> None:
        pass

    def progress(self, f: FileState) -> None:
        pass

    def finished(self, f: FileState, note: str | None = None) -> None:
        self._print(f"[{self.tally.finished}/{self.tally.total}] {_outcome(f)}")
        if note:
            self._print(f"  {note}")

    def tick(self) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self._print("progress: " + self.tally.line(self.files))

    def close(self) -> None:
        self._print("finished: " + self.tally.line(self.files))


class TerminalDisplay:
    """A terminal: one overall bar (videos, video-hours, ETA) and one bar per video in flight."""

    def __init__(self, files: Sequence[FileState], tally: Tally, stream: TextIO, slots: int):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.files, self.tally, self.stream = files, tally, stream
        # {desc} is shown as it is; {postfix} would get a ", " in front
        self.overall = tqdm(total=tally.total, unit="video", position=0, file=stream, dynamic_ncols=True,
                            bar_format="{n_fmt}/{total_fmt} videos |{bar}| {desc}")
        self._free = list(range(1, slots + 1))
        self._bars: dict[Path, tuple[Any, int]] = {}

    def started(self, f: FileState) -> None:
        slot = self._free.pop(0) if self._free else len(self._bars) + 1
        length = f" ({f.duration_s / 60:.1f} min)" if f.duration_s else ""
        bar = self._tqdm(total=100, position=slot, leave=False, file=self.stream, dynamic_ncols=True,
                         desc=f.path.name[-40:] + length, bar_format="  {desc}: {percentage:3.0f}%|{bar}|")
        self._bars[f.path] = (bar, slot)

    def progress(self, f: FileState) -> None:
        if f.path in self._bars:
            bar = self._bars[f.path][0]
            bar.n = round(100 * f.progress)
            bar.refresh()

    def finished(self, f: FileState, note: str | None = None) -> None:
        if f.path in self._bars:
            bar, slot = self._bars.pop(f.path)
            bar.close()
            self._free.append(slot)
            self._free.sort()
        self.overall.write(_outcome(f), file=self.stream)
        if note:
            self.overall.write(f"  {note}", file=self.stream)
        self.overall.n = self.tally.finished
        self.tick()

    def tick(self) -> None:
        self.overall.set_description_str(self.tally.line(self.files).split(", ", 1)[1], refresh=True)

    def close(self) -> None:
        for bar, _slot in self._bars.values():
            bar.close()
        self._bars.clear()
        self.overall.close()


# -- the job records ---------------------------------------------------------------------------------
@dataclass
class JobHandle:
    crossing_id: str
    job: Any  # jobs_repo.BatchJob
    sha_cache: dict[str, list]  # path -> [size, mtime_ns, sha256]
    dirty: bool = False


def batch_key(inputs: Sequence[Path], crossing: Crossing, settings_hash_: str) -> str:
    """Identity of "this batch" for reopening its job: the inputs as given, the crossing config
    and the settings."""
    blob = json.dumps({"inputs": sorted(str(p) for p in inputs), "crossing": crossing.id,
                       "geometry": crossing.geometry_hash(), "settings": settings_hash_}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_sha(path: Path, cached: list | None) -> list:
    """[size, mtime_ns, sha256] of the file: `cached` itself while size and mtime are unchanged,
    else read (runs in a hashing thread; the runner keeps the cache)."""
    from .video import file_sha256

    st = path.stat()
    if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
        return cached
    if not path.is_file():
        raise IsADirectoryError(f"{path}: not a regular file")
    return [st.st_size, st.st_mtime_ns, file_sha256(path)]


def _hash_error(path: Path, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(e, PermissionError):
        return f"{path}: unreadable (permission denied)"
    if isinstance(e, IsADirectoryError):
        return f"{path}: not a regular file"
    return f"{path}: cannot read: {e.strerror or e}"


# -- the runner --------------------------------------------------------------------------------------
@dataclass
class BatchPlan:
    inputs: list[Path]
    files: list[FileState]
    crossings: dict[str, tuple[Path, Crossing]]
    config: RunConfig
    unmatched_note: str | None = None  # "N files matched no crossing of MAP"


class _Interrupted(Exception):
    pass


class BatchRunner:
    """Hashes, skips what is done, dispatches the rest to the executor, records every outcome."""

    def __init__(self, plan: BatchPlan, executor: Executor, display_stream: TextIO | None = None, *,
                 tty: bool | None = None, poll_s: float = 0.2):
        from service.db import make_engine, session_factory, upgrade
        from service.repository import Repository

        self.plan = plan
        self.executor = executor
        self.poll_s = poll_s
        self.engine = make_engine(plan.config.db_url)
        upgrade(self.engine)
        self.repo = Repository(self.engine)
        self.write = session_factory(self.engine, write=True)
        self.read = session_factory(self.engine)
        self.settings_hash = settings_hash(plan.config)
        self.files = plan.files
        self.tally = Tally(total=len(self.files))
        stream = display_stream or sys.stderr
        use_tty = stream.isatty() if tty is None else tty
        self.display: Display = (TerminalDisplay(self.files, self.tally, stream, executor.capacity) if use_tty
                                 else LogDisplay(self.files, self.tally, stream))
        self.versions: dict[str, int] = {}
        self.jobs: dict[str, JobHandle] = {}
        self._inflight: dict[str, FileState] = {}  # executor key (path) -> file
        self._busy_keys: set[tuple[str, str]] = set()  # (sha256, crossing) being processed
        self._progress_written: dict[Path, float] = {}

    # ---- setup
    def _open_jobs(self) -> None:
        from service import jobs_repo

        for cid, (cfile, crossing) in self.plan.crossings.items():
            self.versions[cid] = self.repo.upsert_crossing(crossing, cfile.read_text(encoding="utf-8")).version_id
            paths = [str(f.path) for f in self.files if f.crossing_id == cid]
            common = {f.start_time for f in self.files if f.crossing_id == cid}
            job = jobs_repo.open_batch_job(
                self.write, crossing_id=cid, key=batch_key(self.plan.inputs, crossing, self.settings_hash),
                paths=paths, start_time=common.pop() if len(common) == 1 else None,
                settings={"source": "batch", "crossing_file": str(cfile), "inputs": [str(p) for p in self.plan.inputs][:50],
                          "settings_hash": self.settings_hash, "executor": type(self.executor).__name__})
            self.jobs[cid] = JobHandle(cid, job, dict(job.settings.get("sha256") or {}))
            for f in self.files:
                if f.crossing_id == cid:
                    f.job_id, f.item_id = job.id, job.items[str(f.path)]

    # ---- outcomes
    def _finish(self, f: FileState, status: str, *, error: str | None = None, result: TaskResult | None = None,
                note: str | None = None) -> None:
        from service import jobs_repo

        f.status, f.error = status, error
        if result is not None:
            f.run_id, f.events, f.reused = result.run_id, result.events, result.reused
            f.duration_s = result.duration_s if result.duration_s is not None else f.duration_s
            f.wall_s = result.wall_s
            if status == "done" and not result.reused:
                self.tally.processed_s += result.duration_s or 0.0
        self.tally.finished += 1
        self.tally.failed += status == "failed"
        if f.item_id is not None:
            jobs_repo.finish_item(self.write, f.item_id, status=status, error=error, run_id=f.run_id, events=f.events)
        self.display.finished(f, note)

    def _finish_reused(self, f: FileState, run: Any) -> None:
        self._finish(f, "done", result=TaskResult("done", run_id=run.id, events=self.repo.count_events(run_id=run.id),
                                                  reused=True, duration_s=run.duration_s))

    # ---- the loop
    def run(self) -> list[FileState]:
        """Process every file; returns them with their outcome. KeyboardInterrupt (or SIGTERM)
        stops the workers and marks the unfinished items cancelled before it propagates."""
        previous = _install_sigterm()
        hasher = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="crosswatch-sha")
        try:
            self._open_jobs()
            for f in self.files:
                if f.crossing_id is None:
                    self._finish(f, "failed", error=f"{f.path}: matched no pattern of the crossings map")
            todo = [f for f in self.files if not f.finished]
            hashes = deque((f, hasher.submit(file_sha, f.path, self.jobs[f.crossing_id].sha_cache.get(str(f.path))))
                           for f in todo)
            self._loop(hashes)
        except (KeyboardInterrupt, _Interrupted):
            self._interrupt("batch interrupted; run the same command again to resume")
            raise
        except Exception as e:  # a lost database, a lost Ray cluster: no job may stay `running`
            self._interrupt(f"batch runner failed: {type(e).__name__}: {e}"[:2000])
            raise
        finally:
            hasher.shutdown(wait=False, cancel_futures=True)  # an interrupt must not wait for every file
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            with contextlib.suppress(Exception):  # only a cache: it must not hide the real error
                self._save_caches()
            self.display.close()
            self.engine.dispose()
        self._finish_jobs()
        return self.files

    def _loop(self, hashes: deque[tuple[FileState, Future]]) -> None:
        ready: list[FileState] = []
        waiting: list[FileState] = []  # same content as a video in flight
        last_cancel = last_flush = time.monotonic()
        while hashes or ready or waiting or self._inflight:
            while hashes and hashes[0][1].done():
                f, fut = hashes.popleft()
                self._hashed(f, fut, ready)
            ready.extend(self._release(waiting))
            self._dispatch(ready, waiting)
            if self._inflight:
                for msg in self.executor.poll(self.poll_s):
                    self._message(msg)
            elif hashes and not ready:  # nothing to do until the next file is hashed
                futures_wait([hashes[0][1]], timeout=self.poll_s)
            now = time.monotonic()
            if now - last_cancel >= CANCEL_POLL_S:
                last_cancel = now
                self._check_cancel(ready, waiting)
            if now - last_flush >= CACHE_FLUSH_S:
                last_flush = now
                self._save_caches()
            self.display.tick()

    def _hashed(self, f: FileState, fut: Future, ready: list[FileState]) -> None:
        try:
            entry = fut.result()
        except OSError as e:
            self._finish(f, "failed", error=_hash_error(f.path, e))
            return
        handle = self.jobs[f.crossing_id]  # type: ignore[index]
        if handle.sha_cache.get(str(f.path)) is not entry:
            handle.sha_cache[str(f.path)], handle.dirty = entry, True
        f.sha256 = str(entry[2])
        run = self.repo.find_run(f.sha256, self.versions[f.crossing_id], self.settings_hash)  # type: ignore[index]
        if run is not None and run.status == "done":
            self._finish_reused(f, run)
            return
        if str(f.path) in self.jobs[f.crossing_id].job.done_before:  # type: ignore[index]
            from service import jobs_repo

            jobs_repo.requeue_items(self.write, [f.item_id])  # its run is gone: process it again
        ready.append(f)

    def _release(self, waiting: list[FileState]) -> list[FileState]:
        free = [f for f in waiting if (f.sha256, f.crossing_id) not in self._busy_keys]
        for f in free:
            waiting.remove(f)
        return free

    def _dispatch(self, ready: list[FileState], waiting: list[FileState]) -> None:
        from service import jobs_repo

        while ready and len(self._inflight) < self.executor.capacity:
            f = ready.pop(0)
            key = (f.sha256 or "", f.crossing_id or "")
            if key in self._busy_keys:
                waiting.append(f)
                continue
            run = self.repo.find_run(key[0], self.versions[key[1]], self.settings_hash)
            if run is not None and run.status == "done":  # a duplicate whose twin just finished
                self._finish_reused(f, run)
                continue
            if f.item_id is not None and not jobs_repo.start_item(self.write, f.item_id):
                self._finish(f, "cancelled", error="cancelled through the jobs API")
                continue
            cfile = self.plan.crossings[key[1]][0]
            task = Task(str(f.path), str(cfile), key[1], key[0], self.settings_hash,
                        f.start_time.isoformat() if f.start_time else None, self.plan.config)
            f.status = "running"
            self._inflight[str(f.path)] = f
            self._busy_keys.add(key)
            self.executor.submit(str(f.path), task)

    def _message(self, msg: Message) -> None:
        f = self._inflight.get(msg.key)
        if f is None:
            return  # a late report of a cancelled video
        if msg.kind == "started":
            f.duration_s = (msg.value or {}).get("duration_s")
            self.display.started(f)
        elif msg.kind == "progress":
            self._progress(f, float(msg.value))
        elif msg.kind in ("result", "crashed"):
            del self._inflight[msg.key]
            self._busy_keys.discard((f.sha256 or "", f.crossing_id or ""))
            if msg.kind == "result":
                res: TaskResult = msg.value
                note = "; ".join(res.warnings) if res.warnings else None
                if res.removed:
                    note = (f"removed {res.removed} evidence files no stored event names (left by an interrupted "
                            "attempt)" + (f"; {note}" if note else ""))
                self._finish(f, res.status, error=res.error, result=res, note=note)
            else:
                removed = self._clean_after_crash(f)
                self._finish(f, "failed", error=f"{f.path}: {msg.value}",
                             note=f"removed {removed} evidence files it left" if removed else None)

    def _progress(self, f: FileState, value: float) -> None:
        from service import jobs_repo

        f.progress = min(max(value, 0.0), 1.0)
        self.display.progress(f)
        now = time.monotonic()
        if f.item_id is not None and now - self._progress_written.get(f.path, 0.0) >= PROGRESS_WRITE_S:
            self._progress_written[f.path] = now
            jobs_repo.set_progress(self.write, f.item_id, f.progress)

    def _clean_after_crash(self, f: FileState) -> int:
        if f.crossing_file is None or f.sha256 is None:
            return 0
        try:
            rel = run_dir(f.crossing_file, f.sha256, self.settings_hash)
            return remove_unreferenced(self.plan.config.db_url, Path(self.plan.config.evidence_root), rel)
        except (OSError, ConfigError):
            return 0

    def _check_cancel(self, ready: list[FileState], waiting: list[FileState]) -> None:
        from service import jobs_repo

        for handle in self.jobs.values():
            if not jobs_repo.cancel_requested(self.read, handle.job.id):
                continue
            for key, f in list(self._inflight.items()):
                if f.crossing_id == handle.crossing_id:
                    self.executor.cancel(key)
                    del self._inflight[key]
                    self._busy_keys.discard((f.sha256 or "", f.crossing_id or ""))
                    self._clean_after_crash(f)
                    self._finish(f, "cancelled", error="cancelled through the jobs API")
            for queue in (ready, waiting):
                for f in [x for x in queue if x.crossing_id == handle.crossing_id]:
                    queue.remove(f)
                    self._finish(f, "cancelled", error="cancelled through the jobs API")

    # ---- the end
    def _save_caches(self) -> None:
        from service import jobs_repo

        for handle in self.jobs.values():
            if handle.dirty:
                live = {str(f.path) for f in self.files if f.crossing_id == handle.crossing_id}
                cache = {p: v for p, v in handle.sha_cache.items() if p in live}
                jobs_repo.update_job_settings(self.write, handle.job.id, {"sha256": cache})
                handle.dirty = False

    def _finish_jobs(self) -> None:
        from service import jobs_repo

        for handle in self.jobs.values():
            jobs_repo.finish_job(self.write, handle.job.id, error=self.plan.unmatched_note)

    def _interrupt(self, reason: str) -> None:
        """Stop the workers (nothing in flight was committed), remove what they wrote, and mark the
        unfinished items and the jobs cancelled with `reason` — best effort: the database may be
        what failed."""
        from service import jobs_repo

        self.executor.shutdown()
        for f in self._inflight.values():
            with contextlib.suppress(Exception):
                self._clean_after_crash(f)
        for handle in self.jobs.values():
            with contextlib.suppress(Exception):
                jobs_repo.interrupt_job(self.write, handle.job.id, reason)


def _install_sigterm() -> Any:
    """SIGTERM stops the batch like Ctrl-C (workers killed, items marked); the previous handler,
    to restore. Only the main thread may set handlers: elsewhere (an embedding) nothing changes."""
    def handler(_sig: int, _frame: Any) -> None:
        raise _Interrupted()

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


# -- planning and the command ------------------------------------------------------------------------
def plan_batch(inputs: Sequence[str | Path], *, crossing: str | Path | None, crossings_map: str | Path | None,
               config: RunConfig, start_time: datetime | None = None,
               time_pattern: TimePattern | None = None) -> BatchPlan:
    """Expand the inputs, assign each video its crossing and wall-clock start; load the crossings."""
    if (crossing is None) == (crossings_map is None):
        raise BatchError("give exactly one of --crossing and --crossings-map")
    paths = expand_inputs(inputs)
    if not paths:
        raise BatchError("no video files among the inputs")
    cmap = CrossingMap.load(crossings_map) if crossings_map is not None else None
    assign = {p: (cmap.crossing_for(p) if cmap else Path(crossing).resolve()) for p in paths}  # type: ignore[arg-type]
    loaded = load_crossings({c for c in assign.values() if c is not None})
    files = [FileState(p, c, loaded[c].id if c else None,
                       start_time or (time_pattern.start_of(p) if time_pattern else None)) for p, c in assign.items()]
    unmatched = sum(f.crossing_id is None for f in files)
    note = f"{unmatched} file(s) of this batch matched no pattern of {cmap.source}" if unmatched and cmap else None
    crossings = {c.id: (f, c) for f, c in loaded.items()}
    return BatchPlan([Path(os.path.abspath(Path(str(i)).expanduser())) for i in inputs], files, crossings, config, note)


def make_executor(kind: str, workers: int | None, *, address: str | None = None,
                  init: Callable[[], None] | None = None, runtime_env: dict[str, Any] | None = None) -> Executor:
    if kind == "local":
        return LocalExecutor(execute_task, workers or default_workers(), init=init)
    if kind == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise BatchError("--executor ray needs the `ray` package: pip install 'crosswatch[cluster]'")
        return RayExecutor(execute_task, workers, address=address, init=init, runtime_env=runtime_env)
    raise BatchError(f"unknown executor {kind!r} (local or ray)")


def default_workers() -> int:
    """Half the cores (each worker's inference uses several threads), at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def exit_status(files: Sequence[FileState]) -> int:
    failed = sum(f.status != "done" for f in files)
    if not failed:
        return EXIT_OK
    return EXIT_FAIL if failed == len(files) else EXIT_PARTIAL


def _summary_lines(files: Sequence[FileState], jobs: dict[str, JobHandle], wall_s: float) -> list[str]:
    done = [f for f in files if f.status == "done"]
    bad = [f for f in files if f.status != "done"]
    hours = sum(f.duration_s or 0.0 for f in done if not f.reused) / 3600
    lines = [f"batch: {len(files)} videos: {len(done) - sum(f.reused for f in done)} processed, "
             f"{sum(f.reused for f in done)} already done, {len(bad)} failed; "
             f"{sum(f.events or 0 for f in done)} events; {hours:.2f} video-h processed in {wall_s:.1f} s"]
    lines += [f"  job {h.job.uid} ({cid})" for cid, h in jobs.items()]
    if bad:
        lines.append("files that failed:")
        lines += [f"  {f.path}: {f.status}: {f.error}" for f in bad]
    return lines


def cmd_batch(args: argparse.Namespace) -> int:
    """`crosswatch batch`: errors of the whole batch are printed here (one line) with exit status 2."""
    try:
        return _cmd_batch(args)
    except (BatchError, ConfigError) as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _cmd_batch(args: argparse.Namespace) -> int:
    from service.db import default_db_url, make_engine

    from .cli import _evidence_root, _parse_start, UserError

    db_url = args.db or default_db_url()
    evidence = _evidence_root(args.evidence_dir, db_url)
    status = EXIT_OK
    if args.inputs:
        try:
            start = _parse_start(args.start_time)
        except UserError as e:
            raise BatchError(str(e)) from None
        pattern = TimePattern(args.time_pattern, parse_timezone(args.timezone)) if args.time_pattern else None
        config = RunConfig(db_url=db_url, evidence_root=str(evidence), model=args.model, device=args.device,
                           imgsz=args.imgsz, detect_fps=args.detect_fps,
                           signal_plan=str(Path(args.signal_plan).resolve()) if args.signal_plan else None)
        if config.signal_plan and not Path(config.signal_plan).is_file():
            raise BatchError(f"--signal-plan {args.signal_plan}: no such file")
        plan = plan_batch(args.inputs, crossing=args.crossing, crossings_map=args.crossings_map, config=config,
                          start_time=start, time_pattern=pattern)
        if args.workers is not None and args.workers < 1:
            raise BatchError("--workers must be at least 1")
        if args.executor == "ray" and args.ray_address and db_url.startswith("sqlite"):
            print("crosswatch: warning: a SQLite database is reachable from this machine's Ray workers only; "
                  "give a cluster a PostgreSQL --db", file=sys.stderr)
        executor = make_executor(args.executor, args.workers, address=args.ray_address,
                                 init=getattr(args, "worker_init", None))
        t0 = time.perf_counter()
        try:
            runner = BatchRunner(plan, executor)
            files = runner.run()
        except (KeyboardInterrupt, _Interrupted):
            print("crosswatch: batch interrupted; finished videos are stored, run the same command to resume",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            executor.shutdown()
        status = exit_status(files)
        lines = _summary_lines(files, runner.jobs, time.perf_counter() - t0)
        print("\n".join(lines), file=sys.stderr if args.json else sys.stdout)
        if args.json:
            json.dump({"exit_status": status, "jobs": {c: h.job.uid for c, h in runner.jobs.items()},
                       "files": [f.summary() for f in files]}, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
    elif not args.verify:
        raise BatchError("no inputs (give videos, folders or list files; or --verify alone to check evidence)")
    if args.verify:
        engine = make_engine(db_url)
        try:
            check = check_evidence(engine, evidence)
        finally:
            engine.dispose()
        print("\n".join(check.lines()), file=sys.stderr if args.json else sys.stdout)
        if not check.ok:
            status = EXIT_EVIDENCE
    return status


_DESCRIPTION = """\
Process many videos: files, folders (searched recursively for .mp4 .mkv .avi .mov .ts .flv) and
list files (.txt .lst .list: one path a line, relative to the list, # comments).

Each video is processed once per (content SHA-256, crossing version, settings): finished videos
are skipped, a batch that was stopped or killed resumes where it was when run again, and every
bad file (missing, empty, not a video, corrupt, truncated, unsupported codec, unreadable, crashing
the decoder) is reported with its reason while the batch goes on. The batch is recorded as one
job per crossing (created_by "batch"), so the service's jobs API shows its progress.

Wall-clock times: --start-time dates every video; otherwise the time in the file name matched by
--time-pattern (recorders name files like CAM01_20260301_080000.mp4) in --timezone.

Executors: `local` runs the videos in a pool of worker processes on this machine; `ray` runs one
Ray task per video (a local Ray instance, or the cluster at --ray-address: give it a PostgreSQL
--db and an --evidence-dir that every node can reach)."""


def add_parser(sub: Any, add_model_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """The `batch` subcommand (called by `detector.cli.build_parser`)."""
    b = sub.add_parser(
        "batch", help="process many videos (files, folders, list files) exactly once, locally or on Ray",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 all done, 3 some files failed, 1 all failed, 2 usage error, "
               "4 --verify found evidence problems, 130 interrupted")
    b.add_argument("inputs", nargs="*", help="video files, folders (recursive) and list files (.txt .lst .list)")
    which = b.add_mutually_exclusive_group()
    which.add_argument("--crossing", help="crossing YAML for every video")
    which.add_argument("--crossings-map", help="YAML mapping file-name patterns to crossing files (first match wins)")
    b.add_argument("--workers", type=int, help=f"videos at once (default: half the cores, here {default_workers()}; "
                                                "Ray with --ray-address: the cluster's CPUs)")
    b.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray (pip install 'crosswatch[cluster]')")
    b.add_argument("--ray-address", help="Ray cluster address (default: start a local Ray instance); the "
                                         "database (PostgreSQL) and evidence folder must be reachable from every node")
    b.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the project's data folder, or $CROSSWATCH_DB_URL)")
    b.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file, or $CROSSWATCH_EVIDENCE_DIR)")
    add_model_options(b)
    b.add_argument("--start-time", help="wall-clock time of every video's first frame, ISO 8601 with offset "
                                        "(overrides the file-name time)")
    b.add_argument("--time-pattern", default=DEFAULT_TIME_PATTERN,
                   help="file-name time, strftime-style (%%Y %%m %%d %%H %%M [%%S], * = anything), searched in the "
                        "name; '' turns it off (default %(default)s)")
    b.add_argument("--timezone", help="zone of file-name times: +08:00 or Asia/Shanghai (default: this machine's)")
    b.add_argument("--signal-plan", help="phase plan YAML: [{t, state}, ...] instead of reading the lamps")
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    b.add_argument("--verify", action="store_true",
                   help="after the batch (or alone, without inputs): check that every evidence file belongs to a "
                        "stored event and every stored evidence file is there, unchanged")
    b.set_defaults(func=cmd_batch)
    return b


def main(argv: Sequence[str] | None = None, *, worker_init: Callable[[], None] | None = None) -> int:
    """`crosswatch batch ...` from Python; `worker_init` runs once in every worker process (e.g. to
    install another detector) and must be importable by name there."""
    from .cli import build_parser

    args = build_parser().parse_args(["batch", *(argv if argv is not None else sys.argv[1:])])
    args.worker_init = worker_init
    return cmd_batch(args)


__all__ = [
    "BatchError", "BatchPlan", "BatchRunner", "CrossingMap", "EvidenceCheck", "FileState", "RunConfig", "Task",
    "TaskResult", "TimePattern", "check_evidence", "execute_task", "expand_inputs", "main", "make_executor",
    "parse_timezone", "plan_batch", "remove_unreferenced", "run_dir", "settings_hash",
]
