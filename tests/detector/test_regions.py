"""regions.plan_detection: where and at what scale the detector looks, from the crossing alone."""

from __future__ import annotations

import pytest

from detector.config import ConfigError, parse_crossing
from detector.regions import DetectionPlan, auto_roi, pass_scale, plan_detection, two_wheeler_height, work_size


def crossing(size=(640, 480), lanes=None, stop_lines=None, detection=None) -> dict:
    d = {
        "id": "c",
        "name": "c",
        "frame_size": list(size),
        "lanes": lanes
        if lanes is not None
        else [{"id": "a", "polygon": [[100, 300], [500, 300], [600, 480], [0, 480]], "direction": [0, -1]}],
        "stop_lines": stop_lines or [],
    }
    if detection is not None:
        d["detection"] = detection
    return d


@pytest.mark.parametrize(
    "frame, expected",
    [
        ((1620, 720), (1620, 720)),
        ((640, 480), (640, 480)),
        ((3840, 2160), (1920, 1080)),
        ((596, 308), (596, 308)),
    ],
)
def test_work_size_is_the_crossing_space_capped(frame, expected):
    assert work_size(frame) == expected


def test_same_plan_for_a_crossing_drawn_at_any_scale():
    """The plan lives in the crossing's space: a 2x copy of the drawing gives the same working plan
    once both are capped (here neither is), scaled by 2."""
    a = plan_detection(parse_crossing(crossing()))
    big = crossing(
        size=(1280, 960),
        lanes=[{"id": "a", "polygon": [[200, 600], [1000, 600], [1200, 960], [0, 960]], "direction": [0, -1]}],
    )
    b = plan_detection(parse_crossing(big))
    assert b.work_size == (1280, 960)
    assert b.roi == pytest.approx([2 * v for v in a.roi], abs=2)
    assert b.roi_scale == pytest.approx(a.roi_scale / 2, rel=0.02)


@pytest.mark.parametrize("y, width", [(300, 400), (390, 500), (470, 590), (250, 0)])
def test_two_wheeler_height_follows_the_lane_width(y, width):
    c = parse_crossing(crossing())
    assert two_wheeler_height(c, y) == pytest.approx(0.15 * width, abs=0.5)


def test_roi_covers_lanes_with_margin_and_the_junction_past_a_stop_line():
    c = parse_crossing(crossing(stop_lines=[{"id": "s", "points": [[100, 300], [500, 300]], "entering": [0, -1]}]))
    x1, y1, x2, y2 = auto_roi(c)
    assert (x1, x2, y2) == (0, 640, 480)
    # 2.5 two-wheeler heights past the 400-px line (0.15 * 400 = 60 px tall): up to y = 300 - 150
    assert y1 == 150


def test_small_far_field_gets_upscaled_tiles_and_a_large_near_field_none():
    # a narrow road far away (lane 60-100 px wide: riders 9-15 px) beyond a wide near one, 640x480
    far = crossing(
        lanes=[
            {"id": "a", "polygon": [[300, 100], [360, 100], [380, 200], [280, 200]], "direction": [0, 1]},
            {"id": "b", "polygon": [[0, 400], [640, 400], [640, 480], [0, 480]], "direction": [1, 0]},
        ]
    )
    p = plan_detection(parse_crossing(far))
    assert p.tiles and p.tile_scale > p.roi_scale * 1.25
    for x1, y1, x2, y2 in p.tiles:
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        assert pass_scale((x1, y1, x2, y2)) >= 1.5  # detected upscaled
        assert y2 > 100 and y1 < 200 and x1 < 380 and x2 > 280  # over the far lane
    near = plan_detection(parse_crossing(crossing()))
    assert near.tiles == []


def test_file_tiles_and_roi_override_the_automatic_plan():
    p = plan_detection(parse_crossing(crossing(detection={"roi": [0, 200, 640, 480], "tiles": [[0, 0, 320, 240]]})))
    assert p == DetectionPlan((640, 480), (0, 200, 640, 480), [(0, 0, 320, 240)], p.roi_scale, 2.0, False)


def test_a_roi_that_leaves_nothing_to_detect_is_refused_with_file_and_field():
    with pytest.raises(
        ConfigError, match=r"x\.yaml: invalid crossing file: .*detection\.roi: covers no lane or stop line"
    ):
        parse_crossing(crossing(detection={"roi": [0, 0, 640, 100]}), "x.yaml")


def _clip(path, size=(320, 240), n=6, fps=10):
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:, : size[0] // 2] = 200  # left half bright
            img[10 * i : 10 * i + 20, 10:30] = (0, 0, 255)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize("size", [None, (640, 480), (160, 120), (320, 240)])
def test_read_frames_decodes_straight_to_the_working_size(tmp_path, size):
    from detector.video import read_frames

    clip = _clip(tmp_path / "c.mp4")
    frames = list(read_frames(clip, size=size))
    want = size or (320, 240)
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(6)])
    for f in frames:
        assert f.image.shape == (want[1], want[0], 3)
        # the picture is the same scene: bright left half, dark right half
        assert f.image[:, : want[0] // 2 - 2].mean() > 150 and f.image[:, want[0] // 2 + 2 :].mean() < 60


def test_scaled_copy_keeps_frame_times_and_scene(tmp_path):
    from detector.video import probe, read_frames, scaled_copy

    clip = _clip(tmp_path / "c.mp4")
    out = scaled_copy(clip, tmp_path / "big.mp4", (640, 480))
    assert (probe(out).width, probe(out).height) == (640, 480)
    assert [f.t for f in read_frames(out)] == [f.t for f in read_frames(clip)]


def test_scaled_copy_keeps_every_kth_frame_at_its_own_time(tmp_path):
    from detector.video import probe, read_frames, scaled_copy

    clip = _clip(tmp_path / "c.mp4", n=7)
    out = scaled_copy(clip, tmp_path / "third.mp4", (320, 240), every=3)
    assert probe(out).nominal_fps == pytest.approx(10 / 3, rel=0.01)
    assert [f.t for f in read_frames(out)] == [f.t for f in read_frames(clip)][::3]
    with pytest.raises(ValueError, match="every=0"):
        scaled_copy(clip, tmp_path / "none.mp4", (320, 240), every=0)
