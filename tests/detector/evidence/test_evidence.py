"""Evidence recorder: files, hashes, atomic re-recording, key-frame timing, the H.264 clip.

Synthetic videos are variable-frame-rate on purpose (5 fps, then 20 fps) and carry their frame
index as a 7-bit bar code in the bottom-right corner, so a test can read back which source frame
ended up in a picture or in the clip.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from detector import evidence as evmod
from detector.evidence import (
    EvidenceBatchError,
    EvidenceError,
    EvidenceFile,
    EvidenceRecorder,
    FontNotFoundError,
    find_cjk_font,
    sha256_file,
    verify,
)
from detector.types import SignalState, ViolationEvent, ViolationType

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
VN_CLIP = SHARED / "sample_videos" / "vn_rear_stopline.mp4"

# 30 frames 200 ms apart, then 80 frames 50 ms apart: t = 0.0 .. 5.8, 6.0 .. 9.95
TIMES = [0.2 * i for i in range(30)] + [6.0 + 0.05 * i for i in range(80)]
BITS = 7
BLOCK = 16


def _frame_image(i: int, t: float, w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 60, np.uint8)
    x = int(20 + 25 * t)  # the "road user" moves right at 25 px/s
    img[100:150, x : x + 30] = (230, 230, 230)
    for b in range(BITS):  # frame index, bit b at the b-th block from the right
        if (i >> b) & 1 and w >= BLOCK * BITS + 4:
            x1 = w - 4 - BLOCK * (b + 1)
            img[h - 4 - BLOCK : h - 4, x1 : x1 + BLOCK] = 255
    return img


def _user_box(t: float) -> tuple[float, float, float, float]:
    x = int(20 + 25 * t)
    return (float(x), 100.0, float(x + 30), 150.0)


def _read_index(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    value = 0
    for b in range(BITS):
        x1 = w - 4 - BLOCK * (b + 1)
        block = img[h - 4 - BLOCK + 3 : h - 4 - 3, x1 + 3 : x1 + BLOCK - 3]
        if block.mean() > 128:
            value |= 1 << b
    return value


def make_video(path: Path, times=TIMES, size=(320, 240), codec="libx264") -> Path:
    w, h = size
    out = av.open(str(path), "w")
    st = out.add_stream(codec, rate=10)
    st.width, st.height, st.pix_fmt = w, h, "yuv420p"
    st.codec_context.time_base = Fraction(1, 1000)
    st.codec_context.gop_size = 20  # several key frames, so seeking matters
    if codec == "libx264":
        st.options = {"preset": "ultrafast", "crf": "12"}
    else:
        st.codec_context.bit_rate = 4_000_000
    for i, t in enumerate(times):
        f = av.VideoFrame.from_ndarray(_frame_image(i, t, w, h), format="rgb24")
        f.pts, f.time_base = round(t * 1000), Fraction(1, 1000)
        for p in st.encode(f):
            out.mux(p)
    for p in st.encode():
        out.mux(p)
    out.close()
    return path


def make_event(t=5.0, key_times=(4.6, 5.0, 5.4), type_=ViolationType.RED_LIGHT, box=None, track_id=4) -> ViolationEvent:
    path = [(ti, _user_box(ti)) for ti in TIMES if key_times[0] - 1 <= ti <= key_times[2] + 1]
    return ViolationEvent(
        type=type_,
        track_id=track_id,
        class_name="motorcycle",
        t=t,
        frame=int(t * 10),
        box=box or _user_box(t),
        lane="L1",
        signal_id="main",
        signal=SignalState.RED,
        signal_source="lamp",
        since_red_s=3.25,
        stop_line="S1",
        key_times=key_times,
        path=path if box is None else [],
    )


def nearest_index(t: float, times=TIMES) -> int:
    return min(range(len(times)), key=lambda i: abs(times[i] - t))


def clip_frames(path: Path) -> tuple[av.video.stream.VideoStream, list[float], list[int]]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        info = (vs.codec_context.name, vs.codec_context.pix_fmt, vs.width, vs.height, dict(c.metadata))
        ts, idx = [], []
        for f in c.decode(vs):
            ts.append(float(f.time))
            idx.append(_read_index(f.to_ndarray(format="rgb24")))
    return info, ts, idx


def clip_start(meta: dict) -> float:
    m = re.search(r"video t=([0-9.]+) s", meta.get("comment", ""))
    assert m, f"clip metadata has no start time: {meta}"
    return float(m.group(1))


def top_level_atoms(path: Path) -> list[str]:
    data, atoms, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        atoms.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return atoms


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("vid") / "vfr.mp4")


@pytest.fixture
def rec(tmp_path) -> EvidenceRecorder:
    """Short clips (1 s either side) keep the tests fast."""
    return EvidenceRecorder(tmp_path / "evidence", "测试路口 Test crossing", clip_pre_s=1.0, clip_post_s=1.0)


@pytest.fixture
def full(tmp_path) -> EvidenceRecorder:
    """The default clip length (3.5 s either side)."""
    return EvidenceRecorder(tmp_path / "evidence", "测试路口 Test crossing")


RED_KINDS = ["frame_before", "frame_past", "frame_junction", "closeup", "signal", "composite", "clip"]
WRONG_KINDS = ["frame_start", "frame_middle", "frame_end", "closeup", "composite", "clip"]


@pytest.mark.parametrize(
    "type_, signal_box, kinds",
    [
        (ViolationType.RED_LIGHT, (10, 30, 20, 50), RED_KINDS),
        (ViolationType.WRONG_WAY, None, WRONG_KINDS),
    ],
)
def test_record_writes_every_file_with_its_hash(video, rec, type_, signal_box, kinds):
    files = rec.record(video, make_event(type_=type_), "2024/ev-1", signal_box)
    assert [f.kind for f in files] == kinds
    for f in files:
        assert isinstance(f, EvidenceFile)
        assert f.relpath.startswith("2024/ev-1/")
        path = rec.root / f.relpath
        assert path.is_file()
        assert f.size == path.stat().st_size > 0
        assert f.sha256 == sha256_file(path)
        if f.kind == "clip":
            assert f.mime == "video/mp4"
        else:
            assert f.mime == "image/jpeg"
            with Image.open(path) as im:
                assert im.format == "JPEG"
                im.load()
    assert verify(rec.root, files) == []
    assert not [p for p in (rec.root / "2024/ev-1").iterdir() if p.name.startswith(".")], "temp files left"


def test_clip_is_browser_playable_h264_with_source_timestamps(video, full):
    rec = full
    event = make_event(t=5.0)
    files = {f.kind: f for f in rec.record(video, event, "ev", None)}
    clip = rec.root / files["clip"].relpath
    (codec, pix_fmt, w, h, meta), ts, idx = clip_frames(clip)
    assert (codec, pix_fmt, w, h) == ("h264", "yuv420p", 320, 240)
    atoms = top_level_atoms(clip)
    assert atoms.index("moov") < atoms.index("mdat"), f"not faststart: {atoms}"
    assert ts[-1] - ts[0] >= 6.0
    t0 = clip_start(meta)
    assert t0 <= event.t - 3.0 and t0 + ts[-1] >= event.t + 3.0
    # each clip frame is the source frame at the same presentation time (VFR kept, no index/fps)
    assert idx == [nearest_index(t0 + t) for t in ts]
    assert min(np.diff(ts)) == pytest.approx(0.05, abs=2e-3) and max(np.diff(ts)) == pytest.approx(0.2, abs=2e-3)


@pytest.mark.parametrize(
    "t, keys, first_index, last_index",
    [
        (0.5, (0.2, 0.5, 1.0), 0, None),  # near the start: clip starts at the first frame
        (9.7, (9.5, 9.7, 9.9), None, len(TIMES) - 1),  # near the end: clip ends at the last frame
    ],
)
def test_clip_is_clamped_to_the_video(video, full, t, keys, first_index, last_index):
    rec = full
    files = {f.kind: f for f in rec.record(video, make_event(t=t, key_times=keys), "edge", None)}
    (codec, _, _, _, meta), ts, idx = clip_frames(rec.root / files["clip"].relpath)
    assert codec == "h264"
    t0 = clip_start(meta)
    if first_index is not None:
        assert idx[0] == first_index and t0 == 0.0
        assert t0 + ts[-1] >= t + 3.0
    if last_index is not None:
        assert idx[-1] == last_index
        assert t0 <= t - 3.0
    assert verify(rec.root, list(files.values())) == []


@pytest.mark.parametrize(
    "type_, keys",
    [
        (ViolationType.RED_LIGHT, (3.05, 5.0, 7.02)),  # 3.05 -> frame 15 (t=3.0); index/fps would say frame ~33
        (ViolationType.WRONG_WAY, (2.13, 6.11, 9.93)),
    ],
)
def test_key_frames_are_nearest_by_presentation_time(video, rec, type_, keys):
    files = rec.record(video, make_event(t=keys[1], key_times=keys, type_=type_), "keys", None)
    frames = [f for f in files if f.kind.startswith("frame_")]
    assert len(frames) == 3
    for f, k in zip(frames, keys):
        with Image.open(rec.root / f.relpath) as im:
            # scene pictures are upscaled to >= 1280x720: read the bar code at the source size again
            got = _read_index(np.asarray(im.convert("RGB").resize((320, 240), Image.Resampling.BOX)))
        assert got == nearest_index(k), f"{f.kind}: key time {k} gave frame {got}"


def test_rerecording_keeps_names_and_replaces_atomically(video, rec):
    event = make_event()
    first = rec.record(video, event, "again", (10, 30, 20, 50))
    second = rec.record(video, event, "again", (10, 30, 20, 50))
    assert [(f.kind, f.relpath) for f in first] == [(f.kind, f.relpath) for f in second]
    assert {f.kind: f.sha256 for f in first if f.mime == "image/jpeg"} == {
        f.kind: f.sha256 for f in second if f.mime == "image/jpeg"
    }
    assert verify(rec.root, second) == []
    assert sorted(p.name for p in (rec.root / "again").iterdir()) == sorted(Path(f.relpath).name for f in second)


def test_composite_carries_the_road_users_box_in_each_scene_picture(video, rec):
    """The composite's JPEG comment holds the box drawn in each of its three scene pictures (three
    moments, the road user moving 50 px between them): each lies on the white block of its cell."""
    files = {f.kind: f for f in rec.record(video, make_event(key_times=(3.0, 5.0, 7.0)), "2024/ev-b", None)}
    data = (rec.root / files["composite"].relpath).read_bytes()
    boxes = evmod.read_scene_boxes(data)
    assert boxes is not None and [b.t for b in boxes] == pytest.approx([3.0, 5.0, 7.0])
    pixels = np.asarray(Image.open(rec.root / files["composite"].relpath).convert("L")).astype(float)
    offsets = []
    for b in boxes:
        x, y, w, h = b.cell
        assert x <= b.box[0] < b.box[2] <= x + w and y <= b.box[1] < b.box[3] <= y + h
        x1, y1, x2, y2 = b.box
        dx, dy = (x2 - x1) * 0.2, (y2 - y1) * 0.2
        inner = pixels[round(y1 + dy) : round(y2 - dy), round(x1 + dx) : round(x2 - dx)]
        assert inner.mean() > 200, inner.mean()  # the road user's block, not the grey road
        offsets.append((x1 - x) / w)
    assert offsets[0] < offsets[1] < offsets[2]  # it moved: three different places
    assert offsets[1] - offsets[0] == pytest.approx(50 / 320, abs=0.01)
    assert verify(rec.root, list(files.values())) == []
    assert evmod.read_scene_boxes((rec.root / files["frame_before"].relpath).read_bytes()) is None


@pytest.mark.parametrize(
    "damage, expected", [("flip", "hash mismatch"), ("truncate", "size changed"), ("delete", "missing")]
)
def test_verify_reports_a_tampered_file(video, rec, damage, expected):
    files = rec.record(video, make_event(), "tamper", None)
    target = next(f for f in files if f.kind == "composite")
    path = rec.root / target.relpath
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:-10]))
    else:
        path.unlink()
    problems = verify(rec.root, files)
    assert len(problems) == 1
    assert problems[0].startswith(expected) and target.relpath in problems[0]


@pytest.mark.parametrize(
    "content", [None, b"", b"this is not a video" * 100, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64]
)
def test_unreadable_video_raises_a_clear_error(tmp_path, rec, content):
    bad = tmp_path / "bad.mp4"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(EvidenceError, match="cannot re-read video"):
        rec.record(bad, make_event(), "bad", None)
    assert not (rec.root / "bad").exists() or not any((rec.root / "bad").iterdir())


def test_event_after_the_end_of_the_video_raises(video, rec):
    with pytest.raises(EvidenceError, match="no decoded frames"):
        rec.record(video, make_event(t=60.0, key_times=(59.0, 60.0, 61.0)), "late", None)
    assert not (rec.root / "late").exists() or not any((rec.root / "late").iterdir())


def test_record_many_decodes_close_events_once(video, tmp_path, monkeypatch):
    rec = EvidenceRecorder(tmp_path / "ev", "x", clip_pre_s=1.0, clip_post_s=1.0)
    calls = []
    original = evmod._Source.frames

    def counting(self, t0, t1):
        calls.append((t0, t1))
        return original(self, t0, t1)

    monkeypatch.setattr(evmod._Source, "frames", counting)
    a = make_event(t=2.0, key_times=(1.5, 2.0, 2.5), track_id=1)
    b = make_event(t=2.6, key_times=(2.2, 2.6, 3.1), track_id=2)
    c = make_event(t=8.0, key_times=(7.5, 8.0, 8.5), track_id=3)
    out = rec.record_many(video, [(c, "c", None), (a, "a", None), (b, "b", None)])
    assert list(out) == [c.key, a.key, b.key]
    assert len(calls) == 2, calls  # a+b share one decode, c gets its own
    # the shared decode gives the same pictures as recording each event alone
    alone = EvidenceRecorder(tmp_path / "alone", "x", clip_pre_s=1.0, clip_post_s=1.0)
    for ev, d in ((a, "a"), (b, "b"), (c, "c")):
        single = alone.record(video, ev, d, None)
        assert [(f.kind, f.sha256) for f in single if f.mime == "image/jpeg"] == [
            (f.kind, f.sha256) for f in out[ev.key] if f.mime == "image/jpeg"
        ]
        assert verify(rec.root, out[ev.key]) == []


def test_record_many_keeps_the_good_events_when_one_fails(video, rec):
    good = make_event(t=5.0, track_id=1)
    late = make_event(t=60.0, key_times=(59.0, 60.0, 61.0), track_id=2)
    with pytest.raises(EvidenceBatchError) as info:
        rec.record_many(video, [(late, "late", None), (good, "good", None)])
    assert set(info.value.results) == {good.key}
    assert set(info.value.failures) == {late.key} and "no decoded frames" in info.value.failures[late.key]
    assert verify(rec.root, info.value.results[good.key]) == []


def test_record_many_refuses_two_events_in_one_folder(video, rec):
    with pytest.raises(ValueError, match="same folder"):
        rec.record_many(video, [(make_event(track_id=1), "x", None), (make_event(track_id=2), "./x", None)])


@pytest.mark.parametrize(
    "box",
    [
        (-40.0, 180.0, 30.0, 260.0),  # partly outside (left and bottom)
        (400.0, 300.0, 450.0, 350.0),  # entirely outside the 320x240 picture
    ],
)
def test_boxes_outside_the_picture_still_give_a_closeup(video, rec, box):
    files = {f.kind: f for f in rec.record(video, make_event(box=box), "edge-box", None)}
    with Image.open(rec.root / files["closeup"].relpath) as im:
        assert im.height >= 240


@pytest.mark.parametrize("signal_box, expect_file", [((10, 30, 20, 50), True), ((500, 500, 520, 540), False)])
def test_signal_crop_is_enlarged_or_skipped(video, rec, signal_box, expect_file):
    files = {f.kind: f for f in rec.record(video, make_event(), "sig", signal_box)}
    assert ("signal" in files) == expect_file
    if expect_file:
        with Image.open(rec.root / files["signal"].relpath) as im:
            assert im.height >= 160


@pytest.mark.parametrize(
    "size, codec, clip_size",
    [
        ((2400, 200), "libx264", (1920, 160)),  # wider than 1920: downscaled
        ((321, 241), "mpeg4", (320, 240)),  # odd sizes (MPEG-4 source): made even
    ],
)
def test_clip_size_is_even_and_at_most_1920_wide(tmp_path, full, size, codec, clip_size):
    rec = full
    times = [0.1 * i for i in range(25)]
    src = make_video(tmp_path / f"src_{codec}.mp4", times=times, size=size, codec=codec)
    files = {f.kind: f for f in rec.record(src, make_event(t=1.2, key_times=(1.0, 1.2, 1.4)), "size", None)}
    (codec_out, pix_fmt, w, h, _), ts, _ = clip_frames(rec.root / files["clip"].relpath)
    assert (codec_out, pix_fmt, (w, h)) == ("h264", "yuv420p", clip_size)
    assert len(ts) == len(times)
    with Image.open(rec.root / files["frame_past"].relpath) as im:
        # scene pictures: the source resolution, upscaled to >= 1280x720 (GA/T 832) unless 4096 wide first
        assert im.mode == "RGB" and im.width >= size[0] and im.height >= size[1]
        assert (im.width >= 1280 and im.height >= 720) or im.width == 4096


@pytest.mark.parametrize(
    "start, t, expected",
    [
        (None, 12.345, "视频 video t=12.345 s"),
        (datetime(2024, 5, 1, 8, 0, 0), 1.9336, "2024-05-01 08:00:01.934"),
        (datetime(2024, 12, 31, 23, 59, 59, 999000), 0.0006, "2025-01-01 00:00:00.000"),
        (datetime(2024, 5, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=8))), 61.5, "2024-05-01 08:01:01.500 UTC+08:00"),
    ],
)
def test_time_captions(tmp_path, start, t, expected):
    rec = EvidenceRecorder(tmp_path, "x", start_time=start)
    assert rec.format_time(t) == expected


def test_caption_is_chinese_first_with_english(tmp_path):
    rec = EvidenceRecorder(tmp_path, "解放路/人民路 Jiefang Rd")
    text = "\n".join(rec.caption_lines(make_event()))
    for part in ("解放路/人民路 Jiefang Rd", "闯红灯 red-light", "红灯 RED", "3.25 s", "#4", "摩托车 motorcycle"):
        assert part in text
    ww = "\n".join(rec.caption_lines(make_event(type_=ViolationType.WRONG_WAY)))
    assert "逆行 wrong-way" in ww


def test_font_lookup_errors_are_clear(monkeypatch, tmp_path):
    assert find_cjk_font().is_file()
    monkeypatch.setenv("CROSSWATCH_CJK_FONT", str(tmp_path / "nope.ttf"))
    with pytest.raises(FontNotFoundError, match="fonts-wqy-zenhei"):
        find_cjk_font()
    monkeypatch.delenv("CROSSWATCH_CJK_FONT")
    monkeypatch.setattr(evmod.fonts.shutil, "which", lambda name: None)
    monkeypatch.setattr(evmod.fonts, "_KNOWN_FONTS", ())
    with pytest.raises(FontNotFoundError, match="fonts-wqy-zenhei"):
        EvidenceRecorder(tmp_path, "x")


@pytest.mark.parametrize("rel_dir", ["", "/abs/path", "../outside", "a/../../b"])
def test_event_folder_must_stay_inside_the_root(video, rec, rel_dir):
    with pytest.raises(ValueError):
        rec.record(video, make_event(), rel_dir, None)


@pytest.mark.needs_assets
@pytest.mark.skipif(not VN_CLIP.is_file(), reason=f"real clip not available at {VN_CLIP} (shared assets absent)")
def test_real_clip_red_light_motorcycle(tmp_path):
    t = 1.933  # motorbike c2_P1 crosses on red (vn_rear_stopline.truth.json)
    event = ViolationEvent(
        type=ViolationType.RED_LIGHT,
        track_id=1,
        class_name="motorcycle",
        t=t,
        frame=58,
        box=(882, 285, 951, 381),
        lane=None,
        signal_id="main",
        signal=SignalState.RED,
        signal_source="lamp",
        since_red_s=1.9,
        key_times=(1.5, t, 3.0),
        path=[(t, (882, 285, 951, 381))],
    )
    rec = EvidenceRecorder(tmp_path, "vn rear stop line", start_time=datetime(2024, 5, 1, 15, 21))
    started = time.perf_counter()
    files = {f.kind: f for f in rec.record(VN_CLIP, event, "vn/c2_P1", (1540, 15, 1585, 105))}
    elapsed = time.perf_counter() - started
    print(f"recorded one event on the real clip in {elapsed:.2f} s")
    assert set(files) == set(RED_KINDS)
    (codec, pix_fmt, w, h, meta), ts, _ = clip_frames(rec.root / files["clip"].relpath)
    assert (codec, pix_fmt, w, h) == ("h264", "yuv420p", 1620, 720)
    t0 = clip_start(meta)
    assert t0 <= max(0.0, t - 3.0) and t0 + ts[-1] >= t + 3.0
    with Image.open(rec.root / files["composite"].relpath) as im:
        assert im.format == "JPEG" and im.width >= 1620
        im.verify()
    assert verify(rec.root, list(files.values())) == []


@pytest.mark.parametrize(
    "size, box",
    [((1620, 720), (300.4, 200.7, 420.2, 330.9)), ((640, 480), (0, 0, 60, 50)), ((596, 308), (550, 250, 700, 400))],
    ids=["vn", "corner", "off-frame"],
)
def test_box_drawn_on_yuv_planes_matches_the_rgb_drawing(size, box):
    """The clip's box is drawn straight on the yuv420p planes; it must look like the RGB drawing:
    red on the edges, the picture inside and outside untouched."""
    from detector.evidence import BOX_COLOUR, _draw_box, boxed_yuv420

    w, h = size
    rgb = np.full((h, w, 3), 128, np.uint8)
    src = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    out = boxed_yuv420(src, box)
    assert out is not None and (out.width, out.height, out.format.name) == (w, h, "yuv420p")
    ours = out.to_ndarray(format="rgb24").astype(int)
    ref_img = src.to_image()
    _draw_box(ref_img, box)
    ref = np.asarray(ref_img).astype(int)
    red_ref = np.abs(ref - np.array(BOX_COLOUR)).sum(2) < 60
    red_ours = np.abs(ours - np.array(BOX_COLOUR)).sum(2) < 90
    assert red_ours.sum() > 0.6 * red_ref.sum()
    # every red pixel of ours lies within 2 px of the reference drawing
    ys, xs = np.nonzero(red_ours)
    near = np.zeros_like(red_ref)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(np.roll(red_ref, dy, 0), dx, 1)
    assert near[ys, xs].all()
    # away from the box the picture is unchanged
    far = ~near
    assert np.abs(ours[far] - np.asarray(src.to_image()).astype(int)[far]).max() <= 2


def _boxed_packed(frame: av.VideoFrame, box) -> np.ndarray:
    """The box drawn the way it once was: on the packed (h * 3 / 2, w) array of the frame's planes."""
    from detector.evidence import BOX_COLOUR
    from detector.evidence.drawing import _yuv

    w, h = frame.width, frame.height
    arr = frame.to_ndarray()
    planes = (arr[:h], arr[h : h + h // 4].reshape(h // 2, w // 2), arr[h + h // 4 :].reshape(h // 2, w // 2))
    x1, y1, x2, y2 = (
        int(max(box[0], 0)) & ~1,
        int(max(box[1], 0)) & ~1,
        int(min(box[2], w - 1)),
        int(min(box[3], h - 1)),
    )
    t = max(2, round(min(w, h) / 240))
    t += t % 2
    for plane, value, s in zip(planes, _yuv(BOX_COLOUR), (1, 2, 2)):
        a, b, c, d, k = x1 // s, y1 // s, max(x1 // s + 1, x2 // s), max(y1 // s + 1, y2 // s), max(1, t // s)
        plane[b : b + k, a : c + 1] = value
        plane[max(b, d - k + 1) : d + 1, a : c + 1] = value
        plane[b : d + 1, a : a + k] = value
        plane[b : d + 1, max(a, c - k + 1) : c + 1] = value
    return arr


@pytest.mark.parametrize("size", [(1620, 720), (640, 480), (596, 308)], ids=["vn-padded-lines", "vga", "odd-chroma"])
def test_box_on_yuv_planes_is_the_packed_drawing_and_leaves_the_source_alone(size):
    """The box is drawn on a copy made plane to plane (a 1620-wide frame pads each line to 1632
    bytes): sample for sample the drawing on the packed array, and the source frame untouched."""
    from detector.evidence import boxed_yuv420

    w, h = size
    rng = np.random.default_rng(7)
    src = av.VideoFrame.from_ndarray(rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8), format="yuv420p")
    before = src.to_ndarray().copy()
    box = (w * 0.2 + 0.4, h * 0.3 + 0.7, w * 0.45 + 0.2, h * 0.6 + 0.9)
    out = boxed_yuv420(src, box)
    assert out is not None
    assert np.array_equal(out.to_ndarray(), _boxed_packed(src, box))
    assert not np.array_equal(out.to_ndarray(), before)  # a box was drawn
    assert np.array_equal(src.to_ndarray(), before)
    if w == 1620:
        assert src.planes[0].line_size > w  # the padded case a flat buffer copy would shear


def test_box_on_yuv_planes_declines_odd_layouts():
    from detector.evidence import boxed_yuv420

    odd = av.VideoFrame.from_ndarray(np.zeros((306, 596, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    assert boxed_yuv420(odd, (10, 10, 50, 50)) is None  # 306 rows: chroma rows do not pack into whole Y rows
    rgb = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="rgb24")
    assert boxed_yuv420(rgb, (10, 10, 50, 50)) is None


def test_wide_video_clip_is_boxed_at_clip_size_without_full_size_rgb(tmp_path, monkeypatch):
    """A video wider than the clip (here 2560 -> 1920) is scaled to the clip's size as yuv420p and the
    road user's box is drawn there, in the clip's pixels: the full-size RGB picture is made only for
    the key pictures, not for every clip frame near the road user's path (that round trip cost a
    3240x1440 video several times the clip's encoding)."""
    from detector.evidence import BOX_COLOUR
    from detector.evidence.frames import _FrameCache

    times = [0.1 * i for i in range(40)]
    src = make_video(tmp_path / "wide.mp4", times=times, size=(2560, 480))
    conversions = []
    original = _FrameCache.image

    def counting(self):
        conversions.append(self.frame.pts)
        return original(self)

    monkeypatch.setattr(_FrameCache, "image", counting)
    rec = EvidenceRecorder(tmp_path / "ev", "x", clip_pre_s=1.0, clip_post_s=1.0)
    ev = make_event(t=2.0, key_times=(1.6, 2.0, 2.4))
    ev.path = [(t, _user_box(t)) for t in times]
    files = {f.kind: f for f in rec.record(src, ev, "wide", None)}
    # key pictures (3) and the event's own frame: nothing per clip frame (the clip has ~20 boxed frames)
    assert len(set(conversions)) <= 4, conversions
    s = 1920 / 2560
    with av.open(str(rec.root / files["clip"].relpath)) as c:
        t0 = clip_start(dict(c.metadata))
        frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
    boxed = 0
    for t, img in frames:
        assert img.shape[:2] == (360, 1920)
        x1, y1, x2, y2 = (v * s for v in _user_box(t0 + t))
        top = img[round(y1), round(x1) + 3 : round(x2) - 3].astype(int)  # the box's top edge, in clip pixels
        red = (np.abs(top - np.array(BOX_COLOUR)).sum(1) < 90).mean()
        if abs(t0 + t - 2.0) <= 1.0:  # near the path: boxed in the right place
            assert red > 0.8, (t0 + t, red)
            boxed += 1
        above = img[max(0, round(y1) - 12), round(x1) : round(x2)].astype(int)
        assert (np.abs(above - np.array(BOX_COLOUR)).sum(1) < 90).mean() < 0.2  # nothing drawn outside it
    assert boxed >= 15
