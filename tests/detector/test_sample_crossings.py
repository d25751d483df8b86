"""The committed crossing configs for the sample clips: they load, fit their clip, and hang together."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector import assets
from detector.config import load_crossing

SAMPLES = assets.REPO_ROOT / "sample_videos"
CROSSINGS = sorted(SAMPLES.glob("*.crossing.yaml"))
CLIPS = {e["crossing"]: e for e in assets.load_manifest(assets.SAMPLES_MANIFEST)[1] if e["kind"] == "clip"}


def _inside(pt: tuple[float, float], poly: list[tuple[float, float]]) -> bool:
    x, y = pt
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            hit = not hit
    return hit


def _clip_file(entry: dict) -> Path | None:
    for root in (assets.assets_dir(), assets.default_mirror()):
        path = root / "sample_videos" / entry["path"]
        if path.is_file():
            return path
    return None


def test_every_clip_has_a_crossing_and_every_crossing_a_clip():
    assert CROSSINGS, f"no *.crossing.yaml in {SAMPLES}"
    assert sorted(p.name for p in CROSSINGS) == sorted(CLIPS)


@pytest.mark.parametrize("path", CROSSINGS, ids=[p.name for p in CROSSINGS])
def test_crossing_loads_and_references_exist(path):
    cfg = load_crossing(path)  # strict model: unknown keys, bad references, out-of-frame points fail
    assert list(cfg.frame_size) == CLIPS[path.name]["frame_size"]
    signal_ids = {s.id for s in cfg.signals}
    for sl in cfg.stop_lines:
        assert sl.signal is None or sl.signal in signal_ids, sl.id
    for ln in cfg.lanes:
        assert ln.signal is None or ln.signal in signal_ids, ln.id
    assert cfg.lanes, "every sample crossing has at least one lane"
    for sl in cfg.stop_lines:
        (x1, y1), (x2, y2) = sl.points
        mid = ((x1 + x2) / 2, (y1 + y2) / 2)
        governing = [ln.id for ln in cfg.lanes if ln.signal == sl.signal and _inside(mid, list(ln.polygon))]
        assert governing, f"stop line {sl.id}: its midpoint is in no lane governed by signal {sl.signal!r}"


@pytest.mark.needs_assets
@pytest.mark.parametrize("path", CROSSINGS, ids=[p.name for p in CROSSINGS])
def test_frame_size_matches_the_real_clip(path):
    av = pytest.importorskip("av")
    clip = _clip_file(CLIPS[path.name])
    if clip is None:
        pytest.skip(f"{CLIPS[path.name]['path']} is neither fetched (make assets) nor in the shared mirror")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
    assert tuple(load_crossing(path).frame_size) == size
