#!/usr/bin/env python3
"""crosswatch against plain ultralytics on the same clip, same run, alternating.

    .venv/bin/python scripts/bench_vs_plain.py [CLIP[@WxH] ...] [--runs 1] [--model NAME] [--out result.json]

Per clip (a `name` is `assets/sample_videos/<name>.mp4` with `sample_videos/<name>.crossing.yaml`;
`name@3240x1440` first writes a copy scaled to that size with PyAV, same crossing file):
- crosswatch: the whole `crosswatch bench` command (`process` into a fresh database, evidence
  written), as a child process;
- plain: a child process running `YOLO("assets/models/yolo11n_int8_openvino_model").track(video,
  stream=True)` (ByteTrack, ultralytics defaults, no rules, no evidence, no database) over every frame.
`--model NAME` (a manifest name or an OpenVINO folder, e.g. `riders-yolo11n-int8`): both run that model
instead (crosswatch `bench --model NAME`, plain `YOLO(<its folder>)`).
Both are timed from process start to exit (wall and CPU time of the child), the two alternate
(plain first on odd runs), and the best run of each is reported: real-time factor (video seconds per
wall second) for both and the ratio plain wall / crosswatch wall (> 1: crosswatch is faster).
Prints one line per clip and writes everything as JSON. Numbers are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from detector.assets import resolve_model  # noqa: E402 (needs the sys.path line: run as a script)
from detector.video import scaled_copy  # noqa: E402

PLAIN_MODEL = "assets/models/yolo11n_int8_openvino_model"
DEFAULT_CLIPS = ["hanoi_giangvo_langha", "vn_rear_stopline", "vn_rear_stopline@3240x1440"]

PLAIN_CODE = """
import sys
from ultralytics import YOLO
n = 0
for r in YOLO(sys.argv[1], task="detect").track(sys.argv[2], stream=True, verbose=False):
    n += 1
print(n)
"""


def timed(cmd: list[str]) -> dict:
    """Run a child process; its wall and CPU seconds (user + system) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "YOLO_OFFLINE": "1"},
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}...: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "stdout": proc.stdout}


def bench_clip(spec: str, runs: int, tmp: Path, model: str | None = None) -> dict:
    name, _, size = spec.partition("@")
    video = ROOT / "assets" / "sample_videos" / f"{name}.mp4"
    crossing = ROOT / "sample_videos" / f"{name}.crossing.yaml"
    if size:
        w, h = (int(v) for v in size.lower().split("x"))
        video = scaled_copy(video, tmp / f"{name}_{w}x{h}.mp4", (w, h))
    cli = "service.cli"
    cw_cmd = [
        sys.executable,
        "-m",
        cli,
        "bench",
        str(video),
        "--crossing",
        str(crossing),
        "--device",
        "cpu",
        "--out",
        str(tmp / "cw.json"),
        *(["--model", model] if model else []),
    ]
    plain_model = str(resolve_model(model)) if model else PLAIN_MODEL
    plain_cmd = [sys.executable, "-c", PLAIN_CODE, plain_model, str(video)]
    cw_runs, plain_runs = [], []
    for k in range(runs):
        order = (
            [("plain", plain_cmd), ("crosswatch", cw_cmd)]
            if k % 2 == 0
            else [("crosswatch", cw_cmd), ("plain", plain_cmd)]
        )
        for who, cmd in order:
            r = timed(cmd)
            if who == "crosswatch":
                rep = json.loads((tmp / "cw.json").read_text())
                r.update(duration_s=rep["duration_s"], events=rep["events"], frames_detected=rep["frames_detected"])
                cw_runs.append(r)
            else:
                r["frames"] = int(r["stdout"].split()[-1])
                plain_runs.append(r)
            r.pop("stdout", None)
    duration = cw_runs[0]["duration_s"]
    cw = min(cw_runs, key=lambda r: r["wall_s"])
    plain = min(plain_runs, key=lambda r: r["wall_s"])
    return {
        "clip": spec,
        "model": model or "default",
        "duration_s": duration,
        "crosswatch": {**cw, "realtime_factor": round(duration / cw["wall_s"], 2)},
        "plain": {**plain, "realtime_factor": round(duration / plain["wall_s"], 2)},
        "speedup_wall": round(plain["wall_s"] / cw["wall_s"], 2),
        "speedup_cpu": round(plain["cpu_s"] / cw["cpu_s"], 2),
        "runs": {"crosswatch": cw_runs, "plain": plain_runs},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=DEFAULT_CLIPS)
    ap.add_argument("--runs", type=int, default=1, help="alternating runs of each (best is reported)")
    ap.add_argument("--model", default=None, help="manifest name or OpenVINO folder, for both (default: the default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-vs-plain-") as tmp:
        for spec in args.clips:
            r = bench_clip(spec, max(1, args.runs), Path(tmp), args.model)
            results.append(r)
            print(
                f"{spec:<32} {r['duration_s']:6.1f} s video  crosswatch {r['crosswatch']['wall_s']:6.1f} s "
                f"({r['crosswatch']['realtime_factor']:5.2f}x rt, cpu {r['crosswatch']['cpu_s']:.1f} s)  "
                f"plain {r['plain']['wall_s']:6.1f} s ({r['plain']['realtime_factor']:5.2f}x rt, "
                f"cpu {r['plain']['cpu_s']:.1f} s)  crosswatch faster: {r['speedup_wall']:.2f}x wall, "
                f"{r['speedup_cpu']:.2f}x cpu",
                flush=True,
            )
    report = {"results": results, "cpu_count": os.cpu_count(), "load_avg": os.getloadavg()}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
