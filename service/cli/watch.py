"""`crosswatch watch SOURCE --crossing C.yaml`: violations on a live stream (RTSP, HTTP(S), or a
local file followed as it grows), each event stored as it happens (the use case:
`service.runs.watch`). SIGINT/SIGTERM end the watch cleanly; a second one interrupts."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.live import SourceError, parse_source
from service.runs.errors import UserError
from service.runs.request import default_db_url, evidence_root, parse_start, resolve_device_and_model
from service.runs.watch import Watcher, WatchOptions, WatchRequest, watch_session

from .common import EXIT_OK, add_model_options, add_store_options


class Emitter:
    """Status lines for a person (stderr) or JSON lines (`--json`, stdout), from any thread."""

    def __init__(self, as_json: bool, out=None, err=None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, kind: str, **fields: Any) -> None:
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        with self._lock:
            if self.as_json:
                key = "event" if kind == "event" else "summary" if kind == "summary" else "status"
                line = {key: fields, "wall": now} if key != "status" else {"status": kind, "wall": now, **fields}
                self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.out.flush()
                return
            if kind == "event":
                self.out.write(
                    f"{fields['occurred_at']}  {fields['type']:9s} track {fields['track_id']:<5d} "
                    f"{fields['class']:10s} lane={fields['lane']} "
                    f"plate={_plate(fields)} code={fields.get('violation_code') or '-'} "
                    f"防伪码={fields.get('anti_forgery_code') or '-'} "
                    f"({len(fields['evidence'])} evidence files, "
                    f"{fields['latency_s']:.1f} s after it happened)\n"
                )
                self.out.flush()
            elif kind == "summary":
                self.err.write("crosswatch watch: " + json.dumps(fields, ensure_ascii=False) + "\n")
            else:
                detail = ", ".join(f"{k}={v}" for k, v in fields.items())
                self.err.write(f"crosswatch watch: {now} {kind}" + (f" ({detail})" if detail else "") + "\n")
            self.err.flush()


def _plate(fields: dict[str, Any]) -> str:
    """The plate as a person reads it: the text, 未识别 (not read), or '-' (not attempted)."""
    if fields.get("plate"):
        return str(fields["plate"])
    return "未识别" if fields.get("plate_status") == "not_read" else "-"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `watch` subcommand."""
    w = sub.add_parser(
        "watch",
        help="find violations on a live stream (rtsp://, http(s)://, or a growing file "
        "with --follow) and store each event as it happens",
    )
    w.add_argument("source", help="rtsp://[user:pass@]host/path, http(s)://..., or a file path with --follow")
    w.add_argument("--crossing", required=True, help="crossing YAML file")
    w.add_argument("--follow", action="store_true", help="SOURCE is a local file (MPEG-TS) that keeps growing")
    add_store_options(w)
    add_model_options(w)
    w.add_argument(
        "--start-time",
        help="with --follow: wall-clock time of the file's first frame (ISO 8601 with "
        "offset); frame times then come from the file's timestamps",
    )
    w.add_argument("--duration", type=float, help="stop after this many seconds (default: until interrupted)")
    w.add_argument(
        "--stall-s",
        type=float,
        default=WatchOptions.stall_s,
        help="no video for this long = stalled: drop the connection and reconnect (default 10)",
    )
    w.add_argument(
        "--ring-s",
        type=float,
        default=WatchOptions.ring_s,
        help="seconds of recent packets kept for evidence clips (default 60)",
    )
    w.add_argument("--rtsp-transport", choices=["tcp", "udp"], default="tcp")
    w.add_argument("--json", action="store_true", help="JSON lines on stdout: status, events, a summary at the end")
    w.set_defaults(func=cmd_watch)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise UserError(f"{name} must be > 0 (got {value})")


def cmd_watch(args: argparse.Namespace) -> int:
    try:
        source = parse_source(args.source, args.follow)
    except SourceError as e:
        raise UserError(str(e)) from None
    for name in ("duration", "stall_s", "ring_s"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    if args.start_time and not args.follow:
        raise UserError("--start-time is for --follow (a live stream is timed by the wall clock)")
    from detector.config import load_crossing

    load_crossing(args.crossing)  # a bad crossing file is the next error, before the model is looked up
    start_time = parse_start(args.start_time)
    device, model = resolve_device_and_model(args.device, args.model)
    db_url = args.db or default_db_url()
    opts = WatchOptions(stall_s=args.stall_s, ring_s=args.ring_s, rtsp_transport=args.rtsp_transport)
    req = WatchRequest(
        source,
        Path(args.crossing),
        db_url,
        evidence_root(args.evidence_dir, db_url),
        model,
        device,
        args.imgsz,
        args.detect_fps,
        follow=bool(args.follow),
        start_time=start_time,
        options=opts,
    )
    emit = Emitter(args.json)
    live = watch_session(req, emit)
    watcher = live.watcher
    emit(
        "started",
        run_id=live.run_id,
        source=source.display,
        crossing=watcher.processor.crossing.id,
        run_start=live.run_start.isoformat(timespec="milliseconds"),
        stall_s=opts.stall_s,
        pid=os.getpid(),
    )
    restore = _stop_on_signals(watcher)
    try:
        summary = live.run(args.duration)
    except KeyboardInterrupt:  # a second Ctrl-C: no clean end, but what was written stays
        print(
            f"crosswatch: interrupted; the {watcher.stats.events} events written so far are kept "
            f"(run {live.run_id} marked failed)",
            file=sys.stderr,
        )
        return 130
    finally:
        restore()
    emit("summary", **summary)
    return EXIT_OK


def _stop_on_signals(watcher: Watcher) -> Callable[[], None]:
    """SIGINT/SIGTERM end the watch cleanly (pending events are still written); a second one is
    KeyboardInterrupt. Returns the function that puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        if watcher.stop_event.is_set():
            raise KeyboardInterrupt
        watcher.emit("stopping", signal=signal.Signals(signum).name)
        watcher.stop()

    for s in old:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore
