"""quality: greedy IoU matching and precision/recall, the YOLO label reader, the COCO -> data-set class
mapping, rider merging as scored, tiles, head splitting, and the vectorised lamp classifier used for the
threshold fit. Synthetic data only: no model, no shared files."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.config import Signal  # noqa: E402
from detector.quality import (  # noqa: E402
    COLOURS,
    PR,
    STATES,
    Label,
    LabelError,
    classify_arrays,
    evaluate_image,
    grid_tiles,
    head_shape,
    load_dataset,
    match_greedy,
    pr_counts,
    read_class_names,
    read_yolo_labels,
    recall_by_size,
    split_head,
    to_label_classes,
    top_quarter_bgr,
    variants,
)
from detector.signal import LampThresholds, classify_lamps, lamp_scores  # noqa: E402
from detector.types import Detections  # noqa: E402

NAMES = ["car", "green_light", "motobike", "red_light", "stop_line", "yellow_light"]
A = (0, 0, 10, 10)
A_SHIFT = (1, 0, 11, 10)  # IoU with A = 90/110 = 0.818
A_HALF = (5, 0, 15, 10)  # IoU with A = 50/150 = 0.333
B = (100, 100, 120, 140)


def det(*rows) -> Detections:
    """rows: (class, conf, box)"""
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[2] for r in rows], np.float32),
        np.array([r[1] for r in rows], np.float32),
        np.array([r[0] for r in rows], object),
    )


# -- matching -------------------------------------------------------------------------------------
MATCH_CASES = [
    # name, gt, pred, iou threshold, (tp, fp, fn)
    ("nothing", [], [], 0.5, (0, 0, 0)),
    ("only-gt", [A, B], [], 0.5, (0, 0, 2)),
    ("only-pred", [], [A], 0.5, (0, 1, 0)),
    ("exact", [A], [A], 0.5, (1, 0, 0)),
    ("shifted-ok", [A], [A_SHIFT], 0.5, (1, 0, 0)),
    ("overlap-too-small", [A], [A_HALF], 0.5, (0, 1, 1)),
    ("iou-exactly-threshold-counts", [A], [(0, 0, 10, 20)], 0.5, (1, 0, 0)),
    ("overlap-ok-at-lower-iou", [A], [A_HALF], 0.3, (1, 0, 0)),
    ("duplicate-pred", [A], [A, A_SHIFT], 0.5, (1, 1, 0)),
    ("two-and-two", [A, B], [B, A_SHIFT], 0.5, (2, 0, 0)),
    ("one-of-two-found", [A, B], [B], 0.5, (1, 0, 1)),
]


@pytest.mark.parametrize("name,gt,pred,thr,want", MATCH_CASES, ids=[c[0] for c in MATCH_CASES])
def test_pr_counts(name, gt, pred, thr, want):
    pr = pr_counts(np.array(gt, np.float32).reshape(-1, 4), np.array(pred, np.float32).reshape(-1, 4), thr)
    assert (pr.tp, pr.fp, pr.fn) == want


def test_match_is_greedy_by_iou_not_by_order():
    # p0 overlaps g0 a little and g1 well; p1 overlaps only g0. Taking p0 for g0 first (list order)
    # would leave one box unmatched; greedy by IoU gives p0-g1 (0.82) first, then p1-g0.
    g0, g1 = (0, 0, 10, 10), (4, 0, 14, 10)
    p0, p1 = (5, 0, 15, 10), (0, 0, 9, 10)
    pairs = match_greedy(np.array([g0, g1], np.float32), np.array([p0, p1], np.float32), 0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)]


def test_pr_rates_and_sum():
    pr = PR(3, 1, 2) + PR(1, 1, 0)
    assert (pr.tp, pr.fp, pr.fn) == (4, 2, 2)
    assert pr.recall == pytest.approx(4 / 6)
    assert pr.precision == pytest.approx(4 / 6)
    assert math.isnan(PR().recall) and math.isnan(PR().precision)
    assert PR(0, 0, 5).as_dict() == {"tp": 0, "fp": 0, "fn": 5, "recall": 0.0, "precision": None}


def test_evaluate_image_is_per_class():
    labels = [Label("car", A), Label("motobike", B)]
    # a motobike box on the car and a car box on the motobike: nothing matches across classes
    pr = evaluate_image(labels, det(("motobike", 0.9, A), ("car", 0.9, B)))
    assert (pr["car"].tp, pr["car"].fp, pr["car"].fn) == (0, 1, 1)
    assert (pr["motobike"].tp, pr["motobike"].fp, pr["motobike"].fn) == (0, 1, 1)
    pr = evaluate_image(labels, det(("car", 0.9, A_SHIFT), ("motobike", 0.9, B)))
    assert (pr["car"].tp, pr["motobike"].tp) == (1, 1)


def test_recall_by_size_buckets():
    labels = [Label("car", (0, 0, 20, 20)), Label("car", (100, 100, 150, 150)), Label("car", (200, 200, 400, 400))]
    got = recall_by_size(labels, det(("car", 0.9, (100, 100, 150, 150))), "car")
    assert got == {"small": [0, 1], "medium": [1, 1], "large": [0, 1]}


# -- class mapping and rider merging --------------------------------------------------------------------
MAP_CASES = [
    ("car", "car"),
    ("bus", "car"),
    ("truck", "car"),
    ("motorcycle", "motobike"),
    ("bicycle", "motobike"),
    ("person", None),
    ("traffic light", None),
]


@pytest.mark.parametrize("coco,label", MAP_CASES, ids=[c[0] for c in MAP_CASES])
def test_class_mapping(coco, label):
    out = to_label_classes(det((coco, 0.5, A)))
    assert list(out.class_name) == ([label] if label else [])


def test_person_as_motobike_only_when_asked():
    d = det(("person", 0.9, A), ("car", 0.8, B))
    assert list(to_label_classes(d).class_name) == ["car"]
    assert list(to_label_classes(d, person_as="motobike").class_name) == ["motobike", "car"]


def test_person_variant_counts_lone_riders_but_not_twice():
    # a merged rider+bike stays one motobike; a person on no bike becomes a second one
    raw_det = det(("person", 0.9, RIDER), ("motorcycle", 0.7, BIKE), ("person", 0.8, B))
    v = variants(raw_det, conf=0.25, track_high=0.35)
    assert sorted(map(tuple, v[("0.25", "person")].xyxy.tolist())) == sorted([LABEL_RIDER_BIKE, B])
    assert set(v[("0.25", "person")].class_name) == {"motobike"}


def test_mapping_keeps_boxes_and_scores_in_order():
    out = to_label_classes(det(("person", 0.9, A), ("truck", 0.8, B), ("bicycle", 0.3, A_SHIFT)))
    assert list(out.class_name) == ["car", "motobike"]
    assert out.confidence.tolist() == pytest.approx([0.8, 0.3])
    assert out.xyxy.tolist() == [list(B), list(A_SHIFT)]


RIDER, BIKE = (110, 120, 150, 230), (100, 200, 160, 260)  # a person sitting on a motorbike
LABEL_RIDER_BIKE = (100, 120, 160, 260)  # labels box rider and bike together


def test_merging_is_what_makes_a_labelled_motorbike_match():
    raw_det = det(("person", 0.9, RIDER), ("motorcycle", 0.7, BIKE), ("car", 0.2, B))
    v = variants(raw_det, conf=0.25, track_high=0.35)
    labels = [Label("motobike", LABEL_RIDER_BIKE)]
    merged = evaluate_image(labels, v[("0.25", "merged")])["motobike"]
    raw = evaluate_image(labels, v[("0.25", "raw")])["motobike"]
    assert (merged.tp, merged.fp, merged.fn) == (1, 0, 0)
    assert (raw.tp, raw.fp, raw.fn) == (0, 1, 1)  # bike-only box: IoU 0.43 with rider+bike
    assert len(v[("0.25", "raw")]) == 1  # the 0.2 car is below 0.25; the person is not scored
    assert len(v[("pipe", "raw")]) == 1  # ... and below the tracker's 0.35


def test_pipe_merges_low_confidence_riders_before_the_track_threshold():
    # the person is only 0.2: below 0.25 it cannot merge; the pipeline merges at 0.1 first
    raw_det = det(("person", 0.2, RIDER), ("motorcycle", 0.7, BIKE))
    v = variants(raw_det, conf=0.25, track_high=0.35)
    assert v[("pipe", "merged")].xyxy.tolist() == [list(LABEL_RIDER_BIKE)]
    assert v[("0.25", "merged")].xyxy.tolist() == [list(BIKE)]


# -- label reader -------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "a.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def test_reader_converts_normalised_centre_boxes_to_pixels(tmp_path):
    p = write(tmp_path, "0 0.5 0.25 0.1 0.2\n2 0.25 0.75 0.5 0.5")  # no final newline, like the shared set
    got = read_yolo_labels(p, NAMES, 640, 320)
    assert [lab.cls for lab in got] == ["car", "motobike"]
    assert got[0].box == pytest.approx((288, 48, 352, 112))
    assert got[1].box == pytest.approx((0, 160, 320, 320))


def test_reader_blank_lines_crlf_and_polygons(tmp_path):
    p = write(tmp_path, "\r\n3 0.5 0.5 0.2 0.2\r\n\r\n4 0.1 0.2 0.3 0.2 0.2 0.4\r\n")
    got = read_yolo_labels(p, NAMES, 100, 100)
    assert [lab.cls for lab in got] == ["red_light", "stop_line"]
    assert got[1].box == pytest.approx((10, 20, 30, 40))  # the polygon's bounding box


@pytest.mark.parametrize(
    "text,msg",
    [
        ("6 0.5 0.5 0.1 0.1", "class 6"),
        ("-1 0.5 0.5 0.1 0.1", "class -1"),
        ("0 0.5 0.5 0.1", "got 4 fields"),
        ("0 0.5 0.5 0.1 0.1 0.2", "got 6 fields"),
        ("car 0.5 0.5 0.1 0.1", "not numbers"),
    ],
)
def test_reader_rejects_bad_lines_naming_file_and_line(tmp_path, text, msg):
    p = write(tmp_path, "0 0.5 0.5 0.1 0.1\n" + text)
    with pytest.raises(LabelError, match=msg) as e:
        read_yolo_labels(p, NAMES, 640, 640)
    assert f"{p}:2" in str(e.value)


def test_class_names_list_or_dict(tmp_path):
    assert read_class_names(write(tmp_path, "names: ['car', 'green_light']\n", "l.yaml")) == ["car", "green_light"]
    assert read_class_names(write(tmp_path, "names:\n  1: b\n  0: a\n", "d.yaml")) == ["a", "b"]


def test_load_dataset(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write(tmp_path, "nc: 2\nnames: ['car', 'motobike']\n", "data.yaml")
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "b.jpg")
    Image.new("RGB", (50, 50)).save(tmp_path / "images" / "a.png")
    write(tmp_path / "labels", "1 0.5 0.5 0.5 0.5", "b.txt")
    ds = load_dataset(tmp_path)
    assert [s.stem for s in ds] == ["a", "b"]
    assert ds[0].labels == []  # an image without a label file has no objects
    assert ds[1].labels == [Label("motobike", pytest.approx((50, 25, 150, 75)))]


# -- tiles and signal heads -------------------------------------------------------------------------------
def test_grid_tiles_cover_with_overlap():
    tiles = grid_tiles(640, 480, n=2, overlap=0.25)
    assert len(tiles) == 4
    assert min(t[0] for t in tiles) == 0 and max(t[2] for t in tiles) == 640
    assert min(t[1] for t in tiles) == 0 and max(t[3] for t in tiles) == 480
    (x1, y1, x2, y2) = tiles[0]
    assert x2 - x1 == 366 and y2 - y1 == 274  # 640 / 1.75, 480 / 1.75
    assert tiles[1][0] < x2 and tiles[2][1] < y2  # neighbours overlap


@pytest.mark.parametrize(
    "box,shape",
    [
        ((0, 0, 8, 40), "vertical"),
        ((0, 0, 27, 20), "horizontal"),
        ((0, 0, 22, 23), "other"),
        ((0, 0, 5, 5), "other"),  # tiny
    ],
)
def test_head_shape(box, shape):
    assert head_shape(box) == shape


def test_split_head_long_axis():
    v = split_head((10, 0, 20, 30))
    assert v["red"] == (10, 0, 10, 10) and v["yellow"] == (10, 10, 10, 10) and v["green"] == (10, 20, 10, 10)
    h = split_head((0, 5, 30, 15))
    assert h["red"] == (0, 5, 10, 10) and h["green"] == (20, 5, 10, 10)


def test_split_head_reads_a_synthetic_vertical_head():
    img = np.full((60, 30, 3), 40, np.uint8)
    img[2:18, 8:22] = (40, 40, 240)  # BGR: lit red lamp at the top
    lamps = split_head((8, 0, 22, 60))
    sc = lamp_scores(img, Signal.model_validate({"id": "s", "lamps": lamps}))
    assert classify_lamps(sc).value == "RED"


def test_classify_arrays_equals_classify_lamps():
    rng = np.random.default_rng(1)
    th = LampThresholds()
    S = rng.uniform(-50, 150, (400, 3))
    S[::7, 0] = S[::7, 2] + th.red - th.green  # equal margins: ties must resolve like max() over the dict
    B = rng.uniform(50, 255, (400, 3))
    got = classify_arrays(S, B, th.min_brightness, th.red, th.yellow, th.green)
    want = [classify_lamps({c: (S[i, j], B[i, j]) for j, c in enumerate(COLOURS)}, th).value for i in range(len(S))]
    assert [STATES[c] for c in got] == want
    # broadcasting over a grid of thresholds gives the same as one call per value
    grid = classify_arrays(S, B, th.min_brightness, np.array([10.0, th.red]), th.yellow, th.green)  # (2,) -> (2, N)
    assert (grid[1] == got).all() and grid.shape == (2, 400)


def test_top_quarter_bgr_matches_lamp_scores():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    lamp = (3.4, 5.6, 17.0, 11.0)
    (b, g, r), bright = top_quarter_bgr(img, lamp)
    sc = lamp_scores(img, Signal.model_validate({"id": "s", "lamps": {"red": lamp}}))["red"]
    assert sc == pytest.approx((r - (g + b) / 2, bright), abs=1e-3)


# -- other label sets, the summary -------------------------------------------------------------------------
def test_load_dataset_with_classes_txt_and_aliases(tmp_path):
    """hanoi_riders_32 names its one class in classes.txt ("người trên xe": rider + bike as one box): it is
    scored as motobike."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write(tmp_path, "người trên xe\n", "classes.txt")
    Image.new("RGB", (100, 100)).save(tmp_path / "images" / "f.png")
    write(tmp_path / "labels", "0 0.5 0.5 0.2 0.4\n", "f.txt")
    ds = load_dataset(tmp_path)
    assert ds[0].labels == [Label("motobike", pytest.approx((40, 30, 60, 70)))]


def test_load_dataset_without_names_is_one_line(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(LabelError, match="no data.yaml or classes.txt"):
        load_dataset(tmp_path)


def test_summary_reports_two_wheelers_cars_and_small_recall():
    from detector.quality import Row, summary, summary_table

    pr = {"car": {"recall": 0.9, "precision": 0.5}, "motobike": {"recall": 0.6, "precision": 0.7}}
    row = Row(
        "models/trained/x",
        640,
        "full",
        12.0,
        scores={"0.25": {"merged": pr}, "pipe": {"merged": pr}},
        recall_by_size={"car": {"small": [1, 2]}, "motobike": {"small": [3, 10]}},
    )
    skipped = Row("other", 960, "full", note="not run: static 640x640 export")
    items = summary([row, skipped], 0.25)
    assert len(items) == 1
    assert items[0]["motobike@0.25"] == {"recall": 0.6, "precision": 0.7}
    assert items[0]["motobike_small_recall"] == 0.3 and items[0]["motobike_small_n"] == 10
    text = summary_table([row], 0.25, "set")
    assert "trained/x" in text and "0.60/0.70" in text and "0.30 (10)" in text
