"""Battery rows for the jobs worker's path handling at open time (cause 10): a path checked at
submission and swapped afterwards (folder -> symlink, file -> symlink, FIFO, deleted) is refused
when the worker opens it, and the child reads exactly the file that was checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service import paths
from service.worker import WorkerConfig, run_once

from .conftest import Hostile, sample_config
from .fake_targets import reading_task

SECRET = b"outside-the-root: secret"


def _worker(tmp: Path) -> WorkerConfig:
    os.environ["FAKE_OUT"] = str(tmp / "read.log")  # the spawned child inherits it
    return WorkerConfig(target=reading_task, poll_s=0.05)


def _submit(h: Hostile, rel: str) -> str:
    op = h.headers("operator", "op-jobs")
    if h.client.get("/api/crossings/cx-job", headers=op).status_code == 404:
        cfg = sample_config(id="cx-job", name="job crossing", district="东城区")
        assert h.client.post("/api/crossings", json={"config": cfg}, headers=op).status_code == 201
    r = h.client.post("/api/jobs", json={"crossing_id": "cx-job", "paths": [rel]}, headers=op)
    assert r.status_code == 201, r.text
    return r.json()["uid"]


def _item(h: Hostile, uid: str) -> dict:
    return h.client.get(f"/api/jobs/{uid}", headers=h.headers("operator", "op-jobs")).json()["items"][0]


SWAPS = [
    "folder-to-symlink",
    "file-to-symlink-outside",
    "file-to-symlink-inside",
    "file-to-fifo",
    "file-deleted",
    "folder-to-symlink-chain",
]


@pytest.mark.parametrize("swap", SWAPS)
def test_path_swapped_after_submission_is_refused_at_open(hostile, tmp_path, swap):
    root = hostile.settings.ingest_root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "v.mp4").write_bytes(SECRET)
    (root / "cam").mkdir()
    (root / "cam" / "v.mp4").write_bytes(b"inside video")
    (root / "other.mp4").write_bytes(b"another inside video")
    uid = _submit(hostile, "cam/v.mp4")
    cam = root / "cam"
    if swap == "folder-to-symlink":
        (cam / "v.mp4").unlink()
        cam.rmdir()
        cam.symlink_to(outside)
    elif swap == "folder-to-symlink-chain":
        (cam / "v.mp4").unlink()
        cam.rmdir()
        (root / "hop").symlink_to(outside)
        cam.symlink_to(root / "hop")
    elif swap == "file-to-symlink-outside":
        (cam / "v.mp4").unlink()
        (cam / "v.mp4").symlink_to(outside / "v.mp4")
    elif swap == "file-to-symlink-inside":
        (cam / "v.mp4").unlink()
        (cam / "v.mp4").symlink_to(root / "other.mp4")
    elif swap == "file-to-fifo":
        (cam / "v.mp4").unlink()
        os.mkfifo(cam / "v.mp4")
    elif swap == "file-deleted":
        (cam / "v.mp4").unlink()
    assert run_once(hostile.app, config=_worker(tmp_path)) == uid
    item = _item(hostile, uid)
    log = tmp_path / "read.log"
    assert item["status"] == "failed"
    assert not log.exists() or SECRET not in log.read_bytes(), "the worker's child read a file outside the root"
    assert "fake child read" not in (item["error"] or ""), item["error"]  # refused before any child ran


def test_the_child_reads_the_checked_file_under_its_real_path(hostile, tmp_path):
    root = hostile.settings.ingest_root
    (root / "good.mp4").write_bytes(b"the checked video")
    uid = _submit(hostile, "good.mp4")
    assert run_once(hostile.app, config=_worker(tmp_path)) == uid
    line = (tmp_path / "read.log").read_bytes()
    real, data = line.rstrip(b"\n").split(b"\t", 1)
    assert data == b"the checked video" and real.decode() == str((root / "good.mp4").resolve())
    assert "fake child read 17 bytes" in _item(hostile, uid)["error"]


OPEN_CASES = [
    "outside-root",
    "nul",
    "long-component",
    "directory",
    "symlink-final",
    "relative-dotdot",
    "missing",
    "no-roots",
]


@pytest.mark.parametrize("case", OPEN_CASES)
def test_open_video_refuses(tmp_path, case):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(root / "a.mp4")
    (tmp_path / "out.mp4").write_bytes(b"x")
    roots = paths.allowed_roots(root)
    path = {
        "outside-root": str(tmp_path / "out.mp4"),
        "nul": str(root / "a\x00.mp4"),
        "long-component": str(root / ("a" * 300)),
        "directory": str(root),
        "symlink-final": str(root / "link.mp4"),
        "relative-dotdot": str(root / ".." / "out.mp4"),
        "missing": str(root / "none.mp4"),
        "no-roots": str(root / "a.mp4"),
    }[case]
    with pytest.raises(paths.PathRefused):
        paths.open_video(path, () if case == "no-roots" else roots)


def test_open_video_opens_a_plain_file(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"ok")
    fd = paths.open_video(str((tmp_path / "a.mp4").resolve()), paths.allowed_roots(tmp_path))
    try:
        assert os.read(fd, 10) == b"ok"
    finally:
        os.close(fd)
