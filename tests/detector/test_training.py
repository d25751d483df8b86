"""detector/training: label parsing and validation, teacher/human merging, the data set build on a tiny
synthetic set (the teacher replaced by fixed boxes), tiles, the class mapping of trained models, and the
training recipe's pieces that need no PyTorch run."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from detector.classes import TRAINED_CLASSES, road_user_classes
from detector.training import dataset as ds
from detector.training.labels import Boxes, LabelError, format_labels, parse_label_file
from detector.training.teacher import complete, inside_fraction, tile_grid
from detector.training.train import COCO_PARENT, hours_until

TW, CAR, BUS, TRUCK, BICYCLE, PERSON = range(6)


def boxes(*rows) -> Boxes:
    """rows: (class id, (x1, y1, x2, y2)[, conf])"""
    if not rows:
        return Boxes.empty()
    return Boxes(
        np.array([r[1] for r in rows], np.float32),
        np.array([r[0] for r in rows], np.int64),
        np.array([r[2] if len(r) > 2 else 1.0 for r in rows], np.float32),
    )


# -- labels ------------------------------------------------------------------------------------------------
def test_parse_and_format_round_trip(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("1 0.5 0.5 0.25 0.5\n\n0 0.1 0.2 0.1 0.2")  # blank line and no final newline are fine
    b = parse_label_file(p, 200, 100, n_classes=2)
    assert b.cls.tolist() == [1, 0]
    np.testing.assert_allclose(b.xyxy[0], [75, 25, 125, 75])
    np.testing.assert_allclose(b.xyxy[1], [10, 10, 30, 30])
    again = tmp_path / "b.txt"
    again.write_text(format_labels(b, 200, 100))
    np.testing.assert_allclose(parse_label_file(again, 200, 100, 2).xyxy, b.xyxy, atol=1e-3)


BAD_LINES = [
    ("fields", "0 0.5 0.5 0.2", "expected 5 fields"),
    ("polygon", "0 0.1 0.1 0.2 0.1 0.2 0.2", "expected 5 fields"),
    ("class-text", "car 0.5 0.5 0.2 0.2", "is not an integer"),
    ("class-range", "7 0.5 0.5 0.2 0.2", "outside 0..1"),
    ("number", "0 0.5 x 0.2 0.2", "must be numbers"),
    ("nan", "0 0.5 nan 0.2 0.2", "finite"),
    ("pixels", "0 320 240 40 30", "not a normalised box"),
    ("zero-size", "0 0.5 0.5 0 0.2", "not a normalised box"),
]


@pytest.mark.parametrize("name,line,msg", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_malformed_line_names_file_and_line(tmp_path, name, line, msg):
    p = tmp_path / "bad.txt"
    p.write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(LabelError) as e:
        parse_label_file(p, 640, 640, n_classes=2)
    text = str(e.value)
    assert text.startswith(f"{p}:2: ") and msg in text and "\n" not in text


# -- merging teacher and human boxes ----------------------------------------------------------------------
def test_human_box_wins_and_teacher_fills_the_gaps():
    human = boxes((TW, (100, 100, 130, 160)), (CAR, (300, 300, 400, 380)))
    teacher = boxes(
        (BICYCLE, (102, 98, 131, 158), 0.9),  # the same rider, other class: the human label wins
        (TRUCK, (310, 305, 395, 375), 0.8),  # inside the human car box
        (TW, (500, 100, 520, 140), 0.6),  # unlabelled far rider: added
        (CAR, (0, 0, 40, 30), 0.5),  # unlabelled parked car: added
        (PERSON, (110, 90, 125, 130), 0.7),  # the rider's upper body, mostly inside the human box
    )
    joined, added = complete(human, teacher)
    assert added == 2
    assert joined.cls.tolist() == [TW, CAR, TW, CAR]
    np.testing.assert_allclose(joined.xyxy[:2], human.xyxy)


def test_complete_with_no_human_labels_keeps_the_teacher():
    teacher = boxes((CAR, (0, 0, 10, 10), 0.5))
    joined, added = complete(Boxes.empty(), teacher)
    assert added == 1 and len(joined) == 1


def test_inside_fraction():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 20, 10], [100, 100, 110, 110]], np.float32)
    np.testing.assert_allclose(inside_fraction(a, b), [[0.5, 0.0]])


def test_tile_grid_overlaps_and_covers():
    tiles = tile_grid(640, 640, n=3, scale=2.0)
    assert len(tiles) == 9
    assert all(x2 - x1 == 320 and y2 - y1 == 320 for x1, y1, x2, y2 in tiles)
    assert {t[0] for t in tiles} == {0, 160, 320} and max(t[3] for t in tiles) == 640


# -- the build ----------------------------------------------------------------------------------------------
class FixedTeacher:
    """Stands in for the COCO teacher: the same boxes for every picture (the build's merging is under test)."""

    def __init__(self, b: Boxes):
        self.b = b

    def label(self, img: np.ndarray) -> Boxes:
        return self.b


def _tiny_set(root: Path, label_text: str = "1 0.25 0.25 0.1 0.2\n0 0.75 0.75 0.2 0.1\n") -> Path:
    import cv2

    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        cv2.imwrite(str(root / "images" / split / "p1.jpg"), np.zeros((100, 200, 3), np.uint8))
        (root / "labels" / split / "p1.txt").write_text(label_text)
    (root / "data.yaml").write_text("names:\n  0: car\n  1: motobike\n")
    return root


def test_build_maps_classes_merges_and_writes_a_yolo_set(tmp_path):
    src = _tiny_set(tmp_path / "src")
    teacher = FixedTeacher(
        boxes(
            (TW, (40, 15, 60, 35), 0.9),  # on the human motobike (IoU high): dropped
            (BUS, (0, 60, 30, 95), 0.8),
        )
    )  # nowhere near a human box: added
    out = tmp_path / "out"
    summary = ds.build(src, out, teacher=teacher, preview=1, log=lambda *a: None)
    assert summary["splits"]["train"]["human"]["two_wheeler"] == 1
    assert summary["splits"]["train"]["human"]["car"] == 1
    assert summary["splits"]["train"]["teacher_added"] == {**dict.fromkeys(TRAINED_CLASSES, 0), "bus": 1}
    lab = parse_label_file(out / "labels" / "train" / "p1.txt", 200, 100, len(TRAINED_CLASSES))
    assert lab.cls.tolist() == [TW, CAR, BUS]  # source motobike -> two_wheeler, car -> car
    assert (out / "images" / "train" / "p1.jpg").resolve() == (src / "images" / "train" / "p1.jpg").resolve()
    import yaml

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(TRAINED_CLASSES)) and data["val"] == "images/val"
    assert (out / "preview" / "train" / "p1.png").is_file()


