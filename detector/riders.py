"""Merge: a person riding a bicycle/motorcycle becomes one road user (the vehicle's class)."""

from __future__ import annotations

import numpy as np

from .types import TWO_WHEELERS, Detections


def merge_riders(det: Detections, min_cover: float = 0.15) -> Detections:
    """Fold each rider's person box into the two-wheeler it sits on.

    A person is a rider of a bike when the centre of the person's box lies over the bike
    horizontally (within the bike's width, 25 % slack), the person's feet are not below the bike's
    bottom by more than a quarter of the bike's height, and at least `min_cover` of the person's
    box overlaps the bike's box. Several people may ride one bike (passengers); each person joins
    the bike with the best overlap x confidence. The merged box is the union; class and score are the bike's.
    People on no bike stay `person` (pedestrians, or riders whose bike was missed).
    """
    if len(det) == 0:
        return det
    cls = det.class_name
    bikes = np.flatnonzero(np.isin(cls, list(TWO_WHEELERS)))
    people = np.flatnonzero(cls == "person")
    if len(bikes) == 0 or len(people) == 0:
        return det
    xyxy = det.xyxy.copy()
    p = xyxy[people][:, None, :]  # (P,1,4)
    b = xyxy[bikes][None, :, :]  # (1,B,4)
    pw, ph = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    bw, bh = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    pcx = (p[..., 0] + p[..., 2]) / 2
    ix = np.clip(np.minimum(p[..., 2], b[..., 2]) - np.maximum(p[..., 0], b[..., 0]), 0, None)
    iy = np.clip(np.minimum(p[..., 3], b[..., 3]) - np.maximum(p[..., 1], b[..., 1]), 0, None)
    cover = ix * iy / np.maximum(pw * ph, 1e-6)
    ok = (
        (pcx >= b[..., 0] - 0.25 * bw)
        & (pcx <= b[..., 2] + 0.25 * bw)
        & (p[..., 3] <= b[..., 3] + 0.25 * bh)
        & (p[..., 1] < b[..., 1] + 0.5 * bh)  # the person's head is above the bike's middle
        & (cover >= min_cover)
    )
    # prefer the bike that covers the person most, weighted by how sure the detector is of the bike
    score = np.where(ok, cover * det.confidence[bikes][None, :], -1.0)
    best = score.argmax(axis=1)
    drop = np.zeros(len(det), bool)
    for pi, bi in enumerate(best):
        if score[pi, bi] < 0:
            continue
        person, bike = people[pi], bikes[bi]
        xyxy[bike, :2] = np.minimum(xyxy[bike, :2], xyxy[person, :2])
        xyxy[bike, 2:] = np.maximum(xyxy[bike, 2:], xyxy[person, 2:])
        drop[person] = True
    keep = ~drop
    return Detections(xyxy[keep], det.confidence[keep], det.class_name[keep], det.tracker_id[keep])
