"""Plate reading on labelled material: exact / not read / wrong, per plate type, and ms per read.

Sets (labels by eye on zoomed crops; see each file):
* samples: ../shared/datasets/plate_samples/labels.json (2 legible Chinese plates, 2 illegible)
* clips:   tests/detector/plate_clip_labels.json (every plate found in the shared clips; none legible)
* scaled:  (read with all formats, and with CN only as a crossing with `plate_regions: [CN]` does)
           the two legible sample plates re-shot smaller (the picture scaled so the plate is 160, 120,
           100, 80, 64, 48, 36 and 24 px wide) and tilted by ±4°: what the reader does as plates get
           small; truth is the sample's label, so a plate too small must come out "not read".

    PYTHONPATH=. .venv/bin/python scripts/plate_eval.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector import assets  # noqa: E402
from detector.plates import PlateReader  # noqa: E402

SAMPLES = assets.default_mirror() / "datasets" / "plate_samples"
WIDTHS = (160, 120, 100, 80, 64, 48, 36, 24)
TILTS = (-4.0, 0.0, 4.0)


def _frame(clip: str, index: int) -> np.ndarray:
    with av.open(str(assets.sample_clip(clip))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="bgr24")
    raise ValueError(f"{clip}: no frame {index}")


def _around(box, w: int, h: int) -> tuple[float, float, float, float]:
    """A road-user-sized region around a plate box (what the pipeline hands the reader)."""
    x1, y1, x2, y2 = box
    pw, ph = x2 - x1, y2 - y1
    return max(0, x1 - 2 * pw), max(0, y1 - 4 * ph), min(w, x2 + 2 * pw), min(h, y2 + 2 * ph)


def cases():
    labels = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["plates"]
    for item in labels:
        img = cv2.imread(str(SAMPLES / item["image"]))
        yield "samples", item["kind"], item["text"], img, None
    clip_labels = json.loads((REPO / "tests" / "detector" / "plate_clip_labels.json").read_text(encoding="utf-8"))
    for item in clip_labels["plates"]:
        img = _frame(item["clip"], item["frame"])
        yield "clips", item["kind"].split(",")[0], item["text"], img, _around(item["box"], img.shape[1], img.shape[0])
    for item in labels:
        if item["text"] is None:
            continue
        img = cv2.imread(str(SAMPLES / item["image"]))
        x1, y1, x2, y2 = item["approx_box"]
        kind = "CN new-energy (green)" if len(item["text"]) == 8 else "CN standard (blue)"
        for width in WIDTHS:
            s = width / (x2 - x1)
            small = cv2.resize(
                img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA
            )
            box = (x1 * s, y1 * s, x2 * s, y2 * s)
            for tilt in TILTS:
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                m = cv2.getRotationMatrix2D((cx, cy), tilt, 1.0)
                pic = cv2.warpAffine(small, m, (small.shape[1], small.shape[0]), borderMode=cv2.BORDER_REPLICATE)
                yield f"scaled {width} px", kind, item["text"], pic, _around(box, pic.shape[1], pic.shape[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    reader = PlateReader()  # all formats (CN, VN, ID): what a crossing without `plate_regions` gets
    china = PlateReader(reader.models, reader.recogniser, regions=("CN",))  # a crossing with plate_regions: [CN]
    rows = []
    for group, kind, truth, img, box in cases():
        t0 = time.perf_counter()
        got = reader.read_track([(img, box)])
        if group.startswith("scaled"):
            rows.append(
                dict(
                    group=group + " (CN only)",
                    kind=kind,
                    truth=truth,
                    read=None,
                    confidence=0.0,
                    outcome="",
                    reason="",
                    ms=0.0,
                )
            )
            t1 = time.perf_counter()
            cn = china.read_track([(img, box)])
            r = rows[-1]
            r["ms"] = round((time.perf_counter() - t1) * 1000, 1)
            r.update(
                read=cn.text,
                confidence=cn.confidence,
                reason=cn.reason,
                outcome=("exact" if cn.text == truth else "wrong") if cn.text else "not read",
            )
            t0 = time.perf_counter()
            got = reader.read_track([(img, box)])
        ms = (time.perf_counter() - t0) * 1000
        outcome = (
            ("exact" if got.text == truth else "wrong")
            if got.text
            else ("not read" if truth is not None else "correctly not read")
        )
        rows.append(
            dict(
                group=group,
                kind=kind,
                truth=truth,
                read=got.text,
                confidence=got.confidence,
                outcome=outcome,
                reason=got.reason,
                ms=round(ms, 1),
            )
        )
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        table[(r["group"], r["kind"])][r["outcome"]] += 1
        table[(r["group"], r["kind"])]["n"] += 1
    print(
        f"{'set':<16} {'plate type':<38} {'n':>3} {'exact':>6} {'not read':>9} {'wrong':>6} {'illegible→not read':>19}"
    )
    for (group, kind), c in table.items():
        print(
            f"{group:<16} {kind:<38} {c['n']:>3} {c['exact']:>6} {c['not read']:>9} {c['wrong']:>6} "
            f"{c['correctly not read']:>19}"
        )
    for mode, keep in (
        ("all formats", lambda g: not g.endswith("(CN only)")),
        ("CN only on the scaled set", lambda g: g.endswith("(CN only)") or not g.startswith("scaled")),
    ):
        sel = [r for r in rows if keep(r["group"])]
        legible = [r for r in sel if r["truth"] is not None]
        illegible = [r for r in sel if r["truth"] is None]
        n = max(1, len(legible))
        print(
            f"[{mode}] legible plates {len(legible)}: exact {sum(r['outcome'] == 'exact' for r in legible) / n:.0%}, "
            f"not read {sum(r['outcome'] == 'not read' for r in legible) / n:.0%}, "
            f"wrong {sum(r['outcome'] == 'wrong' for r in legible) / n:.0%}; illegible plates {len(illegible)}: "
            f"'not read' {sum(r['outcome'] == 'correctly not read' for r in illegible)}, "
            f"wrong {sum(r['outcome'] == 'wrong' for r in illegible)}"
        )
    ms = sorted(r["ms"] for r in rows)
    print(f"ms per picture read: median {ms[len(ms) // 2]:.0f}, max {ms[-1]:.0f} (machine loaded: 2 cores shared)")
    wrong = [r for r in rows if r["outcome"] == "wrong"]
    for r in wrong:
        print(f"  WRONG {r['group']} {r['kind']}: truth {r['truth']} read {r['read']} ({r['confidence']})")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
