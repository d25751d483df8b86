"""What a road user looks like: a coarse colour histogram of its box, to tell two road users apart.

The tracker matches a track that was unseen for a while by where its motion puts it. In a queue of
riders, or one rider waiting beside another that comes past, the box found there may be another road
user's, and the track then carries its identity onto it (its evidence would show two road users).
Their colours usually differ: a green jacket, a white scooter, a red car. `describe` takes the inner
part of each box (its edges hold road and neighbours), its upper and lower halves apart (rider and
vehicle), and counts the colours of a fixed grid of points in it in 4 levels per colour channel (64
bins a half): the same work for a 10-px rider and a 400-px bus. `similarity` compares
two looks by the Bhattacharyya coefficient of each half, averaged: 1 is the same colours, 0 none in
common. Measured on the tracker's re-finds of tracks unseen for 0.5 s or more (the gate off): Hanoi
(39) 0.65 and up, nine tenths over 0.87; Makassar at dusk (20 at 30 fps, 29 at 10 fps) 0.54 and up; the
two handovers found in Makassar at 15 fps (a waiting rider's track taken by a scooter coming down the
kerb past it) 0.31 and 0.497. The margin is thin at dusk: the gate (`TrackerConfig.min_look`) is 0.5.
"""

from __future__ import annotations

import numpy as np

LEVEL_BITS = 2  # 4 levels per colour channel
BINS = 1 << (3 * LEVEL_BITS)  # 64
INNER_X = 0.15  # share of the box's width left out on each side
INNER_Y = 0.05  # ... of its height, top and bottom
GRID_Y, GRID_X = 24, 12  # each box's inner part is sampled on this grid (rows even: two equal halves)


def describe(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The looks (N, 2, BINS) float64 of these boxes (N,4 xyxy, in the picture's pixels) in a picture (H,W,3
    uint8), each half summing to 1, and which boxes had pixels to describe (N,) bool (a box off the picture or
    under 2 px has none; its look is zeros). Each box is sampled on a grid of `GRID_Y` x `GRID_X` points of
    its inner part, all boxes at once."""
    n = len(boxes)
    if not n:
        return np.zeros((0, 2, BINS)), np.zeros(0, bool)
    h, w = image.shape[:2]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    x1 = np.clip(boxes[:, 0] + INNER_X * bw, 0, w)
    x2 = np.clip(boxes[:, 2] - INNER_X * bw, 0, w)
    y1 = np.clip(boxes[:, 1] + INNER_Y * bh, 0, h)
    y2 = np.clip(boxes[:, 3] - INNER_Y * bh, 0, h)
    valid = (x2 - x1 >= 1) & (y2 - y1 >= 2)
    # sample points at the centres of a GRID_Y x GRID_X division of each inner box (rows: upper half first)
    fy = (np.arange(GRID_Y) + 0.5) / GRID_Y
    fx = (np.arange(GRID_X) + 0.5) / GRID_X
    ys = np.minimum((y1[:, None] + fy[None, :] * (y2 - y1)[:, None]).astype(np.int64), h - 1)
    xs = np.minimum((x1[:, None] + fx[None, :] * (x2 - x1)[:, None]).astype(np.int64), w - 1)
    # np.take on the picture as (H*W, 3) rows: several times faster than indexing it by rows and columns
    flat = (ys[:, :, None] * w + xs[:, None, :]).ravel()
    px = np.take(np.ascontiguousarray(image).reshape(-1, 3), flat, axis=0) >> (8 - LEVEL_BITS)  # uint8
    code = ((px[:, 0] << (2 * LEVEL_BITS)) | (px[:, 1] << LEVEL_BITS) | px[:, 2]).reshape(n, GRID_Y, GRID_X)
    half = (np.arange(GRID_Y) >= GRID_Y // 2).astype(np.int64)  # 0: upper half, 1: lower
    slot = (np.arange(n)[:, None, None] * 2 + half[None, :, None]) * BINS + code
    counts = np.bincount(slot.ravel(), minlength=n * 2 * BINS).reshape(n, 2, BINS).astype(np.float64)
    looks = counts / (GRID_Y // 2 * GRID_X)
    looks[~valid] = 0.0
    return looks, valid


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, N): how alike each look of `a` (K,2,BINS) is to each of `b` (N,2,BINS), 0..1 (the mean over the two
    halves of their Bhattacharyya coefficients)."""
    sa = np.sqrt(a.reshape(len(a), -1))
    sb = np.sqrt(b.reshape(len(b), -1))
    return (sa @ sb.T) / 2.0


def unlike(last: np.ndarray, mean: np.ndarray, looks: np.ndarray, valid: np.ndarray, min_look: float) -> np.ndarray:
    """(K, N) bool: which of the `looks` (N,2,BINS) of boxes, of those that could be described (`valid`), are
    like neither the last look (K,2,BINS) nor the running mean of the looks (K,2,BINS) of each of K road
    users (similarity under `min_look` to both)."""
    alike = np.maximum(similarity(last, looks), similarity(mean, looks))
    return (alike < min_look) & valid[None, :]
