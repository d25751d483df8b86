"""GA/T 832 pictures, plate + code on the evidence, and the anti-forgery code: a recorder with a
crossing, the codes table, an evidence key and a plate reader (a stand-in that answers from the
pictures it is given) on the synthetic variable-frame-rate video of test_evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_evidence import make_event, make_video

from detector.codes import DEFAULT_CODES, load_codes
from detector.config import parse_crossing
from detector.evidence import EvidenceRecorder, Fonts, find_cjk_font, find_latin_font, sha256_file
from detector.evidence.composite import event_seal_fields
from detector.evidence.fonts import draw_text
from detector.evidence.scene import since_red_text
from detector.evidence.seal import anti_forgery_code, evidence_seal
from detector.plates import PlateReading
from detector.types import ViolationType

CROSSING = parse_crossing(
    {
        "id": "t",
        "name": "河内 Giảng Võ–Láng Hạ 路口",
        "frame_size": [320, 240],
        "signals": [{"id": "main", "lamps": {"red": [10, 30, 10, 10]}}],
        "stop_lines": [
            {
                "id": "S1",
                "name": "Vạch dừng 停止线",
                "points": [[20, 150], [300, 150]],
                "entering": [0, -1],
                "signal": "main",
            }
        ],
        "lanes": [
            {
                "id": "L1",
                "name": "Làn 1 一号车道",
                "heading": "由南向北 northbound",
                "polygon": [[20, 239], [20, 120], [300, 120], [300, 239]],
                "direction": [0, -1],
            }
        ],
    }
)
KEY = b"test evidence key"


class _Reader:
    """Answers one plate for any pictures, and records what it was given."""

    def __init__(self, reading: PlateReading):
        self.reading, self.calls = reading, []

    def read_track(self, pictures):
        self.calls.append([(img.shape, box) for img, box in pictures])
        return self.reading


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("vid") / "vfr.mp4")


def _recorder(tmp_path, reader) -> EvidenceRecorder:
    return EvidenceRecorder(
        tmp_path / "ev",
        CROSSING.name,
        clip_pre_s=1.0,
        clip_post_s=1.0,
        crossing=CROSSING,
        plate_reader=reader,
        codes=load_codes(DEFAULT_CODES),
        evidence_key=KEY,
    )


def test_plate_code_and_anti_forgery_code_on_the_evidence(video, tmp_path):
    crop = np.full((20, 60, 3), 200, np.uint8)
    reader = _Reader(PlateReading("粤B12345", "粤B·12345", "CN", "standard", "blue", 0.93, "3 of 3", crop))
    rec = _recorder(tmp_path, reader)
    ev = make_event()
    files = rec.record(video, ev, "e1", (10, 30, 20, 50))
    kinds = [f.kind for f in files]
    assert kinds == ["frame_before", "frame_past", "frame_junction", "closeup", "signal", "plate", "composite", "clip"]
    # the reader got the road user's best pictures of the window (up to 3), each with its box
    assert 1 <= len(reader.calls[0]) <= 3 and all(box is not None for _, box in reader.calls[0])
    assert ev.code.code == "1625" and ev.code.full_code == "16250"
    hashes = {f.kind: sha256_file(rec.root / f.relpath) for f in files}
    fields = event_seal_fields(ev)
    assert fields["plate_text"] == "粤B12345" and fields["violation_code"] == "1625"
    assert ev.anti_forgery == anti_forgery_code(KEY, fields, hashes)
    assert ev.evidence_seal == evidence_seal(KEY, fields, hashes, ev.anti_forgery)
    assert ev.anti_forgery != anti_forgery_code(b"another key", fields, hashes)
    # scene pictures: >= 1280x720, 24-bit, upscaled from 320x240 and saying so
    for f in files[:3]:
        with Image.open(rec.root / f.relpath) as im:
            assert im.mode == "RGB" and im.width >= 1280 and im.height >= 720
    text = "\n".join(rec.caption_lines(ev))
    for part in (
        "河内 Giảng Võ–Láng Hạ 路口",
        "由南向北 northbound",
        "Làn 1 一号车道",
        "粤B·12345",
        "1625 (16250)",
        "道路交通安全法",
        ev.anti_forgery,
        "UTC" if rec.start_time else "视频 video t=",
    ):
        assert part in text, part


def test_not_read_and_red_before_the_video(video, tmp_path):
    rec = _recorder(tmp_path, _Reader(PlateReading(None, reason="no plate found")))
    ev = make_event()
    ev.since_red_s = ev.t + 1.0  # red began before the first frame: only a lower bound is known
    files = rec.record(video, ev, "e2", None)
    assert "plate" not in [f.kind for f in files]
    text = "\n".join(rec.caption_lines(ev))
    assert "未识别 not read" in text and f"≥ {ev.since_red_s:.2f} s" in text
    ev.since_red_s = 1.0  # red began inside the video: exact
    assert since_red_text(ev) == "1.00 s"


def test_wrong_way_by_a_bicycle_gets_the_non_motor_code(video, tmp_path):
    rec = _recorder(tmp_path, None)
    ev = make_event(type_=ViolationType.WRONG_WAY)
    ev.class_name = "bicycle"
    rec.record(video, ev, "e3", None)
    assert ev.code.code == "2004" and ev.plate is None and ev.anti_forgery


def test_vietnamese_letters_are_drawn_with_a_font_that_has_them():
    cjk = find_cjk_font()
    latin = find_latin_font(cjk)
    assert latin != cjk, "no Latin font with Vietnamese letters (install fonts-dejavu-core)"
    fonts = Fonts(cjk, latin)
    assert fonts.runs("河内 Giảng") == [(str(cjk), "河内"), (str(latin), " Giảng")]

    def ink(text: str, f: Fonts) -> np.ndarray:
        img = Image.new("L", (200, 40), 0)
        draw_text(ImageDraw.Draw(img), (2, 2), text, f, 24, fill=255)
        return np.asarray(img)

    # the Latin font draws ả and a differently; a font without the glyph draws the same blank box for ả and ạ
    assert not np.array_equal(ink("ả", fonts), ink("ạ", fonts))
    assert not np.array_equal(ink("ả", fonts), ink("a", fonts))
