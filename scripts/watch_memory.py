"""Memory of `crosswatch watch` over a long run: is it flat?

Serves a sample clip in a loop over local RTSP (scripts/stream_server.py), runs
`crosswatch watch --json` on it for `--minutes` (default 30) with a scratch database, samples the
process's resident memory (VmRSS) every `--every` seconds (default 10), and prints start / end /
max and the growth per hour: the least-squares slope over the samples after the warm-up (model
loaded, ring buffer full: the first `--warmup` seconds, default 120) and the plain end-minus-first
difference over the same stretch. Everything it starts is stopped at the end.

    .venv/bin/python scripts/watch_memory.py [--minutes 30] [--clip CLIP --crossing CROSSING.yaml]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_server import RtspServer  # noqa: E402

DEFAULT_CLIP = ROOT / "assets" / "sample_videos" / "vn_rear_stopline.mp4"
DEFAULT_CROSSING = ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"


def status_field(pid: int, name: str) -> int | None:
    """An integer field of /proc/PID/status (VmRSS in KiB, Threads)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib(pid: int) -> float | None:
    kib = status_field(pid, "VmRSS")
    return None if kib is None else kib / 1024


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(m for _, m in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mx) * (m - my) for t, m in samples) / var * 3600


def figures(samples: list[tuple[float, float]], warmup: float, window: float = 180.0) -> dict:
    """Start / end / max RSS and growth per hour after the warm-up. Evidence clips are encoded in
    bursts (an H.264 encoder and a few decoded pictures: tens of MiB for a second or two), so
    single samples jump; the growth is given as the least-squares slope, and as the change of the
    median and of the minimum between the first and the last `window` seconds after the warm-up
    (the last sample, taken while the watch shuts down, left out)."""
    if not samples:
        return {"samples": 0}
    late = [s for s in samples if s[0] >= warmup][:-1]
    out = {
        "samples": len(samples),
        "rss_start_mib": round(samples[0][1], 1),
        "rss_end_mib": round(samples[-1][1], 1),
        "rss_max_mib": round(max(m for _, m in samples), 1),
        "growth_mib_per_hour_slope": round(slope_per_hour(late), 2),
    }
    if len(late) >= 4 and late[-1][0] - late[0][0] > 2 * window:
        first = [m for t, m in late if t < late[0][0] + window]
        last = [m for t, m in late if t > late[-1][0] - window]
        hours = (late[-1][0] - late[0][0] - window) / 3600
        out.update(
            {
                "rss_median_first_last_mib": [round(statistics.median(first), 1), round(statistics.median(last), 1)],
                "rss_min_first_last_mib": [round(min(first), 1), round(min(last), 1)],
                "growth_mib_per_hour_median": round((statistics.median(last) - statistics.median(first)) / hours, 2),
                "growth_mib_per_hour_min": round((min(last) - min(first)) / hours, 2),
            }
        )
    return out


def read_lines(stream, into: list[dict]) -> None:
    for line in stream:
        try:
            into.append(json.loads(line))
        except json.JSONDecodeError:
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=120.0, help="seconds left out of the growth figure")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--crossing", type=Path, default=DEFAULT_CROSSING)
    p.add_argument("--out", type=Path, help="also write the samples and figures as JSON here")
    p.add_argument("--analyze", type=Path, help="only print the figures of a report written with --out")
    a = p.parse_args(argv)
    if a.analyze:
        print(
            json.dumps(
                figures([tuple(s) for s in json.loads(a.analyze.read_text())["rss_samples"]], a.warmup), indent=1
            )
        )
        return 0
    if not a.clip.exists():
        print(f"{a.clip}: missing (run `make assets`)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="crosswatch-memory-") as tmp, RtspServer(a.clip, Path(tmp)) as srv:
        env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        cmd = [
            sys.executable,
            "-m",
            "service.cli",
            "watch",
            srv.url,
            "--crossing",
            str(a.crossing),
            "--db",
            f"sqlite:///{tmp}/memory.db",
            "--json",
            "--duration",
            str(a.minutes * 60),
        ]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
        )
        lines: list[dict] = []
        reader = threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        samples: list[tuple[float, float]] = []
        thread_counts: list[int] = []
        t0 = time.monotonic()
        try:
            while proc.poll() is None:
                m = rss_mib(proc.pid)
                n = status_field(proc.pid, "Threads")
                if n is not None:
                    thread_counts.append(n)
                if m is not None and m > 1:  # (0 just after the fork)
                    samples.append((time.monotonic() - t0, m))
                    print(f"{samples[-1][0]:7.0f} s  RSS {m:7.1f} MiB", flush=True)
                time.sleep(a.every)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        reader.join(timeout=10)

    summary = next((ln["summary"] for ln in reversed(lines) if "summary" in ln), {})
    beats = [ln for ln in lines if ln.get("status") == "alive"]
    report = {
        "minutes": a.minutes,
        "clip": str(a.clip),
        **figures(samples, a.warmup),
        "threads_first_last_max": [thread_counts[0], thread_counts[-1], max(thread_counts)] if thread_counts else None,
        "watch": {
            k: summary.get(k)
            for k in (
                "duration_s",
                "frames",
                "detected",
                "events",
                "connects",
                "reconnects",
                "stalls",
                "dropped_packets",
                "lost_events",
                "evidence_failures",
                "ring",
            )
        },
        "lag_s_last_heartbeats": [b.get("lag_s") for b in beats[-5:]],
        "ring_bytes_last_heartbeats": [b.get("ring_bytes") for b in beats[-5:]],
        "exit_code": proc.returncode,
    }
    print(json.dumps(report, indent=1))
    if a.out:
        a.out.write_text(json.dumps({**report, "rss_samples": samples}, indent=1))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
