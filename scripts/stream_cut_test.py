"""Cut a live stream every 30 s for 5 minutes: does `crosswatch watch` lose or double any event?

1. Reference: `crosswatch process CLIP` (scratch database): the clip's events at clip times e_i.
2. A local RTSP server (scripts/stream_server.py) plays the clip in a loop in real time from wall
   time F; its timeline goes on through cuts, like a camera's, so loop n's event i happens at
   F + latency + n * L + e_i (L: the clip's length, latency: FFmpeg's start-up, estimated as the
   median offset of the matches).
3. `crosswatch watch --json` runs on it; every `--cut-every` s the server is killed, left down for
   `--down` s and started again. The first cut comes when the clip is at `--first-cut-phase` s, so
   that (with the 30 s cycle drifting against the clip's length) the outages fall on the clip's
   quiet middle and on the evidence windows of events already decided (in flight), not on a
   road user crossing the line.
4. Each expected event is *observable* when the watch received video from 2 s before it to 1 s
   after it (from its `segment` to its `disconnected` status lines); then it must be found (same
   type, within `--tolerance` s). Printed: reconnects, matched / missed / extra, events near a cut
   or before the watch's first video (not counted), and the watch's summary.

    .venv/bin/python scripts/stream_cut_test.py [--minutes 5] [--cut-every 30] [--down 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_server import RtspServer  # noqa: E402

DEFAULT_CLIP = ROOT / "assets" / "sample_videos" / "vn_rear_stopline.mp4"
DEFAULT_CROSSING = ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"
BEFORE_S, AFTER_S = 2.0, 1.0  # video needed around an event for it to be observable


def env() -> dict[str, str]:
    return {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def reference(clip: Path, crossing: Path, tmp: Path) -> tuple[list[dict], float]:
    """`crosswatch process` of the clip: (events, clip length L in s)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "process",
            str(clip),
            "--crossing",
            str(crossing),
            "--db",
            f"sqlite:///{tmp}/reference.db",
            "--json",
        ],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    res = json.loads(out.stdout)
    return res["events"], float(res["duration_s"])


