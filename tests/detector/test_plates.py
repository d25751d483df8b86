"""Plate reading: formats, the HyperLPR3 models (SHA-256 checked), RapidOCR offline, the labelled samples."""

from __future__ import annotations

import json
import shutil
import socket

import cv2
import numpy as np
import pytest

from detector import assets
from detector.plates import PlateModelError, PlateReader, load_plate_models, parse_plate, plausible_plate
from detector.plates.reader import rectify

SAMPLES = assets.default_mirror() / "datasets" / "plate_samples"
MODELS = assets.assets_dir() / "models" / "plates"
needs_models = pytest.mark.skipif(not (MODELS / "y5fu_640x_sim.onnx").is_file(), reason="run `make assets`")
needs_samples = pytest.mark.skipif(not (SAMPLES / "labels.json").is_file(), reason="shared plate_samples not present")


@pytest.mark.parametrize(
    "raw,text,region,kind,display",
    [
        ("藏D·T5022", "藏DT5022", "CN", "standard", "藏D·T5022"),
        ("苏ED51712", "苏ED51712", "CN", "new_energy", "苏E·D51712"),
        ("粤B12345D", "粤B12345D", "CN", "new_energy", "粤B·12345D"),
        ("京A1234学", "京A1234学", "CN", "standard", "京A·1234学"),
        ("29-B1 123.45", "29B112345", "VN", "motorbike", "29-B1 123.45"),
        ("30A-123.45", "30A12345", "VN", "car", "30A-123.45"),
        ("51LD-1234", "51LD1234", "VN", "car", "51LD-1234"),
        ("B 1234 XYZ", "B1234XYZ", "ID", "standard", "B 1234 XYZ"),
        ("DD 1234 AB", "DD1234AB", "ID", "standard", "DD 1234 AB"),
    ],
)
def test_formats_accept_real_plates(raw, text, region, kind, display):
    p = parse_plate(raw)
    assert (p.text, p.region, p.kind, p.display, p.fixed) == (text, region, kind, display, False)


def test_lookalike_swap_only_where_the_format_demands_it():
    p = parse_plate("苏E051712")  # the OCR's classic 0-for-D on a green plate
    assert p.text == "苏ED51712" and p.fixed
    assert parse_plate("HELLO") is None  # no swap on the loose Indonesian format
    for junk in ("", "馆", "13-95879", "苏E0517", "京I12345", "ABCDEFGHIJK"):
        assert parse_plate(junk) is None, junk


def test_reviewer_correction_must_be_plausible():
    assert plausible_plate("苏E·D51712")[0].text == "苏ED51712"
    for bad, why in (("", "empty"), ("AB", "2 characters"), ("苏E051712", "fits no known plate format")):
        plate, reason = plausible_plate(bad)
        assert plate is None and why in reason


def test_rectify_flattens_a_skewed_quad():
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:60, 40:160] = 255
    flat = rectify(img, np.float32([[40, 20], [160, 20], [160, 60], [40, 60]]))
    assert flat.shape[:2] == (40, 120) and flat[5:35, 5:115].min() == 255


@pytest.mark.needs_assets
@needs_models
def test_a_changed_model_file_is_refused_with_one_line(tmp_path):
    root = tmp_path / "assets"
    (root / "models" / "plates").mkdir(parents=True)
    for f in MODELS.glob("*.onnx"):
        shutil.copy(f, root / "models" / "plates" / f.name)
    with open(root / "models" / "plates" / "y5fu_320x_sim.onnx", "r+b") as fh:
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(PlateModelError, match=r"y5fu_320x_sim.onnx does not match its SHA-256") as e:
        load_plate_models(root)
    assert "\n" not in str(e.value)
    (root / "models" / "plates" / "litemodel_cls_96x_r1.onnx").unlink()
    shutil.copy(MODELS / "y5fu_320x_sim.onnx", root / "models" / "plates" / "y5fu_320x_sim.onnx")
    with pytest.raises(PlateModelError, match=r"litemodel_cls_96x_r1.onnx is missing: run `make assets`"):
        load_plate_models(root)


