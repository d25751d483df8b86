"""A tiny synthetic crossing and clip for the CLI battery, and `crosswatch` with a pixel detector.

The clip (320 x 240, 10 fps, 3 s) shows a lit red lamp and one white block that drives over the
stop line at t = 0.85 s: one red-light event. `BrightBoxDetector` finds the block by its pixels,
so the real pipeline, evidence recorder and database run in seconds without the YOLO model.

Run as a script (`python tests/security/synthetic_cli.py process ...`) it is `crosswatch` with
that detector; with $CW_BARRIER=folder:N each process, at its first detection (past the check for
a finished run), waits until N processes got there, so concurrent runs really overlap.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

W, H, FPS, FRAMES = 320, 240, 10, 30
CROSSING = {
    "id": "synthetic",
    "name": "合成路口",
    "frame_size": [640, 480],
    "signals": [{"id": "main", "lamps": {"red": [560, 20, 48, 48], "green": [560, 88, 48, 48]}}],
    "stop_lines": [{"id": "stop-1", "points": [[0, 240], [540, 240]], "entering": [0, -1], "signal": "main"}],
    "lanes": [{"id": "through", "polygon": [[40, 100], [520, 100], [520, 460], [40, 460]], "direction": [0, -1]}],
}


def paint(i: int, shade: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i (BGR): background `shade`, red lamp lit, green dark, the block's bottom at 205 - 10 i."""
    img = np.full((h, w, 3), shade, np.uint8)
    img[10 * h // H : 34 * h // H, 280 * w // W : 304 * w // W] = (40, 40, 250)
    img[44 * h // H : 68 * h // H, 280 * w // W : 304 * w // W] = (60, 60, 60)
    bottom = (205 - 10 * i) * h // H
    if bottom > 0:
        img[max(0, bottom - 40 * h // H) : bottom, 100 * w // W : 120 * w // W] = 230
    return img


def make_clip(path: Path, shade: int = 50, frames: int = FRAMES, size: tuple[int, int] = (W, H)) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.options = {"crf": "12"}
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(paint(i, shade, *size), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_crossing(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**CROSSING, **changes}, allow_unicode=True), encoding="utf-8")
    return path


class BrightBoxDetector:
    """The white block's bounding box (green channel > 200: the lamps stay below)."""

    def __init__(self, barrier: str | None = None):
        self.barrier = barrier

    def _wait(self) -> None:
        folder, n = self.barrier.rsplit(":", 1) if self.barrier else ("", "0")
        self.barrier = None
        if not folder:
            return
        Path(folder, str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(os.listdir(folder)) < int(n) and time.monotonic() < deadline:
            time.sleep(0.05)

    def detect(self, images: list[np.ndarray]) -> list:
        from detector.types import Detections

        self._wait()
        out = []
        for img in images:
            ys, xs = np.nonzero(img[:, :, 1] > 200)
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


def install_detector(barrier: str | None = None) -> None:
    """Every video of this process is detected by BrightBoxDetector."""
    from service.runs import detectors

    detectors.make_detector = lambda *_a, **_k: BrightBoxDetector(barrier)


if __name__ == "__main__":
    install_detector(os.environ.get("CW_BARRIER"))
    from service.cli import main

    sys.exit(main(sys.argv[1:]))
