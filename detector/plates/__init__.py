"""Licence plates: HyperLPR3 detector + colour classifier (ONNX) and RapidOCR text, voted per road user.

Only the text formats load eagerly (the service validates reviewers' corrections with them); the
models and the reader (onnxruntime, OpenCV, RapidOCR) load on first use.
"""

from __future__ import annotations

from typing import Any

from .formats import PlateText, clean, parse_plate, plausible_plate

_LAZY = {
    "PlateModelError": "models",
    "PlateModels": "models",
    "load_plate_models": "models",
    "PlateReader": "reader",
    "PlateReading": "reader",
}

__all__ = [
    "PlateModelError",
    "PlateModels",
    "PlateReader",
    "PlateReading",
    "PlateText",
    "clean",
    "load_plate_models",
    "parse_plate",
    "plausible_plate",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
