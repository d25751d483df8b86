"""The OpenVINO-runtime detector reproduces ultralytics' pre/post-processing (and so its boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.openvino_yolo import decode, letterbox, nms


def _raw(rows: list[tuple[float, float, float, float, dict[int, float]]], nc: int = 80) -> np.ndarray:
    """Model output (4 + nc, anchors) from rows of (cx, cy, w, h, {class: score})."""
    out = np.zeros((4 + nc, len(rows)), np.float32)
    for j, (cx, cy, w, h, scores) in enumerate(rows):
        out[:4, j] = cx, cy, w, h
        for c, s in scores.items():
            out[4 + c, j] = s
    return out


@pytest.mark.parametrize(
    "rows,conf,classes,expect",
    [
        # one car: kept, xywh -> xyxy
        ([(100, 100, 20, 10, {2: 0.9})], 0.1, None, [(90, 95, 110, 105, 0.9, 2)]),
        # below the threshold
        ([(100, 100, 20, 10, {2: 0.09})], 0.1, None, []),
        # best class is a bench (13): the class filter runs AFTER the best class is picked (as ultralytics)
        ([(100, 100, 20, 10, {2: 0.5, 13: 0.6})], 0.1, [2, 3], []),
        ([(100, 100, 20, 10, {2: 0.6, 13: 0.5})], 0.1, [2, 3], [(90, 95, 110, 105, 0.6, 2)]),
        # same place, same class: the weaker box is suppressed
        ([(100, 100, 20, 10, {2: 0.9}), (101, 100, 20, 10, {2: 0.5})], 0.1, None, [(90, 95, 110, 105, 0.9, 2)]),
        # same place, different classes: NMS is per class, both stay (stronger first)
        (
            [(100, 100, 20, 10, {2: 0.5}), (101, 100, 20, 10, {3: 0.9})],
            0.1,
            None,
            [(91, 95, 111, 105, 0.9, 3), (90, 95, 110, 105, 0.5, 2)],
        ),
        # apart: both stay
        (
            [(100, 100, 20, 10, {2: 0.9}), (200, 100, 20, 10, {2: 0.5})],
            0.1,
            None,
            [(90, 95, 110, 105, 0.9, 2), (190, 95, 210, 105, 0.5, 2)],
        ),
    ],
)
def test_decode(rows, conf, classes, expect):
    det = decode(_raw(rows), conf, 0.5, classes)
    assert det.shape == (len(expect), 6)
    np.testing.assert_allclose(det, np.array(expect, np.float32).reshape(-1, 6), atol=1e-5)


def test_decode_caps_at_max_det():
    rows = [(10 + 30 * i, 100, 20, 10, {0: 0.2 + i / 1000}) for i in range(50)]
    det = decode(_raw(rows), 0.1, 0.5, None, max_det=7)
    assert len(det) == 7 and det[0, 4] == pytest.approx(0.2 + 49 / 1000)


def test_nms_suppresses_only_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 4]], np.float32)  # IoU 0.5 and 0.4 with the first
    kept = list(nms(boxes, np.array([0.9, 0.8, 0.7]), 0.45))
    assert kept == [0, 2]  # 0.5 > 0.45 suppressed; 0.4 kept


@pytest.mark.parametrize("shape", [(720, 1620), (480, 640), (1080, 1920), (320, 640), (1456, 1620), (37, 1001)])
def test_letterbox_matches_ultralytics(shape):
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
    ours, gain, (left, top) = letterbox(img, (640, 640))
    theirs = LetterBox((640, 640), auto=False, stride=32)(image=img)
    assert ours.shape == theirs.shape == (640, 640, 3)
    np.testing.assert_array_equal(ours, theirs)
    assert gain == pytest.approx(min(640 / shape[0], 640 / shape[1]))


@pytest.mark.needs_assets
def test_same_boxes_as_ultralytics_on_real_frames():
    """Same counts, every box matched at IoU >= 0.98, same classes, on frames of 3 real clips."""
    av = pytest.importorskip("av")
    from detector import assets
    from detector.boxes import iou_matrix
    from detector.detection import YoloDetector

    model = assets.resolve_model("yolo11n-openvino-int8")
    if not model.exists():
        pytest.skip("yolo11n OpenVINO model not fetched (run `make assets`)")
    ours = YoloDetector(model, device="cpu", backend="openvino")
    theirs = YoloDetector(model, device="cpu", backend="ultralytics")
    assert (ours.backend, theirs.backend) == ("openvino", "ultralytics")
    compared = 0
    for name in ("vn_rear_stopline", "hanoi_giangvo_langha", "nl_motorway_overpass"):
        clip = assets.sample_clip(name)
        if not clip.exists():
            pytest.skip(f"sample clip {name} not fetched (run `make assets`)")
        with av.open(str(clip)) as c:
            frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(40), c.decode(video=0))][::10]
        for a, b in zip(ours.detect(frames), theirs.detect(frames)):
            assert len(a.xyxy) == len(b.xyxy)
            if len(a.xyxy):
                m = iou_matrix(a.xyxy, b.xyxy)
                assert m.max(1).min() >= 0.98
                assert list(a.class_name) == list(b.class_name[m.argmax(1)])
            compared += len(a.xyxy)
    assert compared > 50


@pytest.mark.needs_assets
def test_compiled_model_cache_gives_the_same_boxes_and_survives_a_broken_blob(tmp_path, monkeypatch):
    """The first load writes a compiled blob under $XDG_CACHE_HOME/crosswatch/openvino; a load from it gives
    the same boxes; a corrupt blob is compiled afresh, not an error."""
    from detector import assets
    from detector.openvino_yolo import OpenVinoYolo, compile_cache_dir

    model = assets.resolve_model("yolo11n-openvino-int8")
    clip = assets.sample_clip("hanoi_giangvo_langha")
    if not model.exists() or not clip.exists():
        pytest.skip("model or clip not fetched (run `make assets`)")
    av = pytest.importorskip("av")
    with av.open(str(clip)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "crosswatch" / "openvino"
    first = OpenVinoYolo(model).predict([frame], conf=0.1, iou=0.5)[0]
    blobs = list((tmp_path / "crosswatch" / "openvino").glob("*.blob"))
    assert len(blobs) == 1 and blobs[0].stat().st_size > 100_000
    cached = OpenVinoYolo(model).predict([frame], conf=0.1, iou=0.5)[0]
    assert len(first) > 3 and np.array_equal(first, cached)
    blobs[0].chmod(0o600)
    blobs[0].write_bytes(b"not a compiled model" * 50)
    again = OpenVinoYolo(model).predict([frame], conf=0.1, iou=0.5)[0]
    assert np.array_equal(first, again)


def test_no_compile_cache_where_the_folder_cannot_be_made(tmp_path, monkeypatch):
    from detector.openvino_yolo import compile_cache_dir

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder would go
    assert compile_cache_dir() is None


@pytest.mark.needs_assets
def test_throughput_mode_gives_each_picture_its_own_boxes_in_order():
    """Several pictures in flight at once (THROUGHPUT streams) come back in the order given, each with the
    boxes the one-at-a-time mode finds (same kernels: equal up to float rounding)."""
    from detector import assets
    from detector.boxes import iou_matrix
    from detector.openvino_yolo import OpenVinoYolo

    model = assets.resolve_model("yolo11n-openvino-int8")
    clip = assets.sample_clip("vn_rear_stopline")
    if not model.exists() or not clip.exists():
        pytest.skip("model or clip not fetched (run `make assets`)")
    av = pytest.importorskip("av")
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(60), c.decode(video=0))][::12]
    frames.append(np.full((480, 640, 3), 114, np.uint8))  # an empty picture among them
    one = OpenVinoYolo(model)
    many = OpenVinoYolo(model, throughput=True)
    assert one.requests == 1 and many.requests >= 1
    a = one.predict(frames, conf=0.1, iou=0.5)
    b = many.predict(frames, conf=0.1, iou=0.5)
    assert len(a) == len(b) == len(frames) and len(b[-1]) == 0
    for x, y in zip(a, b):
        assert len(x) == len(y)
        if len(x):
            assert iou_matrix(x[:, :4], y[:, :4]).max(1).min() >= 0.99
            assert np.allclose(np.sort(x[:, 4]), np.sort(y[:, 4]), atol=1e-3)
    assert sum(len(x) for x in a) > 20
