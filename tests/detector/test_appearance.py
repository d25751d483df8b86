"""detector.appearance: looks of boxes in a picture, and how alike two looks are."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from detector.appearance import BINS, describe, similarity, unlike  # noqa: E402

GREY = (110, 110, 110)
WHITE, RED = (230, 230, 230), (30, 30, 200)


def picture(*patches: tuple[tuple[int, int, int, int], tuple[int, int, int]]) -> np.ndarray:
    """A grey 640x480 BGR picture with coloured rectangles ((x1, y1, x2, y2), (b, g, r))."""
    img = np.full((480, 640, 3), GREY, np.uint8)
    for (x1, y1, x2, y2), colour in patches:
        img[y1:y2, x1:x2] = colour
    return img


def test_each_half_of_a_look_is_a_histogram():
    img = picture(((100, 100, 140, 180), (20, 200, 20)))
    looks, valid = describe(img, np.array([[100, 100, 140, 180]], np.float64))
    assert looks.shape == (1, 2, BINS) and valid.tolist() == [True]
    assert looks[0].sum(axis=1) == pytest.approx([1.0, 1.0])
    assert looks[0, 0].max() == pytest.approx(1.0)  # one colour fills the inner box


@pytest.mark.parametrize(
    ("other", "alike"),
    [
        (((300, 200, 340, 280), (20, 200, 20)), True),  # the same green road user elsewhere
        (((300, 200, 340, 280), (230, 230, 230)), False),  # a white one
        (((300, 200, 340, 280), (30, 30, 200)), False),  # a red one
    ],
    ids=["same colours", "white", "red"],
)
def test_the_same_colours_are_alike_others_are_not(other, alike):
    green = ((100, 100, 140, 180), (20, 200, 20))
    img = picture(green, other)
    looks, _ = describe(img, np.array([green[0], other[0]], np.float64))
    s = similarity(looks[:1], looks[1:])[0, 0]
    assert (s >= 0.9) if alike else (s <= 0.1)


def test_the_halves_are_compared_apart():
    """A red rider on a white scooter is not a white rider on a red one: the same colours overall."""
    img = picture(
        ((100, 100, 140, 140), (30, 30, 200)),
        ((100, 140, 140, 180), (230, 230, 230)),
        ((300, 100, 340, 140), (230, 230, 230)),
        ((300, 140, 340, 180), (30, 30, 200)),
    )
    looks, _ = describe(img, np.array([[100, 100, 140, 180], [300, 100, 340, 180]], np.float64))
    assert similarity(looks[:1], looks[1:])[0, 0] < 0.1


def test_a_box_off_the_picture_has_no_look():
    img = picture()
    looks, valid = describe(img, np.array([[700, 100, 760, 200], [10, 10, 12, 11], [5, 5, 60, 90]], np.float64))
    assert valid.tolist() == [False, False, True]
    assert not looks[0].any() and not looks[1].any()


def test_no_boxes():
    looks, valid = describe(picture(), np.zeros((0, 4)))
    assert looks.shape == (0, 2, BINS) and valid.shape == (0,)


def test_unlike_needs_both_the_last_look_and_the_mean_to_differ():
    """A road user whose last box was odd (its rider alone, say) is still like its usual look."""
    green, white, red = (
        ((100, 100, 140, 180), (20, 200, 20)),
        ((200, 100, 240, 180), WHITE),
        ((300, 100, 340, 180), RED),
    )
    looks, valid = describe(picture(green, white, red), np.array([green[0], white[0], red[0]], np.float64))
    last, mean = looks[1:2], looks[0:1]  # last seen white, usually green
    assert unlike(last, mean, looks, valid, 0.5).tolist() == [[False, False, True]]


def test_a_box_without_a_look_is_never_unlike():
    looks, valid = describe(picture(), np.array([[700, 100, 760, 200]], np.float64))
    green = describe(picture(((100, 100, 140, 180), (20, 200, 20))), np.array([[100, 100, 140, 180]], np.float64))[0]
    assert unlike(green, green, looks, valid, 0.5).tolist() == [[False]]