def test_build_refuses_a_malformed_label_before_writing(tmp_path, capsys):
    src = _tiny_set(tmp_path / "src", "1 0.25 0.25 0.1 0.2\n1 0.5 0.5 0.1\n")
    out = tmp_path / "out"
    assert ds.main([str(src), str(out), "--teacher", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "p1.txt:2:" in err and "expected 5 fields" in err
    assert not out.exists()


def test_check_counts_and_missing_names(tmp_path, capsys):
    src = _tiny_set(tmp_path / "src")
    assert ds.main([str(src), "--check"]) == 0
    assert "2 pictures, 4 boxes, labels valid" in capsys.readouterr().out
    (src / "data.yaml").write_text("nc: 2\n")
    assert ds.main([str(src), "--check"]) == 2
    assert "field 'names' missing" in capsys.readouterr().err


# -- class mapping of models ------------------------------------------------------------------------------
def test_road_user_classes_of_coco_and_trained_models():
    coco = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck", 9: "traffic light"}
    assert road_user_classes(coco) == {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
    trained = dict(enumerate(TRAINED_CLASSES))
    assert road_user_classes(trained) == {0: "motorcycle", 1: "car", 2: "bus", 3: "truck", 4: "bicycle", 5: "person"}
    assert road_user_classes({0: "cat", 1: "traffic light"}) == {}


def test_every_trained_class_has_a_coco_parent():
    assert set(COCO_PARENT) == set(TRAINED_CLASSES)
    assert set(COCO_PARENT.values()) <= {0, 1, 2, 3, 5, 7}


def test_hours_until():
    now = dt.datetime(2026, 12, 7, 4, 30)
    assert hours_until("05:45", now) == pytest.approx(1.25)
    assert hours_until("04:29", now) == pytest.approx(0.05)  # just passed: the minimum, not tomorrow
    assert hours_until("01:00", now) == pytest.approx(0.05)  # passed today: the minimum
    assert hours_until("05:00", dt.datetime(2026, 12, 7, 23, 30)) == pytest.approx(5.5)  # > 12 h past: tomorrow


# -- unsure road users masked, clip frames, extra sources ---------------------------------------------------


def test_mask_unsure_fills_only_unlabelled_unsure_boxes_and_never_a_label():
    img = np.zeros((100, 200, 3), np.uint8)
    labels = boxes((TW, (10, 10, 40, 60)))
    unsure = np.array(
        [
            [12, 12, 38, 58],  # the labelled rider again: not masked
            [100, 20, 130, 50],  # nobody labelled it: masked
            [35, 40, 70, 80],  # overlaps the label's corner: masked around it, the label's pixels kept
        ],
        np.float32,
    )
    assert ds.mask_unsure(img, unsure, labels, pad=0) == 2
    assert (img[20:50, 100:130] == ds.GREY).all()
    assert (img[10:60, 10:40] == 0).all()  # inside the label: untouched
    assert (img[60:80, 35:70] == ds.GREY).all()
    assert img[:, 150:].max() == 0 and img[90:, :].max() == 0  # nothing else


def test_mask_unsure_with_nothing_unsure_changes_nothing():
    img = np.full((20, 20, 3), 7, np.uint8)
    assert ds.mask_unsure(img, np.zeros((0, 4), np.float32), Boxes.empty()) == 0
    assert (img == 7).all()


class UnsureTeacher(FixedTeacher):
    def __init__(self, b: Boxes, unsure: np.ndarray):
        super().__init__(b)
        self.unsure = unsure

    def label_with_unsure(self, img: np.ndarray) -> tuple[Boxes, np.ndarray]:
        return self.b, self.unsure


def test_build_with_mask_writes_a_masked_copy_and_counts_it(tmp_path):
    import cv2

    src = _tiny_set(tmp_path / "src")
    teacher = UnsureTeacher(Boxes.empty(), np.array([[150, 5, 190, 40]], np.float32))
    out = tmp_path / "out"
    summary = ds.build(src, out, teacher=teacher, mask=True, log=lambda *a: None)
    assert summary["splits"]["train"]["masked_unsure"] == 1
    pic = out / "images" / "train" / "p1.jpg"
    assert not pic.is_symlink()
    img = cv2.imread(str(pic))
    assert abs(int(img[20, 170].mean()) - ds.GREY) <= 3 and int(img[80, 20].max()) <= 3  # JPEG: near enough
    assert (src / "images" / "train" / "p1.jpg").exists() and cv2.imread(
        str(src / "images" / "train" / "p1.jpg")
    ).max() <= 3


def test_extra_source_is_built_beside_and_listed_in_data_yaml(tmp_path):
    import yaml

    src = _tiny_set(tmp_path / "src")
    extra = tmp_path / "clips"
    (extra / "images" / "train").mkdir(parents=True)
    (extra / "labels" / "train").mkdir(parents=True)
    import cv2

    cv2.imwrite(str(extra / "images" / "train" / "f1.jpg"), np.zeros((64, 64, 3), np.uint8))
    (extra / "labels" / "train" / "f1.txt").write_text("")
    (extra / "data.yaml").write_text("names:\n  0: motobike\n  1: car\n")
    out = tmp_path / "out"
    assert ds.main([str(src), str(out), "--teacher", "none", "--extra", str(extra)]) == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["train"] == ["images/train", "extra/clips/images/train"] and data["val"] == "images/val"
    assert (out / "extra" / "clips" / "labels" / "train" / "f1.txt").read_text() == ""


def test_extra_source_with_a_bad_label_stops_before_anything_is_written(tmp_path, capsys):
    src = _tiny_set(tmp_path / "src")
    extra = _tiny_set(tmp_path / "clips", "0 0.5 0.5 0.1\n")
    out = tmp_path / "out"
    assert ds.main([str(src), str(out), "--teacher", "none", "--extra", str(extra)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "p1.txt:1:" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "size, n",
    [((1620, 720), 4), ((596, 308), 3), ((640, 640), 1), ((660, 640), 1), ((720, 1280), 3)],
)
def test_square_crops_cover_the_frame_with_squares_of_the_short_side(size, n):
    from detector.training.frames import square_crops

    w, h = size
    crops = square_crops(w, h)
    assert len(crops) == n
    side = min(w, h)
    for x1, y1, x2, y2 in crops:
        assert x2 - x1 == side and y2 - y1 == side and x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h
    if n > 1:  # the first and last touch the ends, so every column (or row) is covered
        axis = 0 if w >= h else 1
        assert crops[0][axis] == 0 and crops[-1][axis + 2] == max(w, h)


def test_frames_writes_crops_with_empty_labels(tmp_path):
    import av

    from detector.training import frames

    clip = tmp_path / "c.mp4"
    with av.open(str(clip), "w") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 160, 80, "yuv420p"
        for i in range(25):
            f = av.VideoFrame.from_ndarray(np.full((80, 160, 3), i * 8, np.uint8), format="rgb24")
            out.mux(st.encode(f))
        out.mux(st.encode(None))
    assert frames.main([str(clip), "--out", str(tmp_path / "set"), "--every-s", "1.0"]) == 0
    pics = sorted((tmp_path / "set" / "images" / "train").glob("*.jpg"))
    assert len(pics) == 3 * 3  # t = 0, 1, 2 s; 160x80 -> three 80x80 squares
    assert all((tmp_path / "set" / "labels" / "train" / (p.stem + ".txt")).read_text() == "" for p in pics)
    assert ds.check(tmp_path / "set") == {"images": 9, "boxes": 0}


def test_frames_refuses_a_bad_clip_and_a_bad_interval_in_one_line(tmp_path, capsys):
    from detector.training import frames

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert frames.main([str(bad), "--out", str(tmp_path / "o")]) == 2
    assert frames.main([str(bad), "--out", str(tmp_path / "o"), "--every-s", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "bad.mp4" in err[0] and "--every-s" in err[1]


@pytest.mark.parametrize(
    "flag",
    ["--teacher", pytest.param("--also-teacher", marks=pytest.mark.needs_assets)],  # the first teacher must load
)
def test_a_teacher_that_is_not_a_model_is_one_line(tmp_path, capsys, flag):
    src = _tiny_set(tmp_path / "src")
    (tmp_path / "nomodel").mkdir()
    out = tmp_path / "out"
    assert ds.main([str(src), str(out), flag, str(tmp_path / "nomodel")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nomodel" in err and "metadata.yaml" in err
    assert not out.exists()


# -- choosing the checkpoint on the training source's val split ---------------------------------------------


def _s(epoch, r, p, small):
    return {"epoch": epoch, "recall": r, "precision": p, "small_recall": small}


@pytest.mark.parametrize(
    "scores, floor, chosen",
    [
        ([_s(1, 0.5, 0.6, 0.3), _s(2, 0.55, 0.6, 0.35), _s(3, 0.6, 0.6, 0.2)], 0.5, 2),  # recall + small recall
        ([_s(1, 0.5, 0.6, 0.3), _s(2, 0.7, 0.4, 0.5)], 0.5, 1),  # the better one misses the precision floor
        ([_s(1, 0.5, 0.6, 0.3), _s(2, 0.5, 0.6, 0.3)], 0.5, 1),  # a tie: the earlier epoch
        ([_s(1, 0.5, 0.3, 0.3)], 0.5, None),  # none reaches the floor
        ([_s(1, None, None, None), _s(2, 0.1, 0.9, None)], 0.5, 2),  # nothing found / no small boxes
    ],
)
def test_choose_the_checkpoint(scores, floor, chosen):
    from detector.training.select import choose

    best = choose(scores, floor)
    assert (best["epoch"] if best else None) == chosen


def test_select_without_checkpoints_or_val_is_one_line(tmp_path, capsys):
    from detector.training import select

    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "last.pt").write_bytes(b"")
    data = tmp_path / "data.yaml"
    data.write_text("names: [two_wheeler]\nval: images/val\n")
    assert select.main([str(run), str(data)]) == 2
    (run / "weights" / "epoch1.pt").write_bytes(b"")
    assert select.main([str(run), str(data)]) == 2
    data.write_text("names: [two_wheeler]\n")
    assert select.main([str(run), str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert "no epochN.pt" in err[0] and "val pictures or labels missing" in err[1] and "field 'val' missing" in err[2]


def test_val_view_maps_trained_ids_onto_the_quality_names(tmp_path):
    import cv2

    from detector.quality.labels import load_dataset
    from detector.training.select import val_view

    (tmp_path / "set" / "images" / "val").mkdir(parents=True)
    (tmp_path / "set" / "labels" / "val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "set" / "images" / "val" / "a.jpg"), np.zeros((100, 100, 3), np.uint8))
    (tmp_path / "set" / "labels" / "val" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n")
    (tmp_path / "set" / "data.yaml").write_text(
        f"path: {tmp_path / 'set'}\nval: images/val\nnames: [two_wheeler, car]\n"
    )
    (sample,) = load_dataset(val_view(tmp_path / "set" / "data.yaml", tmp_path / "view"))
    assert [lab.cls for lab in sample.labels] == ["motobike", "car"]
