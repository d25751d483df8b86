"""quality: the command line (`python -m detector.quality`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..assets import model_names
from ..signal import LampThresholds
from .detection import (
    detection_table,
    grid_tiles,
    measure_detection,
    pipeline_thresholds,
    size_table,
    summary,
    summary_table,
)
from .labels import DEFAULT_DATASET, EVAL_SETS, ROAD_CLASSES, LabelError, load_dataset
from .signal import DEFAULT_FAIL_DIR, LIGHT_CLASSES, measure_signal, signal_report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.quality", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=None,
        help=f"YOLO data set, repeatable (default {DEFAULT_DATASET})",
    )
    ap.add_argument(
        "--eval-sets", action="store_true", help="both held-out sets: " + ", ".join(p.name for p in EVAL_SETS)
    )
    ap.add_argument(
        "--models",
        default=None,
        help="comma-separated manifest names or paths (default: all manifest models, or none when --model is given)",
    )
    ap.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH",
        help="a model path (OpenVINO folder, .pt, .onnx) or manifest name; repeatable",
    )
    ap.add_argument("--sizes", default="640,960,1280", help="detector input sizes")
    ap.add_argument("--no-tiles", action="store_true", help="skip the tiled variant")
    ap.add_argument("--conf", type=float, default=0.25, help="the 'usable' threshold (default 0.25)")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU for a match (default 0.5)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (quick tries)")
    ap.add_argument("--skip", choices=("detection", "signal"), action="append", default=[])
    ap.add_argument(
        "--lamp-thresholds",
        default=None,
        metavar="MINB,RED,YELLOW,GREEN",
        help="evaluate these LampThresholds instead of signal.py's defaults",
    )
    ap.add_argument("--fail-dir", type=Path, default=DEFAULT_FAIL_DIR, help="signal failure crops")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = ap.parse_args(argv)

    th = LampThresholds()
    if args.lamp_thresholds:
        try:
            th = LampThresholds(*(float(v) for v in args.lamp_thresholds.split(",")))
        except (TypeError, ValueError):
            print("error: --lamp-thresholds needs up to four numbers: MINB,RED,YELLOW,GREEN", file=sys.stderr)
            return 2
    datasets = list(args.dataset or []) + (list(EVAL_SETS) if args.eval_sets else [])
    datasets = datasets or [DEFAULT_DATASET]
    if args.models is None:
        models = [] if args.model else model_names()
    else:
        models = [m for m in args.models.split(",") if m]
    models += args.model
    t_start = time.perf_counter()
    reports, failed = [], False
    for dataset in datasets:
        try:
            samples = load_dataset(dataset)
        except (OSError, LabelError, KeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if args.limit:
            samples = samples[: args.limit]
        report: dict = {"dataset": str(dataset), "images": len(samples), "iou": args.iou, "conf": args.conf}
        counts = {c: sum(lab.cls == c for s in samples for lab in s.labels) for c in ROAD_CLASSES}
        print(f"\n{dataset}: {len(samples)} images; labelled " + ", ".join(f"{c} {n}" for c, n in counts.items()))
        if "detection" not in args.skip:
            det_conf, track_high = pipeline_thresholds()
            rows = measure_detection(
                samples,
                models,
                [int(s) for s in args.sizes.split(",") if s],
                not args.no_tiles,
                args.device,
                args.conf,
                args.iou,
            )
            print()
            print(detection_table(rows, args.conf, track_high))
            print()
            print(size_table(rows, args.conf))
            print()
            print(summary_table(rows, args.conf, dataset.name))
            failed |= not any(not r.note for r in rows)
            report["detection"] = {
                "pipeline_conf": det_conf,
                "track_high": track_high,
                "tiles": grid_tiles(640, 640),
                "rows": [asdict(r) for r in rows],
                "summary": summary(rows, args.conf),
            }
        has_lights = any(lab.cls in LIGHT_CLASSES for s in samples for lab in s.labels)
        if "signal" not in args.skip and has_lights:
            res = measure_signal(samples, th, fail_dir=args.fail_dir)
            print()
            print(signal_report(res))
            print(f"\nfailure crops: {args.fail_dir}/{{split,whole}}/ and {args.fail_dir}/{{split,whole}}_sheet.png")
            report["signal"] = res
        reports.append(report)
    runtime = round(time.perf_counter() - t_start, 1)
    print(f"\nruntime {runtime:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = reports[0] if len(reports) == 1 else {"datasets": reports}
        args.json.write_text(json.dumps({**out, "runtime_s": runtime}, indent=1), encoding="utf-8")
    if "detection" not in args.skip and failed:
        print("error: no detector configuration ran (see the table)", file=sys.stderr)
        return 1
    return 0
