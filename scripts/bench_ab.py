#!/usr/bin/env python3
"""Two checkouts of crosswatch on the same clips, same run, alternating: CPU and wall of each.

    git archive <commit> | tar -x -C /tmp/base && ln -s $PWD/assets /tmp/base/assets
    .venv/bin/python scripts/bench_ab.py --base /tmp/base [--new .] [--rounds 2] [CLIP[@WxH] ...] [--out ab.json]

Each run is the whole `crosswatch bench` command (process into a fresh database, evidence written) as a
child process, with PYTHONPATH and the working folder set to that checkout (its own crossing files);
the order alternates per round (base first on even rounds). CPU seconds (user + system of the child)
are the figure to compare on a shared machine; the load average at each start is printed beside it.
A `name` is `assets/sample_videos/<name>.mp4` with `sample_videos/<name>.crossing.yaml`; `name@WxH`
first writes a copy scaled to that size with PyAV (`video.scaled_copy`), used by both sides.
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
from detector.video import scaled_copy  # noqa: E402 (needs the sys.path line: run as a script)

DEFAULT_CLIPS = ["vn_rear_stopline", "vn_rear_stopline@3240x1440", "hanoi_giangvo_langha"]


def run_one(root: Path, video: Path, name: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "service.cli", "bench", str(video), "--crossing",
           str(root / "sample_videos" / f"{name}.crossing.yaml"), "--device", "cpu", "--out", str(out)]  # fmt: skip
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root), "YOLO_OFFLINE": "1"}
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{root}: bench {video.name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    rep = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "video_s": rep["duration_s"],
        "events": rep["events"],
        "load": round(load, 2),
        "stages_s": {k: round(v, 2) for k, v in rep["stages_s"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=DEFAULT_CLIPS)
    ap.add_argument("--base", type=Path, required=True, help="the checkout to compare against")
    ap.add_argument("--new", type=Path, default=ROOT, help="the checkout under test (default: this one)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    sides = {"base": args.base.resolve(), "new": args.new.resolve()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp_s:
        tmp = Path(tmp_s)
        videos = {}
        for spec in args.clips:
            name, _, size = spec.partition("@")
            video = ROOT / "assets" / "sample_videos" / f"{name}.mp4"
            if size:
                w, h = (int(v) for v in size.lower().split("x"))
                video = scaled_copy(video, tmp / f"{name}_{w}x{h}.mp4", (w, h))
            videos[spec] = (name, video)
        for r in range(max(1, args.rounds)):
            for spec, (name, video) in videos.items():
                order = ["base", "new"] if r % 2 == 0 else ["new", "base"]
                for who in order:
                    row = {"round": r, "side": who, "clip": spec, **run_one(sides[who], video, name, tmp / "b.json")}
                    rows.append(row)
                    print(
                        f"{r} {who:<4} {spec:<30} cpu {row['cpu_s']:6.2f} s  wall {row['wall_s']:6.2f} s  "
                        f"({row['video_s'] / row['cpu_s']:.2f}x rt per cpu s, {row['video_s'] / row['wall_s']:.2f}x wall)  "
                        f"events {row['events']}  load {row['load']}  evidence {row['stages_s'].get('evidence')}",
                        flush=True,
                    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"sides": {k: str(v) for k, v in sides.items()}, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
