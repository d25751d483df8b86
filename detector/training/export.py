"""Export a trained detector to an OpenVINO INT8 folder the pipeline runs, and print its manifest entry.

    python -m detector.training.export RUN/weights/best.pt --data DATA.yaml --name NAME \
        [--out models/trained] [--split train] [--fraction 1.0]

INT8 post-training quantisation (ultralytics -> NNCF, `pip install nncf==3.4.0`, the `train` extra)
calibrates on the `--split` pictures of DATA (the training pictures: the evaluation sets stay unseen).
The folder `OUT/NAME_int8_openvino_model/` gets `NAME.xml`, `NAME.bin` and `metadata.yaml`; the files'
sizes and SHA-256 are printed as a `models/manifest.yaml` files list.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..assets import sha256_of

MAX_BYTES = 10 * 1024 * 1024


def export_int8(
    weights: Path,
    data: Path,
    out_dir: Path,
    name: str,
    *,
    split: str = "train",
    fraction: float = 1.0,
    imgsz: int = 640,
) -> Path:
    """Quantise `weights` to OpenVINO INT8 and place it at OUT/NAME_int8_openvino_model (replaced if there)."""
    from ultralytics import YOLO

    exported = Path(
        YOLO(str(weights)).export(
            format="openvino",
            int8=True,
            data=str(data),
            imgsz=imgsz,
            split=split,
            fraction=fraction,
            dynamic=False,
            half=False,
        )
    )
    target = out_dir / f"{name}_int8_openvino_model"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    xml = next(exported.glob("*.xml"))
    shutil.copyfile(xml, target / f"{name}.xml")
    shutil.copyfile(xml.with_suffix(".bin"), target / f"{name}.bin")
    shutil.copyfile(exported / "metadata.yaml", target / "metadata.yaml")
    return target


def manifest_files(folder: Path, models_root: Path) -> list[dict]:
    return [
        {"file": str(p.relative_to(models_root)), "size": p.stat().st_size, "sha256": sha256_of(p), "url": None}
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.training.export", description=__doc__.split("\n")[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="data.yaml of the training set (calibration pictures)")
    ap.add_argument("--name", required=True, help="model name, e.g. crosswatch-2w-yolo11n")
    ap.add_argument("--out", type=Path, default=Path("models/trained"))
    ap.add_argument("--split", default="train", help="calibration split of DATA (default train)")
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of that split used for calibration")
    a = ap.parse_args(argv)
    for p in (a.weights, a.data):
        if not p.is_file():
            print(f"error: {p}: not found", file=sys.stderr)
            return 2
    target = export_int8(a.weights, a.data.resolve(), a.out, a.name, split=a.split, fraction=a.fraction)
    files = manifest_files(target, a.out.parent)
    total = sum(f["size"] for f in files)
    import yaml

    print(yaml.safe_dump({"files": files}, sort_keys=False))
    print(f"{target}: {total / 1e6:.2f} MB")
    if total > MAX_BYTES:
        print(f"error: {target}: {total} bytes, over the 10 MB a committed model may take", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
