"""BackgroundEvidence: a file run's evidence is recorded on one worker thread while the pipeline goes on;
what failed for one event stays a warning for that event, an unreadable video is one line (UserError)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from detector.config import parse_crossing
from detector.evidence import EvidenceBatchError, EvidenceError, EvidenceFile
from detector.types import ViolationEvent, ViolationType
from service.runs.errors import UserError
from service.runs.evidence_writer import BackgroundEvidence

CROSSING = parse_crossing(
    {
        "id": "x",
        "name": "x",
        "frame_size": [640, 480],
        "lanes": [{"id": "up", "polygon": [[0, 0], [640, 0], [640, 480], [0, 480]], "direction": [0, -1]}],
    }
)


def event(track: int) -> ViolationEvent:
    return ViolationEvent(
        ViolationType.WRONG_WAY, track, "motorcycle", 1.0, 10, (1, 2, 3, 4), "up", None, None, None, None
    )


class Recorder:
    """Records which thread ran each call and answers per event key as told."""

    def __init__(self, fail: dict[str, str] | None = None, unreadable: bool = False, delay: float = 0.0):
        self.fail, self.unreadable, self.delay = fail or {}, unreadable, delay
        self.calls: list[tuple[str, list[str], str]] = []
        self.started = threading.Event()  # set when the first call begins

    def record_many(self, video, jobs):
        self.started.set()
        time.sleep(self.delay)
        self.calls.append((threading.current_thread().name, [e.key for e, _, _ in jobs], jobs[0][1]))
        if self.unreadable:
            raise EvidenceError(f"cannot re-read video {video}: no such file")
        done = {e.key: [EvidenceFile("clip", f"{d}/clip.mp4", "0" * 64, 1, "video/mp4")] for e, d, _ in jobs}
        failed = {k: v for k, v in self.fail.items() if k in done}
        if failed:
            raise EvidenceBatchError("some failed", {k: v for k, v in done.items() if k not in failed}, failed)
        return done


def test_events_are_recorded_on_the_worker_in_the_order_given():
    rec = Recorder(delay=0.2)
    w = BackgroundEvidence(rec, Path("v.mp4"), CROSSING, "run-dir")
    t0 = time.perf_counter()
    w.add([event(1), event(2)])
    w.add([])  # nothing to do: no call
    w.add([event(3)])
    assert time.perf_counter() - t0 < 0.15  # add() does not wait for the recorder (0.2 s a call)
    files, warnings = w.finish()
    assert warnings == []
    assert [c[1] for c in rec.calls] == [["wrong_way-1-10", "wrong_way-2-10"], ["wrong_way-3-10"]]
    assert all(c[0].startswith("crosswatch-evidence") for c in rec.calls)
    assert rec.calls[0][2] == "run-dir/wrong_way-1-10"
    assert set(files) == {"wrong_way-1-10", "wrong_way-2-10", "wrong_way-3-10"}
    assert w.busy_s >= 0.1


def test_a_failed_event_is_a_warning_and_the_others_are_kept():
    w = BackgroundEvidence(Recorder(fail={"wrong_way-2-10": "disk full"}), Path("v.mp4"), CROSSING, "d")
    w.add([event(1), event(2)])
    w.add([event(3)])
    files, warnings = w.finish()
    assert set(files) == {"wrong_way-1-10", "wrong_way-3-10"}
    assert warnings == ["evidence of event wrong_way-2-10 incomplete: disk full"]


def test_an_unreadable_video_is_one_line():
    w = BackgroundEvidence(Recorder(unreadable=True), Path("gone.mp4"), CROSSING, "d")
    w.add([event(1)])
    with pytest.raises(UserError, match="cannot re-read video gone.mp4"):
        w.finish()
    w.close()  # again: harmless


def test_close_drops_what_has_not_started():
    rec = Recorder(delay=0.2)
    w = BackgroundEvidence(rec, Path("v.mp4"), CROSSING, "d")
    for k in range(5):
        w.add([event(k)])
    assert rec.started.wait(5)  # the first call is running
    w.close()
    assert len(rec.calls) == 1  # the running call finished, the queued ones were dropped
