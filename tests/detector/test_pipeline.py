"""pipeline.Pipeline end to end on tiny synthetic videos with a scripted detector, and video.VideoError.

The synthetic clip (320 x 240, 10 fps, 4 s) paints a signal head at a fixed place (red lamp lit for
t < 2 s, then the green one) and writes its own frame index as a 7-bit bar code along the bottom
edge; the scripted detector reads the bar code back to know which boxes to return. The crossing
file is drawn at 640 x 480, so the pipeline must scale it to the video.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

av = pytest.importorskip("av")

from detector.config import PlanStep, SignalPlan, parse_crossing  # noqa: E402
from detector.pipeline import Pipeline, PipelineSettings  # noqa: E402
from detector.rules.counting import CountRow  # noqa: E402
from detector.types import Detections, SignalState, ViolationType  # noqa: E402
from detector.video import VideoError, is_duplicate, probe, read_frames  # noqa: E402

W, H, FPS = 320, 240, 10
BITS, BLOCK = 7, 16
CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"

RED_LAMP, GREEN_LAMP = (280, 10, 24, 24), (280, 44, 24, 24)  # video pixels
LIT_RED, LIT_GREEN, DARK = (40, 40, 250), (120, 250, 40), (60, 60, 60)


def paint(index: int, t: float) -> np.ndarray:
    img = np.full((H, W, 3), 40 + 2 * index, np.uint8)  # every picture differs from the last
    for (x, y, bw, bh), lit in ((RED_LAMP, t < 2.0), (GREEN_LAMP, t >= 2.0)):
        colour = (LIT_RED if lit else DARK) if (x, y) == RED_LAMP[:2] else (LIT_GREEN if lit else DARK)
        img[y : y + bh, x : x + bw] = colour
    for b in range(BITS):
        x1 = 4 + BLOCK * b
        img[H - 4 - BLOCK : H - 4, x1 : x1 + BLOCK] = 255 if (index >> b) & 1 else 0
    return img


def read_code(img: np.ndarray) -> int:
    k = 0
    for b in range(BITS):
        x1 = 4 + BLOCK * b
        if img[H - 4 - BLOCK + 4 : H - 8, x1 + 4 : x1 + BLOCK - 4].mean() > 128:
            k |= 1 << b
    return k


def make_video(
    path: Path, n: int, painter, *, codec: str = CODEC, size=(W, H), fps: int = FPS, faststart: bool = False
) -> Path:
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = size
        s.pix_fmt = "yuv420p"
        s.codec_context.options = {"qscale": "2"} if codec == "mpeg4" else {"crf": "12"}
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(painter(i), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# -- the crossing (drawn at 640 x 480: twice the video) ------------------------------------------
CROSSING = parse_crossing(
    {
        "id": "synthetic",
        "name": "synthetic",
        "frame_size": [640, 480],
        "signals": [{"id": "main", "lamps": {"red": [2 * v for v in RED_LAMP], "green": [2 * v for v in GREEN_LAMP]}}],
        "stop_lines": [{"id": "stop-1", "points": [[0, 240], [560, 240]], "entering": [0, -1], "signal": "main"}],
        "lanes": [{"id": "through", "polygon": [[40, 100], [520, 100], [520, 460], [40, 460]], "direction": [0, -1]}],
    }
)
LINE_Y = 120  # in video pixels


def clip(b):
    return (max(0.0, b[0]), max(0.0, b[1]), min(float(W), b[2]), min(float(H), b[3]))


def road_users(t: float) -> list[tuple[str, float, tuple]]:
    """A: a rider on a motorbike, crossing the line at t = 0.85 (red); B: a motorbike crossing at 3.25 (green)."""
    out = []
    if t <= 1.6 + 1e-9:
        y = 205 - 100 * t
        out.append(("motorcycle", 0.8, clip((90, y - 40, 110, y))))
        out.append(("person", 0.85, clip((92, y - 60, 108, y - 10))))  # the rider: merged into the bike
    if 2.4 - 1e-9 <= t:
        y = 205 - 100 * (t - 2.4)
        out.append(("motorcycle", 0.9, clip((190, y - 40, 210, y))))
    return out


class ScriptedDetector:
    def __init__(self, script=road_users, index_to_t=lambda k: k / FPS):
        self.script = script
        self.index_to_t = index_to_t
        self.seen: list[int] = []

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            k = read_code(img)
            self.seen.append(k)
            rows = self.script(self.index_to_t(k))
            if not rows:
                out.append(Detections.empty())
                continue
            out.append(
                Detections(
                    np.array([r[2] for r in rows], np.float32),
                    np.array([r[1] for r in rows], np.float32),
                    np.array([r[0] for r in rows], object),
                )
            )
        return out


class NullDetector:
    def detect(self, images):
        return [Detections.empty() for _ in images]


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("pipeline") / "lamp.mp4", 40, lambda i: paint(i, i / FPS))


def test_synthetic_clip_decodes_as_painted(clip_path):
    frames = list(read_frames(clip_path))
    assert len(frames) == 40
    assert [f.t for f in frames] == pytest.approx([i / FPS for i in range(40)])
    assert [read_code(f.image) for f in frames] == list(range(40))
    info = probe(clip_path)
    assert (info.width, info.height, info.nominal_fps) == (W, H, 10.0)
    assert info.duration_s == pytest.approx(4.0, abs=0.11)


def test_pipeline_finds_the_red_light_runner_and_counts_both(clip_path):
    det = ScriptedDetector()
    progress = []
    res = Pipeline(CROSSING, det).run(clip_path, progress=lambda t, d: progress.append((t, d)))
    assert res.frames == 40 and res.processed == 40
    assert det.seen == list(range(40))
    assert res.crossing.frame_size == (W, H)
    assert res.crossing.stop_lines[0].points == ((0, LINE_Y), (280, LINE_Y))
    assert res.duration_s == pytest.approx(4.0, abs=0.11)
    assert len(progress) == 40 and progress[-1][0] == pytest.approx(3.9)

    (e,) = res.events
    assert e.type is ViolationType.RED_LIGHT
    assert e.class_name == "motorcycle"  # the rider was merged into the bike
    assert e.t == pytest.approx(0.85, abs=1e-3)
    assert e.frame in (8, 9)
    assert e.signal is SignalState.RED and e.signal_source == "lamp"
    assert e.since_red_s == pytest.approx(0.85, abs=1e-3)  # red from the first frame on
    assert (e.lane, e.stop_line, e.signal_id) == ("through", "stop-1", "main")
    assert e.box[1] == pytest.approx(LINE_Y - 60, abs=0.6)  # union box of bike and rider, 60 px tall
    assert e.key_times[0] < e.t < e.key_times[1] <= e.key_times[2]

    assert sorted(c.t for c in res.crossings) == pytest.approx([0.85, 3.25], abs=1e-3)
    assert len({c.track_id for c in res.crossings}) == 2
    assert res.counts == [CountRow("stop-1", "motorcycle", 0, 2)]


def test_pipeline_detect_fps_halves_the_detected_frames(clip_path):
    det = ScriptedDetector()
    res = Pipeline(CROSSING, det, PipelineSettings(detect_fps=5.0)).run(clip_path)
    assert res.frames == 40
    assert res.processed == 20
    assert det.seen == list(range(0, 40, 2))
    assert len(res.events) == 1 and len(res.crossings) == 2  # still found at 5 fps
    assert res.events[0].t == pytest.approx(0.85, abs=1e-3)


@pytest.mark.parametrize("batch", [1, 3, 7], ids=["one-by-one", "three", "seven"])
def test_pipeline_batching_changes_nothing(clip_path, batch):
    """Frames detected several per call are still tracked and judged one by one, in time order."""
    base = Pipeline(CROSSING, ScriptedDetector(), PipelineSettings(batch=1)).run(clip_path)
    det = ScriptedDetector()
    res = Pipeline(CROSSING, det, PipelineSettings(batch=batch)).run(clip_path)
    assert det.seen == list(range(40)) and res.processed == 40
    assert [(e.t, e.track_id, e.box) for e in res.events] == [(e.t, e.track_id, e.box) for e in base.events]
    assert res.counts == base.counts and len(res.events) == 1


def test_pipeline_detect_fps_zero_means_every_frame(clip_path):
    res = Pipeline(CROSSING, ScriptedDetector(), PipelineSettings(detect_fps=0)).run(clip_path)
    assert res.processed == 40


@pytest.mark.parametrize(
    "steps, n_events",
    [([(0, "GREEN")], 0), ([(0, "RED")], 2), ([(0, "GREEN"), (3.0, "RED")], 0)],
    ids=["plan-green", "plan-red", "red-too-late-for-grace"],
)
def test_pipeline_with_a_signal_plan_ignores_the_lamps(clip_path, steps, n_events):
    plan = SignalPlan(signals={"main": [PlanStep(t=t, state=s) for t, s in steps]})
    res = Pipeline(CROSSING, ScriptedDetector(), plan=plan).run(clip_path)
    assert len(res.events) == n_events
    assert all(e.signal_source == "plan" for e in res.events)
    assert len(res.crossings) == 2


def test_pipeline_skips_duplicate_frames(tmp_path):
    """Every picture shown twice (frame-rate conversion): only the first of each pair is detected."""
    path = make_video(tmp_path / "dup.mp4", 40, lambda i: paint(i // 2, (i // 2) / 5))
    frames = list(read_frames(path))
    assert all(is_duplicate(frames[2 * k + 1].image, frames[2 * k].image) for k in range(20))
    assert not any(is_duplicate(frames[2 * k + 2].image, frames[2 * k + 1].image) for k in range(19))

    det = ScriptedDetector(index_to_t=lambda k: k / 5)
    res = Pipeline(CROSSING, det, PipelineSettings(detect_fps=0, skip_duplicates=True)).run(path)
    assert (res.frames, res.processed) == (40, 20)
    assert det.seen == list(range(20))
    assert len(res.events) == 1 and len(res.crossings) == 2

    res = Pipeline(
        CROSSING, ScriptedDetector(index_to_t=lambda k: k / 5), PipelineSettings(detect_fps=0, skip_duplicates=False)
    ).run(path)
    assert res.processed == 40


def test_settings_fingerprint_tracks_result_relevant_settings():
    a = PipelineSettings()
    assert a.fingerprint() == PipelineSettings().fingerprint()
    assert a.fingerprint() != PipelineSettings(detect_fps=5.0).fingerprint()
    assert a.fingerprint() != PipelineSettings(conf=0.2).fingerprint()


# -- video errors --------------------------------------------------------------------------------
def _zero_bytes(tmp: Path) -> Path:
    p = tmp / "empty.mp4"
    p.write_bytes(b"")
    return p


def _text(tmp: Path) -> Path:
    p = tmp / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    return p


def _folder(tmp: Path) -> Path:
    p = tmp / "clips.mp4"
    p.mkdir()
    return p


def _missing(tmp: Path) -> Path:
    return tmp / "nope.mp4"


def _header_only(tmp: Path) -> Path:
    p = tmp / "header.mp4"
    p.write_bytes(b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41" + b"\x00" * 64)
    return p


@pytest.mark.parametrize(
    "make, fragment",
    [
        (_zero_bytes, "empty file"),
        (_text, "not a readable video"),
        (_folder, "folder"),
        (_missing, "no such file"),
        (_header_only, "not a readable video"),
    ],
    ids=["zero-bytes", "text-renamed", "folder", "missing", "header-only"],
)
def test_unusable_files_raise_video_error(tmp_path, make, fragment):
    path = make(tmp_path)
    for call in (
        lambda: probe(path),
        lambda: list(read_frames(path)),
        lambda: Pipeline(CROSSING, ScriptedDetector()).run(path),
    ):
        with pytest.raises(VideoError) as ei:
            call()
        msg = str(ei.value)
        assert str(path) in msg and fragment in msg
        assert "\n" not in msg  # one line for a person


@pytest.fixture(scope="module")
def truncated(tmp_path_factory) -> Path:
    """An 8 s clip with its index (moov) at the front, cut in half: it opens, then ends early."""
    d = tmp_path_factory.mktemp("trunc")
    rng = np.random.default_rng(0)
    full = make_video(
        d / "full.mp4",
        80,
        lambda i: rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
        codec="mpeg4",
        size=(160, 120),
        faststart=True,
    )
    data = full.read_bytes()
    assert data[4:8] == b"ftyp" and data.find(b"moov") < data.find(b"mdat")  # faststart took effect
    cut = d / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_truncated_file_opens_but_reading_fails(truncated):
    info = probe(truncated)  # the header is intact
    assert info.duration_s == pytest.approx(8.0, abs=0.11)
    with pytest.raises(VideoError) as ei:
        for _ in read_frames(truncated):
            pass
    assert str(truncated) in str(ei.value)
    assert "truncated" in str(ei.value) or "decoding failed" in str(ei.value)


def test_truncated_file_fails_the_pipeline(truncated):
    with pytest.raises(VideoError):
        Pipeline(CROSSING, NullDetector()).run(truncated)


def test_audio_only_file_has_no_video_stream(tmp_path):
    if "aac" not in av.codecs_available:
        pytest.skip("no aac encoder in this PyAV build")
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=8000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for i in range(8):
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(VideoError, match="no video stream"):
        probe(path)


# -- duplicate detection on a quiet scene --------------------------------------------------------
@pytest.mark.parametrize(
    "a_change, dup",
    [("same", True), ("noise", True), ("brightness", False), ("size", False)],
    ids=["identical", "codec-noise", "global-change", "other-size"],
)
def test_is_duplicate_basics(a_change, dup):
    rng = np.random.default_rng(1)
    a = rng.integers(30, 220, (240, 320, 3), dtype=np.uint8)
    b = {
        "same": a.copy(),
        "noise": (a.astype(np.int16) + rng.choice([-1, 0, 0, 0, 0, 1], a.shape)).clip(0, 255).astype(np.uint8),
        "brightness": (a.astype(np.int16) + 6).clip(0, 255).astype(np.uint8),
        "size": a[:200],
    }[a_change]
    assert is_duplicate(a, b) is dup


QUIET_W, QUIET_H = 1620, 720


def _quiet_scene(y: float) -> np.ndarray:
    """A static grey junction and one small, bright road user (16 x 32) with its bottom at y."""
    img = np.full((QUIET_H, QUIET_W, 3), 90, np.uint8)
    img[int(y) - 32 : int(y), 400:416] = 200
    return img


def test_is_duplicate_sees_a_small_road_user_move():
    a, b = _quiet_scene(400), _quiet_scene(340)  # moved 60 px: nowhere near the same picture
    assert np.abs(a.astype(int) - b.astype(int)).max() == 110
    assert not is_duplicate(a, b)


def _bright_box_detector():
    """A real (pixel) detector for the quiet scene: the bounding box of the bright pixels."""

    class BrightBox:
        calls = 0

        def detect(self, images):
            out = []
            for img in images:
                BrightBox.calls += 1
                ys, xs = np.nonzero(img[:, :, 0] > 150)
                if len(xs) == 0:
                    out.append(Detections.empty())
                    continue
                out.append(
                    Detections(
                        np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32),
                        np.array([0.9], np.float32),
                        np.array(["motorcycle"], object),
                    )
                )
            return out

    return BrightBox()


QUIET_CROSSING = parse_crossing(
    {
        "id": "quiet",
        "name": "quiet",
        "frame_size": [QUIET_W, QUIET_H],
        "grace_s": 0.0,
        "stop_lines": [{"id": "s", "points": [[100, 300], [1500, 300]], "entering": [0, -1], "signal": "main"}],
        "signals": [{"id": "main", "lamps": {"red": [1547, 23, 26, 26]}}],
    }
)
RED_ALL_ALONG = SignalPlan(signals={"main": [PlanStep(t=0, state="RED")]})


@pytest.fixture(scope="module")
def quiet_clip(tmp_path_factory) -> Path:
    # 10 fps, 3 s; the road user moves up 10 px a frame and crosses y = 300 at t = 1.05
    return make_video(
        tmp_path_factory.mktemp("quiet") / "quiet.mp4",
        30,
        lambda i: _quiet_scene(405 - 10 * i),
        size=(QUIET_W, QUIET_H),
    )


def test_quiet_scene_runner_found_without_duplicate_skipping(quiet_clip):
    det = _bright_box_detector()
    res = Pipeline(QUIET_CROSSING, det, PipelineSettings(skip_duplicates=False), plan=RED_ALL_ALONG).run(quiet_clip)
    assert res.processed == 30
    assert len(res.events) == 1 and res.events[0].t == pytest.approx(1.05, abs=0.02)


def test_quiet_scene_runner_found_with_duplicate_skipping(quiet_clip):
    det = _bright_box_detector()
    res = Pipeline(QUIET_CROSSING, det, PipelineSettings(skip_duplicates=True), plan=RED_ALL_ALONG).run(quiet_clip)
    assert res.processed >= 25  # actual: 1
    assert len(res.events) == 1


class PlannedDetector(ScriptedDetector):
    """A scripted detector that takes the pipeline's detection plan: it sees frames at the crossing's
    working size (640x480 here, twice the video) and answers in those pixels."""

    def __init__(self):
        super().__init__()
        self.shapes: set[tuple[int, ...]] = set()
        self.regions = None
        self.k = 0

    def use_regions(self, roi, tiles):
        self.regions = (roi, tiles)

    def detect(self, images):
        out = []
        for img in images:
            self.shapes.add(img.shape)
            rows = self.script(self.k / FPS)
            self.k += 1
            if not rows:
                out.append(Detections.empty())
                continue
            out.append(
                Detections(
                    np.array([[2 * v for v in r[2]] for r in rows], np.float32),
                    np.array([r[1] for r in rows], np.float32),
                    np.array([r[0] for r in rows], object),
                )
            )
        return out


def test_pipeline_works_in_the_crossing_space_and_answers_in_the_video_space(clip_path):
    det = PlannedDetector()
    res = Pipeline(CROSSING, det).run(clip_path)
    assert det.shapes == {(480, 640, 3)}  # decoded straight to the crossing's frame_size
    roi, tiles = det.regions
    assert roi[1] < 240 < roi[3] and tiles == []  # the stop line (y = 240 there) is inside the region
    assert res.crossing.frame_size == (W, H)
    (e,) = res.events
    assert e.t == pytest.approx(0.85, abs=1e-3)
    assert e.box[1] == pytest.approx(LINE_Y - 60, abs=0.6)  # back in video pixels
    assert all(b[3] <= H for _, b in e.path)


@pytest.mark.parametrize("make", [ScriptedDetector, PlannedDetector], ids=["video-space", "crossing-space"])
def test_on_settled_hands_over_every_event_once_final_and_in_video_pixels(clip_path, make):
    """The evidence can start while the video goes on: each event is handed over once, when its track has
    retired, already as the result will hold it (class, box and path in the video's pixels)."""
    handed: list[list] = []
    seen_at: list[int] = []
    det = make()
    res = Pipeline(CROSSING, det).run(
        clip_path, on_settled=lambda evs: (handed.append([copy.deepcopy(e) for e in evs]), seen_at.append(1))
    )
    flat = [e for batch in handed for e in batch]
    assert len(res.events) == 1 and len(flat) == 1 and all(batch for batch in handed)
    assert flat[0] == res.events[0]  # nothing about it changed after it was handed over
    assert flat[0].box[1] == pytest.approx(LINE_Y - 60, abs=0.6) and flat[0].class_name == "motorcycle"
    base = Pipeline(CROSSING, make()).run(clip_path)
    assert base.events == res.events  # handing over changes no result


def test_detail_px_is_the_box_shrunk_by_the_pass_never_enlarged():
    """pipeline.detail_px: the box's size in pixels of real detail, from the detector's `model_scale`."""
    from detector.pipeline import detail_px

    det = Detections(
        np.array([[0, 0, 20, 20], [100, 100, 140, 180]], np.float32),
        np.array([0.3, 0.3]),
        np.array(["motorcycle", "car"], object),
    )
    assert detail_px(det, None, (480, 640)) is None  # scripted detectors: the tracker uses the boxes
    up = detail_px(det, lambda xyxy, hw: np.array([2.0, 2.0]), (480, 640))  # an upscaled tile adds no detail
    assert up == pytest.approx([20.0, (40 * 80) ** 0.5])
    down = detail_px(det, lambda xyxy, hw: np.array([0.5, 1.0]), (480, 640))  # a shrunk whole-picture pass
    assert down == pytest.approx([10.0, (40 * 80) ** 0.5])


def test_yolo_model_scale_follows_the_pass_that_saw_the_box():
    """YoloDetector.model_scale without a model: the whole-picture pass over its roi (frames stacked
    when wide), and a tile's own scale for boxes inside it."""
    from detector.detection import YoloDetector

    det = object.__new__(YoloDetector)
    det.pack, det.imgsz = True, 640
    det.roi, det.tiles = None, [(0, 0, 320, 320)]
    boxes = np.array([[10, 10, 30, 40], [300, 300, 340, 340], [600, 400, 620, 430]], np.float64)
    scale = det.model_scale(boxes, (480, 1280))  # 1280x480: one frame per input, scale 0.5; tile 2.0
    assert scale == pytest.approx([2.0, 0.5, 0.5])
    det.roi, det.tiles = (0, 240, 1280, 480), []  # 1280x240 regions: two share one input at 0.5 scale
    assert det.model_scale(boxes, (480, 1280)) == pytest.approx([0.5, 0.5, 0.5])
