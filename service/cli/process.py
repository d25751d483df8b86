"""`crosswatch process VIDEO --crossing C.yaml`: one video into events + evidence in the database."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from detector.vocabulary import EVENT_TYPE_LABELS
from service.runs.process import ProcessOutcome, process_video
from service.runs.request import ProcessRequest

from .common import EXIT_OK, add_pipeline_options, one_line, request_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser(
        "process",
        help="find violations in one video and store events + evidence",
        epilog="exit status: 0 stored, or already stored (also when another process stored the same "
        "run meanwhile: one line 'already processed by another process: run N'); 1 a bad "
        "video, database or evidence folder; 2 a bad crossing file, signal plan or option",
    )
    pr.add_argument("video")
    pr.add_argument("--crossing", required=True, help="crossing YAML file")
    add_pipeline_options(pr)
    pr.set_defaults(func=cmd_process)


def cmd_process(args: argparse.Namespace) -> int:
    run_and_print(request_from_args(args, args.video, args.crossing, args.start_time), as_json=args.json)
    return EXIT_OK


def run_and_print(req: ProcessRequest, *, as_json: bool) -> ProcessOutcome:
    """Process with a progress bar on a terminal; warnings on stderr; the summary or JSON on stdout."""
    bar = _ProgressBar(req.video) if sys.stderr.isatty() and not as_json else None
    try:
        out = process_video(req, on_progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    for w in out.warnings:
        print(f"crosswatch: warning: {one_line(w)}", file=sys.stderr)
    if as_json:
        json.dump(out.to_json(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_summary(out)
    return out


class _ProgressBar:
    """A tqdm bar of video seconds decoded (created at the first report, when the length is known)."""

    def __init__(self, video: Path):
        self.video = video
        self.bar: Any = None

    def update(self, t: float, duration: float | None) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=round(duration or 0, 1) or None,
                unit="s",
                desc=self.video.name,
                file=sys.stderr,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s video [{elapsed}<{remaining}]",
            )
        self.bar.n = round(t, 1)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_summary(out: ProcessOutcome) -> None:
    wall, dur = out.wall_s, out.duration_s
    name = one_line(out.video.name, 200)
    if out.concurrent:
        print(f"{name} @ {out.crossing_id}: already processed by another process: run {out.run_id}; nothing added")
        return
    if out.reused:
        print(f"{name} @ {out.crossing_id}: already processed (run {out.run_id}); nothing added")
    else:
        print(
            f"{name} @ {out.crossing_id}: {dur:.1f} s video, {out.frames} frames "
            f"({out.processed_frames} detected), {wall:.1f} s wall, {dur / max(wall, 1e-9):.2f}x real time"
        )
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in out.timings.items()))
    c = out.counts
    print("  events: " + ", ".join(f"{c[t]} {t.replace('_', '-')} ({zh})" for t, (zh, _) in EVENT_TYPE_LABELS.items()))
    for e in out.events:
        extra = f" since red {e['since_red_s']:.1f} s" if e["since_red_s"] is not None else ""
        print(
            f"   - {e['type']:9s} t={e['t']:7.2f}s track {e['track_id']:<4d} {e['class']:10s} lane={e['lane']}{extra}"
        )
    for line, per_class in c["traffic"].items():
        print(f"  traffic over {line}: " + ", ".join(f"{k} {v}" for k, v in sorted(per_class.items())))
    print(f"  database run {out.run_id}; evidence under {out.evidence_root}")
