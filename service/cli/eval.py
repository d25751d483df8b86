"""`crosswatch eval`: run the pipeline (no database, no evidence) and compare its events with
hand-checked labels (`*.truth.json`)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from detector import evaluation
from detector.config import load_crossing
from detector.pipeline import Pipeline, PipelineSettings
from detector.regions import scale_box
from detector.video import VideoError, probe, reverse_video
from detector.vocabulary import EventType
from service.runs import detectors
from service.runs.errors import UserError
from service.runs.request import resolve_device_and_model

from .common import EXIT_OK, add_model_options

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".ts"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="compare the pipeline's events with hand-checked labels (*.truth.json)")
    ev.add_argument(
        "video",
        help="a clip, or a folder of clips (each with NAME.crossing.yaml and NAME.truth.json "
        "beside it or in sample_videos/)",
    )
    ev.add_argument("--crossing", help="crossing YAML (one clip)")
    ev.add_argument("--truth", help="labels JSON (one clip)")
    ev.add_argument(
        "--reverse",
        action="store_true",
        help="play the clip backwards and reverse the lane labels (every legal vehicle then drives the wrong way)",
    )
    add_model_options(ev)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)


def eval_jobs(video: str, crossing: str | None, truth: str | None) -> list[tuple[str, Path, Path, Path]]:
    """(name, clip, crossing, truth) to evaluate: one clip with its files, or every labelled clip of a folder."""
    from detector import assets

    target = Path(video)
    if target.is_file():
        if not (crossing and truth):
            raise UserError("eval of one clip needs --crossing and --truth")
        return [(target.stem, target, Path(crossing), Path(truth))]
    if not target.is_dir():
        raise UserError(f"{target}: no such file or folder")
    jobs = []
    for clip in sorted(p for p in target.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
        look = [target, assets.REPO_ROOT / "sample_videos"]
        cfile = next(
            (d / f"{clip.stem}.crossing.yaml" for d in look if (d / f"{clip.stem}.crossing.yaml").exists()), None
        )
        tfile = next((d / f"{clip.stem}.truth.json" for d in look if (d / f"{clip.stem}.truth.json").exists()), None)
        if cfile and tfile:
            jobs.append((clip.stem, clip, cfile, tfile))
        else:
            print(
                f"crosswatch: {clip.name}: skipped (no {'crossing file' if not cfile else 'labels'})", file=sys.stderr
            )
    if not jobs:
        raise UserError(f"{target}: no clip with both a crossing file and labels")
    return jobs


def cmd_eval(args: argparse.Namespace) -> int:
    device, model_name = resolve_device_and_model(args.device, args.model)
    model_path = detectors.model_path(model_name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="crosswatch-eval-") as tmp:
        for name, clip, crossing_file, truth_file in eval_jobs(args.video, args.crossing, args.truth):
            crossing = load_crossing(crossing_file)
            truth = json.loads(truth_file.read_text(encoding="utf-8"))
            if args.reverse:
                rev = Path(tmp) / f"{clip.stem}.reversed.mp4"
                try:
                    reverse_video(clip, rev)
                except VideoError as e:
                    raise UserError(str(e)) from None
                clip, truth, name = rev, evaluation.reverse_truth(truth), f"{name} (reversed)"
            settings = PipelineSettings(model=model_name, imgsz=args.imgsz, detect_fps=args.detect_fps)
            try:
                info = probe(clip)
                detector = detectors.make_detector(
                    crossing, (info.width, info.height), device, model_path, settings.imgsz
                )
                result = Pipeline(crossing, detector, settings).run(clip)
            except VideoError as e:
                raise UserError(str(e)) from None
            # the labels are in their own pixel space (`frame_size`, else the crossing's): a copy of the clip
            # at another resolution is scored there
            space = truth.get("frame_size") or crossing.frame_size
            fx, fy = (space[0] / info.width, space[1] / info.height) if space else (1.0, 1.0)
            events = [
                {
                    "type": e.type.value,
                    "t": e.t,
                    "box": list(scale_box(e.box, fx, fy)),
                    "class": e.class_name,
                    "track_id": e.track_id,
                }
                for e in result.events
            ]
            row = {
                "clip": name,
                "detect_fps": args.detect_fps,
                "duration_s": result.duration_s,
                "elapsed_s": round(result.elapsed_s, 2),
                "frames_detected": result.processed,
            }
            for kind in EventType:
                row[kind.value] = evaluation.score(kind.value, events, truth).as_dict()
            sig = truth.get("phases")
            if sig and crossing.signals:
                log = result.signal_log.get(crossing.signals[0].id, [])
                row["signal"] = evaluation.signal_agreement(log, sig, result.duration_s)
            totals: dict[str, dict[str, int]] = {}
            for c in result.counts:
                totals.setdefault(c.stop_line, {}).setdefault(c.class_name, 0)
                totals[c.stop_line][c.class_name] += c.count
            row["count"] = evaluation.count_error(totals, truth)
            rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print(eval_table(rows))
    return EXIT_OK


def eval_table(rows: list[dict]) -> str:
    def rate(r: dict) -> str:
        if not r["positives"] and not r["events"]:
            return "      -"
        return f"{r['capture']:.2f}/{r['validity']:.2f} ({r['hit']}/{r['positives']}, {r['false']} false)"

    kinds = [t.value for t in EventType]
    rates = " ".join(f"{k.replace('_', ' ') + ' capture/validity':32s}" for k in kinds)
    head = f"{'clip':34s} {rates} {'signal':>7s} {'count':>9s} {'x rt':>5s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        sig = r.get("signal", {}).get("agreement") if r.get("signal") else None
        cnt = r.get("count")
        sig_s = f"{sig:.3f}" if sig is not None else "-"
        cnt_s = f"{cnt['counted']}/{cnt['labelled']}" if cnt else "-"
        speed = r["duration_s"] / max(r["elapsed_s"], 1e-9)
        lines.append(
            f"{r['clip'][:34]:34s} {' '.join(f'{rate(r[k]):32s}' for k in kinds)} {sig_s:>7s} {cnt_s:>9s} {speed:5.2f}"
        )
        for kind in kinds:
            for m in r[kind]["missed"]:
                lines.append(f"    missed {kind} {m['id']} t={m['t']:.2f} box={m['box']}")
            for f in r[kind]["false_events"]:
                what = f"legal road user {f['label']['id']}" if f["label"] else "nothing labelled"
                lines.append(
                    f"    false  {kind} t={f['event']['t']:.2f} box={[round(v) for v in f['event']['box']]} "
                    f"track {f['event']['track_id']} ({what})"
                )
    return "\n".join(lines)
