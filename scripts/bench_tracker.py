"""Measure the tracker alone on a real clip, and fingerprint what it returns.

    PYTHONPATH=$PWD YOLO_OFFLINE=1 .venv/bin/python scripts/bench_tracker.py --clip hanoi_giangvo_langha

First (once per clip, or with --record) the real pipeline runs over the clip the way `crosswatch process`
does (same detector, same settings, `Pipeline.run`), with the session's `Tracker` replaced by one that
records every call it gets: `update(det, t, frame, detail_px)`, `pin_class`, `pop_final_class` and
`finish`. The calls are saved under /tmp/bench_tracker/<clip>.pkl (--dir). Then the recorded calls are replayed
into a fresh `Tracker` --repeat times; the script prints the tracker's CPU time per updated frame (best
of the repeats) and a SHA-256 over everything the calls returned, in order (points, retired ids, the
tracker ids and classes of the returned detections, pinned and final classes, the ids `finish` retires).
Two versions of detector/tracking.py give the same digest only when they track identically.

It prints measured numbers; it is not a test. The recording depends on the detector only, so a recording
made with one version of the tracker replays into another.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("hanoi_giangvo_langha", "vn_rear_stopline", "makassar_alauddin_dusk", "nl_motorway_overpass")
RECORDINGS = Path("/tmp/bench_tracker")

Call = tuple[Any, ...]


def _det_arrays(det: Any) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    return det.xyxy.copy(), det.confidence.copy(), [str(c) for c in det.class_name], det.tracker_id.copy()


def record(clip: str, device: str) -> dict[str, Any]:
    """Run the pipeline over the clip with a recording tracker; the recorded calls and the run's outcome."""
    import detector.pipeline as pipeline
    from detector.tracking import Tracker
    from detector.video import probe
    from service.runs import detectors
    from service.runs.request import ProcessRequest

    calls: list[Call] = []
    sizes: list[tuple[int, int] | None] = []

    class RecordingTracker(Tracker):
        def __init__(self, config=None, frame_size=None):  # type: ignore[no-untyped-def]
            sizes.append(frame_size)
            super().__init__(config, frame_size)

        def update(self, det, t, frame, detail_px=None):  # type: ignore[no-untyped-def]
            detail = None if detail_px is None else np.array(detail_px, np.float64)
            calls.append(("update", _det_arrays(det), t, frame, detail))
            return super().update(det, t, frame, detail_px)

        def pin_class(self, track_id, since, decided=None):  # type: ignore[no-untyped-def]
            calls.append(("pin", track_id, since, decided))
            return super().pin_class(track_id, since, decided)

        def pop_final_class(self, track_id):  # type: ignore[no-untyped-def]
            calls.append(("pop", track_id))
            return super().pop_final_class(track_id)

        def finish(self):  # type: ignore[no-untyped-def]
            calls.append(("finish",))
            return super().finish()

    video = ROOT / "assets" / "sample_videos" / f"{clip}.mp4"
    crossing_file = ROOT / "sample_videos" / f"{clip}.crossing.yaml"
    req = ProcessRequest.build(video, crossing_file, db_url="sqlite:///:memory:", device=device)
    crossing = req.crossing()
    info = probe(video)
    det = detectors.make_detector(
        crossing, (info.width, info.height), req.device, detectors.model_path(req.model), req.settings.imgsz
    )
    original = pipeline.Tracker
    pipeline.Tracker = RecordingTracker  # type: ignore[misc]
    try:
        t0 = time.perf_counter()
        result = pipeline.Pipeline(crossing, det, req.settings, None).run(video)
        wall = time.perf_counter() - t0
    finally:
        pipeline.Tracker = original  # type: ignore[misc]
    return {
        "clip": clip,
        "config": req.settings.tracker,
        "frame_size": sizes[0] if sizes else None,
        "calls": calls,
        "events": len(result.events),
        "track_s": result.timings.get("track", 0.0),
        "pipeline_s": wall,
    }


def replay(rec: dict[str, Any]) -> tuple[float, str]:
    """Replay the recorded calls into a fresh Tracker: (CPU seconds spent in its calls, SHA-256 of the answers)."""
    from detector.tracking import Tracker
    from detector.types import Detections

    # the inputs are built before the clock starts: only the tracker's own work is timed
    calls = [
        (c[0], Detections(*c[1]), *c[2:]) if c[0] == "update" else c  # a fresh Detections each replay
        for c in rec["calls"]
    ]
    tracker = Tracker(rec["config"], rec.get("frame_size"))
    answers: list[Any] = []
    t0 = time.process_time()
    for c in calls:
        if c[0] == "update":
            answers.append(tracker.update(c[1], c[2], c[3], c[4]))
        elif c[0] == "pin":
            answers.append(tracker.pin_class(c[1], c[2], c[3] if len(c) > 3 else None))
        elif c[0] == "pop":
            answers.append(tracker.pop_final_class(c[1]))
        else:
            answers.append(tracker.finish())
    spent = time.process_time() - t0
    h = hashlib.sha256()
    for a in answers:
        if hasattr(a, "points"):
            h.update(repr(a.points).encode())
            h.update(repr(a.retired).encode())
            h.update(a.detections.tracker_id.tobytes())
            h.update(repr(list(a.detections.class_name)).encode())
            h.update(a.detections.xyxy.tobytes())
        else:
            h.update(repr(a).encode())
        h.update(b"\0")
    return spent, h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", action="append", choices=CLIPS, help="clip name (repeatable; default: all four)")
    ap.add_argument("--record", action="store_true", help="run the detector again even when a recording exists")
    ap.add_argument("--repeat", type=int, default=3, help="replays per clip; the best CPU time counts")
    ap.add_argument("--device", default="auto", help="detector device for the recording (as `process --device`)")
    ap.add_argument(
        "--dir", type=Path, default=RECORDINGS, help=f"where the recordings are kept (default {RECORDINGS})"
    )
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    for clip in args.clip or CLIPS:
        path = args.dir / f"{clip}.pkl"
        if args.record or not path.exists():
            rec = record(clip, args.device)
            path.write_bytes(pickle.dumps(rec))
            print(
                f"{clip}: recorded {sum(c[0] == 'update' for c in rec['calls'])} updates, {rec['events']} events, "
                f"pipeline {rec['pipeline_s']:.1f} s (track stage {rec['track_s']:.3f} s) -> {path}",
                file=sys.stderr,
            )
        rec = pickle.loads(path.read_bytes())
        frames = sum(c[0] == "update" for c in rec["calls"])
        runs = [replay(rec) for _ in range(max(1, args.repeat))]
        digests = {d for _, d in runs}
        if len(digests) != 1:
            print(f"{clip}: replays disagree: {sorted(digests)}", file=sys.stderr)
            return 1
        best = min(s for s, _ in runs)
        print(
            f"{clip}: {frames} frames, tracker CPU {best:.3f} s best of {len(runs)} "
            f"= {1000 * best / max(frames, 1):.3f} ms/frame, digest {digests.pop()}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
