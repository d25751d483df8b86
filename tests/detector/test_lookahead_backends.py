"""Detection one batch ahead in a worker thread (`FrameSession(lookahead=True)`) with the real model
backends: the PyTorch path through ultralytics (the GPU path, run here on the CPU) and the OpenVINO runtime
(THROUGHPUT streams) judge a real clip exactly as the same detector called in the pipeline's own thread."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.needs_assets


def _run(detector, crossing, frames, lookahead: bool):
    from detector.pipeline import FrameSession, PipelineSettings

    session = FrameSession(crossing, detector, PipelineSettings(), None, crossing.frame_size, lookahead=lookahead)
    for f in frames:
        session.push(f)
    session.finish()
    points = [(e.type, e.track_id, e.t, e.box, e.class_name) for e in session.events]
    return points, [(c.track_id, c.t) for c in session.crossings], session.processed, session.max_track_id


@pytest.mark.parametrize("model, backend", [("yolo11n-pt", "ultralytics"), ("yolo11n-openvino-int8", "openvino")])
def test_lookahead_gives_the_same_judgement_with_a_real_backend(model, backend):
    from detector import assets
    from detector.config import load_crossing
    from detector.detection import YoloDetector
    from detector.pipeline import plan_work
    from detector.types import Frame
    from detector.video import read_frames

    path = assets.resolve_model(model)
    clip = assets.sample_clip("makassar_alauddin_dusk")
    if not path.exists() or not clip.exists():
        pytest.skip("model or clip not fetched (run `make assets`)")
    crossing = load_crossing(assets.REPO_ROOT / "sample_videos" / "makassar_alauddin_dusk.crossing.yaml")
    detector = YoloDetector(path, device="cpu", backend=backend)
    assert detector.backend == backend
    work = plan_work(crossing, detector, crossing.frame_size)
    frames = [Frame(f.index, f.t, f.image) for f in read_frames(clip, size=work)][:150]  # the first 5 s
    scaled = crossing.scaled_to(work)
    ahead = _run(detector, scaled, frames, lookahead=True)
    inline = _run(detector, scaled, frames, lookahead=False)
    assert ahead == inline
    assert ahead[2] >= 45 and ahead[3] >= 3  # 10 Hz of 5 s detected, road users tracked
