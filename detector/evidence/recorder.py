"""The evidence recorder: plans one decode pass per stretch of video for all the events in it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error

from ..config import Crossing
from ..types import ViolationEvent
from .files import EvidenceBatchError, EvidenceError, EvidenceFile
from .fonts import Fonts, find_cjk_font, find_latin_font
from .frames import FrameSource, _FrameCache, _Source
from .job import _clean_rel_dir, _Job, key_times
from .scene import DEFAULT_CLOCK, NO_WALL_CLOCK, caption_lines, format_time, scene_for

if TYPE_CHECKING:
    from ..codes import CodeTable
    from ..plates import PlateReader

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
MAX_EXTRA_SPAN_S = 30.0  # the clip never reaches further than this from the event
KEY_MARGIN_S = 0.5  # the clip extends this far past the first/last key time


class EvidenceRecorder:
    """Writes the evidence files of violation events under `root`.

    `start_time` is the wall-clock time of the video's t=0 (captions then show date-times;
    otherwise video times). `max_group` caps how many events share one decode pass (each holds
    an open H.264 encoder while its window is being decoded).
    """

    def __init__(
        self,
        root: Path,
        crossing_name: str,
        *,
        clip_pre_s: float = 3.5,
        clip_post_s: float = 3.5,
        start_time: datetime | None = None,
        max_group: int = 4,
        crossing: Crossing | None = None,
        plate_reader: PlateReader | None = None,
        codes: CodeTable | None = None,
        evidence_key: bytes | None = None,
        clock_source: str | None = None,
    ):
        if clip_pre_s < 0 or clip_post_s < 0:
            raise ValueError("clip_pre_s and clip_post_s must be >= 0")
        self.root = Path(root)
        self.crossing_name = crossing_name
        self.clip_pre_s, self.clip_post_s = float(clip_pre_s), float(clip_post_s)
        self.start_time = start_time
        self.max_group = max(1, int(max_group))
        self.font_path = find_cjk_font()  # fail before any work if captions cannot be drawn
        self.fonts = Fonts(self.font_path, find_latin_font(self.font_path))
        self.crossing = crossing  # lane, stop line and names drawn on the scene pictures
        self.plate_reader = plate_reader  # None: no plate reading
        self.codes = codes  # None: no violation codes
        self.evidence_key = evidence_key  # None: no anti-forgery code
        self.clock_source = clock_source
        try:
            av.codec.Codec("libx264", "w")
        except Exception:  # pragma: no cover - depends on the PyAV build
            raise EvidenceError("this PyAV build has no libx264 encoder; evidence clips need H.264") from None

    def window(self, event: ViolationEvent) -> tuple[float, float]:
        """(first, last) video time the event's clip covers: `clip_pre_s` before to `clip_post_s` after
        the event, widened to the key pictures, never more than MAX_EXTRA_SPAN_S from the event.
        A live stream keeps its packets until the stream has passed the end of this window."""
        t = float(event.t)
        keys = key_times(event)
        lo = min(t - self.clip_pre_s, min(keys) - KEY_MARGIN_S)
        hi = max(t + self.clip_post_s, max(keys) + KEY_MARGIN_S)
        lo = max(0.0, lo, t - MAX_EXTRA_SPAN_S)
        return lo, max(lo, min(hi, t + MAX_EXTRA_SPAN_S))

    # ---- captions
    def format_time(self, t: float) -> str:
        return format_time(self.start_time, t)

    def clock_label(self) -> str:
        return "时钟 clock: " + (self.clock_source or (DEFAULT_CLOCK if self.start_time is not None else NO_WALL_CLOCK))

    def caption_lines(self, ev: ViolationEvent, size: tuple[int, int] | None = None) -> list[str]:
        """The composite's caption lines for `ev` (geometry names from the crossing, if given)."""
        w, h = size or (self.crossing.frame_size if self.crossing else (1, 1))
        return caption_lines(
            ev, self.crossing_name, self.start_time, scene_for(self.crossing, ev, (w, h), None), self.clock_source
        )

    # ---- recording
    def record(self, video: Path, event: ViolationEvent, rel_dir: str, signal_box: Box | None) -> list[EvidenceFile]:
        try:
            return self.record_many(video, [(event, rel_dir, signal_box)])[event.key]
        except EvidenceBatchError as e:
            raise EvidenceError(e.failures[event.key]) from None

    def record_many(
        self, video: Path, jobs: list[tuple[ViolationEvent, str, Box | None]]
    ) -> dict[str, list[EvidenceFile]]:
        """Record several events of one video, keyed by `event.key`; each stretch of video is
        decoded once for the events whose windows overlap it.

        An unreadable video raises EvidenceError before anything is written. When only some
        events fail (no frames near them, a broken stretch of video, a write error), the others
        are still recorded and EvidenceBatchError is raised at the end with `.results` (what
        was written) and `.failures` (event key -> reason)."""
        video = Path(video)
        if not jobs:
            return {}
        keys = [ev.key for ev, _, _ in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("record_many: two jobs have the same event key")
        dirs = [_clean_rel_dir(d) for _, d, _ in jobs]
        if len(set(dirs)) != len(dirs):
            raise ValueError("record_many: two events would write to the same folder")
        if not video.is_file():
            raise EvidenceError(f"cannot re-read video {video}: no such file")
        return self._record_from(_Source(video), jobs, keys)

    def record_frames(
        self, source: FrameSource, jobs: list[tuple[ViolationEvent, str, Box | None]]
    ) -> dict[str, list[EvidenceFile]]:
        """Like `record_many`, but the pixels come from `source` instead of re-reading a file: a live
        stream cannot be re-read, so its recent packets are kept and decoded again from memory
        (`detector.ring`). Same files, captions, hashing and atomic writes; `source` is closed."""
        if not jobs:
            source.close()
            return {}
        keys = [ev.key for ev, _, _ in jobs]
        if len(set(keys)) != len(keys):
            source.close()
            raise ValueError("record_frames: two jobs have the same event key")
        dirs = [_clean_rel_dir(d) for _, d, _ in jobs]
        if len(set(dirs)) != len(dirs):
            source.close()
            raise ValueError("record_frames: two events would write to the same folder")
        return self._record_from(source, jobs, keys)

    def _record_from(
        self, src: _Source | FrameSource, jobs: list[tuple[ViolationEvent, str, Box | None]], keys: list[str]
    ) -> dict[str, list[EvidenceFile]]:
        results: dict[str, list[EvidenceFile]] = {}
        failures: dict[str, str] = {}
        try:
            planned = sorted((_Job(self, ev, d, sb, src) for ev, d, sb in jobs), key=lambda j: j.lo)
            for group in self._groups(planned):
                self._run_group(src, group, results, failures)
        finally:
            src.close()
        if failures:
            lines = "; ".join(f"{k}: {v}" for k, v in failures.items())
            raise EvidenceBatchError(
                f"evidence failed for {len(failures)} of {len(keys)} events in {src.video}: {lines}",
                {k: results[k] for k in keys if k in results},
                failures,
            )
        return {k: results[k] for k in keys}

    def _groups(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        group: list[_Job] = []
        hi = -math.inf
        for job in jobs:
            if group and (job.lo > hi + 1.0 or len(group) >= self.max_group):
                yield group
                group, hi = [], -math.inf
            group.append(job)
            hi = max(hi, job.hi)
        if group:
            yield group

    def _run_group(
        self,
        src: _Source | FrameSource,
        group: list[_Job],
        results: dict[str, list[EvidenceFile]],
        failures: dict[str, str],
    ) -> None:
        lo, hi = min(j.lo for j in group), max(j.hi for j in group)
        active = list(group)

        def fail(job: _Job, e: BaseException) -> None:
            job.abort()
            if job in active:
                active.remove(job)
            failures[job.event.key] = str(e) if isinstance(e, EvidenceError) else f"{type(e).__name__}: {e}"
            log.error("evidence for event %s failed: %s", job.event.key, failures[job.event.key])

        def finish(job: _Job) -> None:
            active.remove(job)
            try:
                results[job.event.key] = job.finish()
            except (EvidenceError, OSError, av.error.FFmpegError) as e:
                fail(job, e)

        try:
            for t, frame in src.frames(lo, hi):
                cache = _FrameCache(frame)
                for job in list(active):
                    try:
                        job.feed(t, cache)
                    except (OSError, av.error.FFmpegError) as e:  # the clip encoder or the disk
                        fail(job, e)
                for job in [j for j in active if t > j.hi]:
                    finish(job)
                if not active:
                    break
            for job in list(active):  # the video ended inside their windows
                finish(job)
        except EvidenceError as e:  # the video broke while decoding this stretch
            for job in list(active):
                fail(job, e)
        finally:
            for job in active:
                job.abort()
