"""Opening pictures with Pillow as Pillow ships it.

Importing ultralytics replaces `PIL.Image.open` (ultralytics.utils.patches): on a file Pillow cannot
identify, the replacement tries to install and import the `pi-heif` package at run time — a
`ModuleNotFoundError` offline, a pip run online — instead of raising `PIL.UnidentifiedImageError`.
Every picture crosswatch opens from outside (uploads, evidence, snapshots, datasets) goes through
`open_picture`, which calls Pillow's own `open` whether ultralytics is loaded or not, so a
bad picture stays a one-line error.
"""

from __future__ import annotations

import sys
from typing import IO

from PIL import Image


def _pillow_open():
    """Pillow's own `Image.open`; once ultralytics has replaced it, the original it keeps beside its patch."""
    if Image.open.__module__ == "PIL.Image":
        return Image.open
    original = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", None)
    return original if original is not None and original.__module__ == "PIL.Image" else Image.open


def open_picture(fp: str | bytes | IO[bytes] | object, formats: list[str] | None = None) -> Image.Image:
    """`PIL.Image.open(fp, formats=formats)` with Pillow's own opener: a file Pillow cannot identify
    raises `PIL.UnidentifiedImageError` (an `OSError`), never an import of another package."""
    return _pillow_open()(fp, formats=formats)
