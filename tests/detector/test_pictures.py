"""`open_picture` opens pictures with Pillow's own opener even after ultralytics replaced
`PIL.Image.open` (which, on a file Pillow cannot identify, imports pi-heif at run time)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, UnidentifiedImageError

from detector.pictures import open_picture


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (7, 5), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def ultralytics_patched():
    import ultralytics.utils.patches  # noqa: F401  (the import replaces PIL.Image.open)

    assert Image.open.__module__ != "PIL.Image"
    yield


@pytest.mark.parametrize("data", [b"not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b""])
def test_not_a_picture_is_pillows_own_error(ultralytics_patched, data):
    with pytest.raises(UnidentifiedImageError):
        open_picture(io.BytesIO(data))


def test_a_picture_opens_with_its_size(ultralytics_patched):
    with open_picture(io.BytesIO(_png()), formats=["PNG"]) as im:
        assert im.size == (7, 5)


def test_formats_are_kept(ultralytics_patched):
    with pytest.raises(UnidentifiedImageError):
        open_picture(io.BytesIO(_png()), formats=["JPEG"])
