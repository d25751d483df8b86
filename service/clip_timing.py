"""Where the violation is inside an event's evidence clip: the review page opens the clip at that
moment and marks it on the clip's timeline.

The evidence recorder (`detector.evidence.job`) starts each clip a few seconds before the event
and writes the video time of the clip's first frame into the MP4's `comment` tag
("… clip t=0 is video t=12.345678 s"); the clip's own time stamps start at 0 on that frame. So the
event is at `event.t - first` seconds into the clip. A clip without the tag (made elsewhere, or
unreadable) has no known offset: None, and the page shows no marker.

Reading the tag opens the MP4 header only (the recorder writes it `+faststart`), and a clip never
changes (its SHA-256 is recorded), so the answer is cached per file and hash.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import av

from . import evidence_store
from .models import EventRow, EvidenceFileRow

_FIRST_FRAME = re.compile(r"clip t=0 is video t=(-?[0-9]+(?:\.[0-9]+)?) s")
CACHE_ENTRIES = 4096  # one float per clip


def first_frame_time(comment: str) -> float | None:
    """The video time of a clip's first frame, from the recorder's `comment` tag (None if absent)."""
    m = _FIRST_FRAME.search(comment)
    return float(m[1]) if m else None


@lru_cache(maxsize=CACHE_ENTRIES)
def _clip_start(root: Path, ref: evidence_store.EvidenceRef) -> float | None:
    try:
        with evidence_store.open_file(root, ref) as f, av.open(f, mode="r", format="mp4") as c:
            return first_frame_time(str(c.metadata.get("comment", "")))
    except (OSError, ValueError, evidence_store.EvidenceError, av.error.FFmpegError):
        return None  # missing, refused or not an MP4: the media route reports those when it is played


def event_offset_s(root: Path, event: EventRow, clip: EvidenceFileRow) -> float | None:
    """Seconds from the start of `clip` to `event` (>= 0), or None when the clip does not say where it starts."""
    if clip.kind != "clip":
        return None
    start = _clip_start(root, evidence_store.ref_of(clip, event.uid, event.crossing_id))
    if start is None:
        return None
    return round(max(0.0, event.t - start), 6)
