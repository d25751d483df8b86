"""The GPU streams benchmark (scripts/gpu_streams.py): skips cleanly without CUDA, and its code
path runs end to end on the CPU with a tiny workload (the numbers there mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_streams.py"


def test_without_cuda_it_says_so_and_measures_nothing():
    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_streams

    if gpu_streams.cuda_available():
        pytest.skip("this machine has CUDA")
    out = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "no CUDA device" in out.stdout


@pytest.mark.needs_assets
def test_cpu_smoke_run(tmp_path):
    from detector import assets

    if not assets.resolve_model("yolo11n-pt").exists() or not assets.sample_clip("nl_motorway_overpass").exists():
        pytest.skip("yolo11n.pt or the motorway clip not fetched (run `make assets`)")
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--device",
            "cpu",
            "--streams",
            "2",
            "--frames",
            "1",
            "--batch",
            "2",
            "--out",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["plain_predict_fps"] > 0 and r["batched_fps"] > 0 and r["streams_simulated"] == 2