@pytest.fixture(scope="module")
def offline_reader():
    """A PlateReader built and used with every socket refused: nothing may download."""
    real = socket.socket

    class _NoNet(real):  # type: ignore[misc,valid-type]
        def connect(self, *a, **k):
            raise OSError("network is off in this test")

        connect_ex = connect

    def _no_dns(*a, **k):
        raise OSError("network is off in this test")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "socket", _NoNet)
    mp.setattr(socket, "create_connection", _no_dns)
    mp.setattr(socket, "getaddrinfo", _no_dns)
    try:
        yield PlateReader()
    finally:
        mp.undo()


@pytest.mark.needs_assets
@needs_models
@needs_samples
def test_plate_samples_read_exactly_or_not_at_all(offline_reader, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    labels = json.loads((SAMPLES / "labels.json").read_text(encoding="utf-8"))["plates"]
    for item in labels:
        img = cv2.imread(str(SAMPLES / item["image"]))
        got = offline_reader.read_track([(img, None)])
        if item["text"] is None:
            assert got.text is None and got.reason, (item["image"], got)
        else:
            assert got.text == item["text"] and got.colour == item["colour"], (item["image"], got)
            assert got.confidence >= offline_reader.min_confidence and got.crop is not None


@pytest.mark.needs_assets
@needs_models
@needs_samples
def test_a_vote_against_disagreeing_pictures_is_not_read(offline_reader):
    img = cv2.imread(str(SAMPLES / "hyperlpr_2.jpg"))
    blank = np.full_like(img, 127)
    alone = offline_reader.read_track([(img, None)])
    assert alone.text == "藏DT5022"
    # one legible picture among pictures where a plate is seen but unreadable: the vote is weaker
    tiny = cv2.resize(img, (img.shape[1] // 8, img.shape[0] // 8))
    mixed = offline_reader.read_track([(img, None), (tiny, None), (tiny, None), (tiny, None)])
    assert mixed.confidence < alone.confidence
    assert offline_reader.read_track([(blank, None)]).text is None


@pytest.mark.needs_assets
@needs_models
def test_process_refuses_to_start_with_a_changed_plate_model(tmp_path, monkeypatch, capsys):
    """`crosswatch process` with a plate model that does not match its SHA-256: one line, exit 1,
    nothing processed or stored."""
    from sqlalchemy import create_engine, inspect, text

    from service.cli import main

    clip = assets.sample_clip("vn_rear_stopline")
    if not clip.is_file():
        pytest.skip("sample clip not fetched (run `make assets`)")
    root = tmp_path / "assets"
    (root / "models" / "plates").mkdir(parents=True)
    for f in MODELS.glob("*.onnx"):
        shutil.copy(f, root / "models" / "plates" / f.name)
    with open(root / "models" / "plates" / "y5fu_640x_sim.onnx", "ab") as fh:
        fh.write(b"\0")
    monkeypatch.setenv("CROSSWATCH_ASSETS_DIR", str(root))
    model = assets.resolve_model(assets.default_model_name("cpu"), assets.REPO_ROOT / "assets")
    db = tmp_path / "cw.db"
    rc = main(
        [
            "process",
            str(clip),
            "--crossing",
            str(assets.sample_crossing("vn_rear_stopline")),
            "--model",
            str(model),
            "--db",
            f"sqlite:///{db}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "y5fu_640x_sim.onnx does not match its SHA-256" in err[0] and "make assets" in err[0]
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        assert (
            "video_runs" not in inspect(c).get_table_names()
            or c.execute(text("SELECT count(*) FROM video_runs")).scalar() == 0
        )
    assert not (tmp_path / "evidence").exists() or not any((tmp_path / "evidence").rglob("*.jpg"))
