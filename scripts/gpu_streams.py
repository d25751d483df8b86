#!/usr/bin/env python3
"""How many 1080p30 streams one GPU keeps up with: crosswatch's batched detector against plain
`YOLO.predict`, same model, same frames, same run.

    .venv/bin/python scripts/gpu_streams.py [--device cuda] [--streams 64] [--frames 8]
        [--model yolo11n-pt] [--clip assets/sample_videos/nl_motorway_overpass.mp4] [--out result.json]

Frames of a sample clip are decoded once and scaled to 1920x1080 (the clips are <= 1620x720), and
N "streams" replay them. Plain: one `predict()` per frame, ultralytics defaults (what a
per-camera script does). Batched: `YoloDetector` (half precision on CUDA) gets one frame of every
stream per call, in chunks of `--batch`. Measured: model throughput (frames/s) with frames already
in memory; streams = throughput / 30. Decoding 1080p H.264 is not included (on a real server
NVDEC or CPU decoders feed the model; say which when quoting).

Without CUDA it says so and exits 0 unless `--device cpu` is given (a smoke run of the same code).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def load_frames(clip: Path, n: int, size=(1920, 1080)) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            out.append(f.reformat(width=size[0], height=size[1], format="bgr24").to_ndarray())
            if len(out) == n:
                break
    if not out:
        raise SystemExit(f"{clip}: no frames")
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def measure_plain(model_path: Path, device: str, frames: list[np.ndarray], streams: int, rounds: int) -> float:
    """Frames per second of one `YOLO.predict(frame)` call per frame and stream."""
    from detector.detection import YoloDetector

    det = YoloDetector(model_path, device=device, backend="ultralytics")
    yolo = det._model  # the ultralytics model, used the plain way
    yolo.predict(frames[0], device=device, verbose=False)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    done = 0
    for r in range(rounds):
        for _ in range(streams):
            yolo.predict(frames[r % len(frames)], device=device, verbose=False)
            done += 1
    _sync(device)
    return done / (time.perf_counter() - t0)


def measure_batched(
    model_path: Path, device: str, frames: list[np.ndarray], streams: int, rounds: int, batch: int
) -> float:
    """Frames per second of crosswatch's detector given one frame of every stream per round."""
    from detector.detection import YoloDetector

    det = YoloDetector(model_path, device=device, backend="ultralytics")  # half on CUDA
    det.detect([frames[0]] * min(batch, streams))  # warm-up at the batch shape
    _sync(device)
    t0 = time.perf_counter()
    done = 0
    for r in range(rounds):
        frame = frames[r % len(frames)]
        for i in range(0, streams, batch):
            n = min(batch, streams - i)
            det.detect([frame] * n)
            done += n
    _sync(device)
    return done / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    from detector import assets

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8, help="rounds: frames per stream measured")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default="yolo11n-pt")
    ap.add_argument("--clip", default=str(assets.sample_clip("nl_motorway_overpass")))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not cuda_available():
        print("gpu_streams: no CUDA device here; nothing measured (use --device cpu for a smoke run)")
        return 0
    model = assets.resolve_model(args.model)
    frames = load_frames(Path(args.clip), min(args.frames, 16))
    plain = measure_plain(model, args.device, frames, args.streams, args.frames)
    batched = measure_batched(model, args.device, frames, args.streams, args.frames, args.batch)
    result = {
        "device": args.device,
        "model": args.model,
        "frame_size": [1920, 1080],
        "streams_simulated": args.streams,
        "frames_per_stream": args.frames,
        "batch": args.batch,
        "plain_predict_fps": round(plain, 1),
        "batched_fps": round(batched, 1),
        "plain_realtime_1080p30_streams": round(plain / 30, 1),
        "batched_realtime_1080p30_streams": round(batched / 30, 1),
        "speedup": round(batched / plain, 2),
    }
    if args.device.startswith("cuda"):
        import torch

        result["gpu"] = torch.cuda.get_device_name(0)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
