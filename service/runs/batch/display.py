"""The runner's view of each video (`FileState`), the overall tally, and the progress display
(a terminal gets bars, a log gets lines)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..errors import one_line

LOG_EVERY_S = 30.0  # plain-log progress line interval (not a terminal)


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
        return {
            "path": str(self.path),
            "crossing": self.crossing_id,
            "status": self.status,
            "error": self.error,
            "reused": self.reused,
            "run_id": self.run_id,
            "events": self.events,
            "duration_s": self.duration_s,
            "sha256": self.sha256,
            "start_time": self.start_time.isoformat() if self.start_time else None,
        }


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
        return (
            f"{self.finished}/{self.total} videos ({self.failed} failed), "
            f"{done / 3600:.2f}/{known / 3600:.2f} video-h{more}, ETA {eta_s}"
        )


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _outcome(f: FileState) -> str:
    if f.status == "done":
        what = "already processed" if f.reused else f"done, {f.events} events"
        timed = f.wall_s and not f.reused and f.duration_s
        extra = f" ({f.duration_s:.1f} s video in {f.wall_s:.1f} s)" if timed else ""
        return f"{one_line(f.path.name, 200)}: {what}{extra}"
    return f"{one_line(f.path.name, 200)}: {f.status.upper()}: {one_line(f.error)}"


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
        print(f"crosswatch batch: {one_line(text)}", file=self.stream, flush=True)

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
        self.overall = tqdm(
            total=tally.total,
            unit="video",
            position=0,
            file=stream,
            dynamic_ncols=True,
            bar_format="{n_fmt}/{total_fmt} videos |{bar}| {desc}",
        )
        self._free = list(range(1, slots + 1))
        self._bars: dict[Path, tuple[Any, int]] = {}

    def started(self, f: FileState) -> None:
        slot = self._free.pop(0) if self._free else len(self._bars) + 1
        length = f" ({f.duration_s / 60:.1f} min)" if f.duration_s else ""
        bar = self._tqdm(
            total=100,
            position=slot,
            leave=False,
            file=self.stream,
            dynamic_ncols=True,
            desc=one_line(f.path.name[-40:]) + length,
            bar_format="  {desc}: {percentage:3.0f}%|{bar}|",
        )
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
