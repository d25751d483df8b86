"""`crosswatch bench VIDEO --crossing C.yaml`: time one full `process` run (fresh temporary
database and evidence folder) and print it as JSON."""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from pathlib import Path
from typing import Any

from service.runs.process import process_video

from .common import EXIT_OK, add_model_options, request_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    be = sub.add_parser("bench", help="time one full run of a clip (temporary database) and print JSON")
    be.add_argument("video")
    be.add_argument("--crossing", required=True)
    add_model_options(be)
    be.add_argument("--out", help="also save the JSON here")
    be.set_defaults(func=cmd_bench)


def machine() -> dict[str, Any]:
    import platform

    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    cpu = (
        next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")),
            platform.processor(),
        )
        if cpuinfo.exists()
        else platform.processor()
    )
    mem = (
        next((int(ln.split()[1]) // 1024 for ln in meminfo.read_text().splitlines() if ln.startswith("MemTotal")), None)
        if meminfo.exists()
        else None
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def cmd_bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="crosswatch-bench-") as tmp:
        req = request_from_args(args, args.video, args.crossing).with_(
            db_url=f"sqlite:///{tmp}/bench.db", evidence_root=Path(f"{tmp}/evidence").resolve()
        )
        out = process_video(req)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dur, wall, pipe = round(out.duration_s, 3), round(out.wall_s, 3), round(out.elapsed_s, 3)  # as `process --json`
    report = {
        "video": str(out.video),
        "crossing": out.crossing_id,
        "model": args.model or "default",
        "device": args.device,
        "imgsz": args.imgsz,
        "detect_fps": args.detect_fps,
        "duration_s": dur,
        "frames_decoded": out.frames,
        "frames_detected": out.processed_frames,
        "wall_s": wall,
        "realtime_factor": round(dur / wall, 3),
        "pipeline_s": pipe,
        "pipeline_realtime_factor": round(dur / pipe, 3),
        "stages_s": out.timings,
        "events": len(out.events),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "machine": machine(),
    }
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return EXIT_OK
