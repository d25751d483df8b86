"""The model a run uses: its file from the manifest, and the detector built for a crossing's video size."""

from __future__ import annotations

from pathlib import Path

from detector.config import Crossing

from .errors import UserError


def model_path(model: str) -> Path:
    """The model's file (a manifest name or a path); a missing one is a UserError."""
    from detector import assets

    try:
        return assets.resolve_model(model)
    except assets.AssetError as e:
        raise UserError(str(e)) from None


def make_detector(crossing: Crossing, size: tuple[int, int], device: str, path: Path, imgsz: int):
    """The detector for a crossing's video of `size` (width, height): its tiles in that pixel space.

    Looked up by module attribute at each call, so a test (or a worker's init) may install another."""
    from detector.detection import ModelError, YoloDetector

    try:
        opts = crossing.scaled_to(size).detection
        return YoloDetector(path, device=device, imgsz=imgsz, tiles=opts.tiles, roi=opts.roi)
    except ModelError as e:
        raise UserError(str(e)) from None
