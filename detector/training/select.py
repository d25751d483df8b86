"""Choose a training run's checkpoint by how well it finds two-wheelers, small ones included, on the
validation split of the *training* source (never on the evaluation sets).

    python -m detector.training.select RUN DATA.yaml [--min-precision 0.5] [--json OUT]

RUN/weights/epoch*.pt (written by `detector.training.train`, `save_period=1`) are each scored with
`detector.quality`'s detection measure on DATA's `val` pictures (their completed labels, unsure road users
masked as in training): two-wheeler recall and precision at 0.25, and recall of two-wheelers under 32 px.
The choice: the highest recall + small recall among the checkpoints whose precision reaches
`--min-precision` (ultralytics' own `best.pt` ranks by all-class mAP, where cars dominate and small
riders hardly count). Prints one line per checkpoint and the choice.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import yaml

from ..classes import TRAINED_CLASSES

# TRAINED_CLASSES ids -> the quality tool's class names (it scores `motobike` and `car`)
QUALITY_NAMES = ["motobike" if n == "two_wheeler" else n for n in TRAINED_CLASSES]


class SelectError(ValueError):
    """A run or a data set that cannot be scored; one line naming the file."""


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of RUN/weights/epochN.pt, in epoch order."""
    found = []
    for p in (run / "weights").glob("epoch*.pt"):
        m = re.fullmatch(r"epoch(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        raise SelectError(f"{run / 'weights'}: no epochN.pt checkpoints (train with save_period=1)")
    return sorted(found)


def val_view(data_yaml: Path, into: Path) -> Path:
    """A folder the quality tool reads (images/, labels/, data.yaml) over DATA's val split."""
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SelectError(f"{data_yaml}: cannot read ({str(e).splitlines()[0]})") from None
    val = data.get("val") if isinstance(data, dict) else None
    if not isinstance(val, str):
        raise SelectError(f"{data_yaml}: field 'val' missing (one picture folder expected)")
    root = Path(data.get("path") or data_yaml.parent)
    images = (root / val).resolve()
    labels = images.parent.parent / "labels" / images.name
    if not images.is_dir() or not labels.is_dir():
        raise SelectError(f"{data_yaml}: val pictures or labels missing ({images}, {labels})")
    into.mkdir(parents=True, exist_ok=True)
    (into / "images").symlink_to(images)
    (into / "labels").symlink_to(labels)
    (into / "data.yaml").write_text(yaml.safe_dump({"names": QUALITY_NAMES}))
    return into


def choose(scores: list[dict], min_precision: float) -> dict | None:
    """The checkpoint with the highest two-wheeler recall + small recall whose precision reaches the floor."""
    ok = [s for s in scores if (s["precision"] or 0.0) >= min_precision]
    return max(ok, key=lambda s: ((s["recall"] or 0.0) + (s["small_recall"] or 0.0), -s["epoch"]), default=None)


def score(run: Path, data_yaml: Path, device: str = "cpu", log=print) -> list[dict]:
    from ..quality.detection import measure_detection, summary
    from ..quality.labels import load_dataset

    ckpts = checkpoints(run)
    with tempfile.TemporaryDirectory() as tmp:
        samples = load_dataset(val_view(data_yaml, Path(tmp) / "val"))
        rows = measure_detection(samples, [str(p) for _, p in ckpts], [640], False, device, 0.25, 0.5, log=log)
    by_model = {item["model"]: item for item in summary(rows, 0.25)}
    out = []
    for epoch, path in ckpts:
        item = by_model.get(str(path))
        if item is None:
            raise SelectError(f"{path}: could not be scored")
        pr = item["motobike@0.25"]
        out.append(
            {
                "epoch": epoch,
                "checkpoint": str(path),
                "recall": pr["recall"],
                "precision": pr["precision"],
                "small_recall": item["motobike_small_recall"],
                "small_n": item["motobike_small_n"],
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.training.select", description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="training run folder (RUN/weights/epochN.pt)")
    ap.add_argument("data", type=Path, help="data.yaml of the training set (its val split is scored)")
    ap.add_argument("--min-precision", type=float, default=0.5, help="two-wheeler precision floor at 0.25")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="also write the scores and the choice here")
    a = ap.parse_args(argv)
    try:
        scores = score(a.run, a.data, a.device, log=lambda *_, **__: None)
    except SelectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in scores:
        print(
            f"epoch {s['epoch']:3d}: two-wheelers R {s['recall']} P {s['precision']}, "
            f"under 32 px R {s['small_recall']} (of {s['small_n']})"
        )
    best = choose(scores, a.min_precision)
    print(f"chosen: {best['checkpoint'] if best else 'none reaches the precision floor'}")
    if a.json:
        a.json.write_text(json.dumps({"scores": scores, "chosen": best}, indent=1))
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
