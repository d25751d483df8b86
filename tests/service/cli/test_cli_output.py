"""What `crosswatch process` and `crosswatch eval` print, from values alone (no clip, no model): one
column or count per violation type of the vocabulary, in its order."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

from detector.vocabulary import EventType
from service.cli.eval import eval_table
from service.cli.process import print_summary


def _score(positives: int, hit: int) -> dict:
    return {
        "positives": positives,
        "events": hit,
        "hit": hit,
        "false": 0,
        "capture": hit / positives if positives else 1.0,
        "validity": 1.0,
        "missed": [{"id": f"m{i}", "t": 1.5, "box": [1, 2, 3, 4]} for i in range(positives - hit)],
        "false_events": [],
    }


def test_eval_table_has_a_column_per_event_type():
    row = {"clip": "clip", "duration_s": 10.0, "elapsed_s": 5.0, "red_light": _score(2, 1), "wrong_way": _score(0, 0)}
    head, rule, line, missed = eval_table([row]).splitlines()
    assert head.split()[:7] == ["clip", "red", "light", "capture/validity", "wrong", "way", "capture/validity"]
    assert len(rule) == len(head)
    assert line.split()[1:4] == ["0.50/1.00", "(1/2,", "0"] and line.split()[-1] == "2.00"
    assert missed.strip() == "missed red_light m0 t=1.50 box=[1, 2, 3, 4]"


def test_process_summary_counts_every_event_type():
    out = SimpleNamespace(
        video=Path("v.mp4"),
        crossing_id="cx",
        concurrent=False,
        reused=True,
        run_id=3,
        wall_s=1.0,
        duration_s=1.0,
        counts={**{t.value: i + 2 for i, t in enumerate(EventType)}, "traffic": {}},
        events=[],
        evidence_root=Path("/e"),
    )
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print_summary(out)  # type: ignore[arg-type]
    assert "  events: 2 red-light (闯红灯), 3 wrong-way (逆行)\n" in buf.getvalue()