def threads(pid: int) -> int | None:
    """Threads of a process (a decoder that is not freed after a reconnect would leave its own)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def wall(line: dict) -> float:
    return datetime.fromisoformat(line["wall"]).timestamp()


def observed_spans(lines: list[dict], end: float) -> list[tuple[float, float]]:
    """(first video, connection lost) wall times of each connection, from the status lines."""
    spans, start = [], None
    for ln in lines:
        st = ln.get("status")
        if st == "segment":
            if start is not None:
                spans.append((start, wall(ln)))
            start = wall(ln)
        elif st in ("disconnected", "stalled") and start is not None:
            spans.append((start, wall(ln)))
            start = None
    if start is not None:
        spans.append((start, end))
    return spans


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--cut-every", type=float, default=30.0)
    p.add_argument("--down", type=float, default=2.0, help="seconds the server stays down at each cut")
    p.add_argument("--first-cut-phase", type=float, default=10.0, help="clip time (s) of the first cut")
    p.add_argument("--tolerance", type=float, default=1.0)
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--crossing", type=Path, default=DEFAULT_CROSSING)
    p.add_argument("--out", type=Path, help="also write the report as JSON here")
    a = p.parse_args(argv)
    if not a.clip.exists():
        print(f"{a.clip}: missing (run `make assets`)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="crosswatch-cut-") as tmp_name:
        tmp = Path(tmp_name)
        ref, length = reference(a.clip, a.crossing, tmp)
        print(
            f"reference (`crosswatch process`): {len(ref)} events in {length:.3f} s: "
            + ", ".join(f"{e['type']} t={e['t']:.2f}" for e in ref),
            flush=True,
        )
        lines: list[dict] = []
        cuts: list[tuple[float, float]] = []  # (down at, up at) wall times
        with RtspServer(a.clip, tmp) as srv:
            f0 = srv.feeder_started
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service.cli",
                    "watch",
                    srv.url,
                    "--crossing",
                    str(a.crossing),
                    "--db",
                    f"sqlite:///{tmp}/watch.db",
                    "--json",
                ],
                cwd=ROOT,
                env=env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            reader = threading.Thread(
                target=lambda: [lines.append(json.loads(x)) for x in proc.stdout if x.strip()], daemon=True
            )
            reader.start()
            try:
                end = time.time() + a.minutes * 60
                first = f0 + a.first_cut_phase
                while first < time.time() + 15:  # let the watch connect first
                    first += length
                cut_at = first
                thread_counts: list[int] = []
                next_sample = time.time() + 20
                while time.time() < end and proc.poll() is None:
                    if time.time() >= next_sample:
                        next_sample += 10
                        n = threads(proc.pid)
                        if n is not None:
                            thread_counts.append(n)
                    if time.time() >= cut_at and cut_at + a.down < end:
                        down = time.time()
                        srv.cut()
                        time.sleep(a.down)
                        srv.restore()
                        cuts.append((down, time.time()))
                        print(
                            f"cut {len(cuts)} at clip phase {(down - f0) % length:5.2f} s, down {a.down:.1f} s",
                            flush=True,
                        )
                        cut_at += a.cut_every
                    time.sleep(0.05)
                stop_wall = time.time()
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                reader.join(timeout=10)

    events = [ln["event"] for ln in lines if "event" in ln]
    summary = next((ln["summary"] for ln in reversed(lines) if "summary" in ln), {})
    spans = observed_spans(lines, stop_wall)
    occurred = [datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events]

    # latency of the server's clip clock: median offset of each event to its nearest reference event
    offsets = []
    for w in occurred:
        x = w - f0
        k = int(x // length)
        offsets.append(min((x - loop * length - r["t"] for r in ref for loop in (k - 1, k, k + 1)), key=abs))
    lat = statistics.median(offsets) if offsets else 0.0

    expected = []
    n_loops = int((stop_wall - f0) / length) + 1
    for n in range(n_loops):
        for r in ref:
            w = f0 + lat + n * length + r["t"]
            if w > stop_wall - AFTER_S:
                continue
            seen = any(s <= w - BEFORE_S and w + AFTER_S <= e for s, e in spans)
            expected.append({"loop": n, "type": r["type"], "clip_t": r["t"], "wall": w, "observable": seen})
    used: set[int] = set()
    for x in expected:
        best = min(
            (i for i, e in enumerate(events) if i not in used and e["type"] == x["type"]),
            key=lambda i: abs(occurred[i] - x["wall"]),
            default=None,
        )
        if best is not None and abs(occurred[best] - x["wall"]) <= a.tolerance:
            used.add(best)
            x["found"] = round(occurred[best] - x["wall"], 3)
    observable = [x for x in expected if x["observable"]]
    matched = [x for x in observable if "found" in x]
    missed = [x for x in observable if "found" not in x]
    unobservable = [x for x in expected if not x["observable"]]
    extra = [e for i, e in enumerate(events) if i not in used]
    keys = [e["key"] for e in events]
    latencies = sorted(e["latency_s"] for e in events)

    report = {
        "minutes": a.minutes,
        "cut_every_s": a.cut_every,
        "down_s": a.down,
        "cuts": len(cuts),
        "reconnects": summary.get("reconnects"),
        "stalls": summary.get("stalls"),
        "connect_failures": summary.get("connect_failures"),
        "dropped_packets": summary.get("dropped_packets"),
        "reference_events_per_loop": len(ref),
        "loops_played": round((stop_wall - f0) / length, 2),
        "expected_observable": len(observable),
        "matched": len(matched),
        "missed": len(missed),
        "extra": len(extra),
        "not_observable": len(unobservable),
        "not_observable_found": sum("found" in x for x in unobservable),
        "duplicate_keys": len(keys) - len(set(keys)),
        "server_latency_s": round(lat, 3),
        "watch_threads_first_last_max": [thread_counts[0], thread_counts[-1], max(thread_counts)]
        if thread_counts
        else None,
        "match_offsets_s": sorted(x["found"] for x in matched),
        "event_write_latency_s": {"min": latencies[0], "median": statistics.median(latencies), "max": latencies[-1]}
        if latencies
        else None,
        "watch_summary": {
            k: summary.get(k)
            for k in (
                "events",
                "frames",
                "detected",
                "connects",
                "disconnects",
                "segments",
                "lost_events",
                "evidence_failures",
                "elapsed_s",
            )
        },
        "missed_events": missed,
        "extra_events": [{k: e[k] for k in ("type", "t", "occurred_at", "track_id")} for e in extra],
        "exit_code": proc.returncode,
    }
    print(json.dumps(report, indent=1))
    if a.out:
        a.out.write_text(json.dumps(report, indent=1))
    ok = proc.returncode == 0 and not missed and not extra and report["duplicate_keys"] == 0
    print(
        f"reconnects {report['reconnects']} after {len(cuts)} cuts; matched {len(matched)}/{len(observable)}, "
        f"missed {len(missed)}, extra {len(extra)} ({len(unobservable)} not observable: before the watch's "
        "first video or within a cut): " + ("OK" if ok else "NOT OK")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
