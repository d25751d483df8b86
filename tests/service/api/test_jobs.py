"""Jobs API and worker: path refusal (nothing escapes the ingest root), folder expansion, upload
size cap (announced and streamed), roles and scope, cancel, and the worker end to end (a real
child process per video: progress, errors of bad files, kill on cancel, partial outcome)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from service import jobs_repo
from service.models import AuditRow, JobItemRow, JobRow
from service.worker import WorkerConfig, run_once

from .conftest import _mp4, crossing_yaml
from .fake_tasks import PID_FILE_ENV, fake_task
from .test_crossings import shared  # noqa: F401 - the module-scoped app for tests that change nothing


@contextmanager
def _settings(api, **changes) -> Iterator[None]:
    """The app runs with `changes` to its settings inside the block."""
    before = api.app.state.settings
    api.app.state.settings = before.model_copy(update=changes)
    try:
        yield
    finally:
        api.app.state.settings = before


def _crossings(api) -> None:
    """Crossings cx-a (东城区) and cx-b (西城区), without the seeded events (faster)."""
    from detector.config import parse_crossing
    from service.repository import Repository

    repo = Repository(api.app.state.engine)
    for cid, district in (("cx-a", "东城区"), ("cx-b", "西城区")):
        text = crossing_yaml(cid, district)
        repo.upsert_crossing(parse_crossing(yaml.safe_load(text)), text)


def _jobs(api) -> int:
    return api.client.get("/api/jobs", headers=api.headers("operator")).json()["count"]


def _job(api, uid: str) -> dict:
    r = api.client.get(f"/api/jobs/{uid}", headers=api.headers("operator"))
    assert r.status_code == 200, r.text
    return r.json()


def _prepare(root: Path, outside: Path) -> None:
    """Files the refusal cases point at: an outside file, a link escaping the root, an empty
    folder, a named pipe."""
    root.mkdir(exist_ok=True)
    outside.mkdir(exist_ok=True)
    (outside / "secret.mp4").write_bytes(b"x")
    if not (root / "escape.mp4").is_symlink():
        (root / "escape.mp4").symlink_to(outside / "secret.mp4")
        (root / "escape-dir").symlink_to(outside)
        (root / "empty").mkdir()
        (root / "linky").mkdir()
        (root / "linky" / "in.mp4").symlink_to(outside / "secret.mp4")
        os.mkfifo(root / "pipe.mp4")


@pytest.mark.parametrize(
    "path,reason",
    [
        ("../outside/secret.mp4", "outside the ingest root"),
        ("{outside}/secret.mp4", "outside the ingest root"),
        ("/etc/passwd", "outside the ingest root"),
        ("escape.mp4", "outside the ingest root"),  # symlink to a file outside
        ("escape-dir/secret.mp4", "outside the ingest root"),  # symlinked folder
        ("linky", "links outside the ingest root"),  # folder holding an escaping link
        ("empty/../../outside/secret.mp4", "outside the ingest root"),
        ("missing.mp4", "no such file"),
        ("empty", "no video files"),
        ("pipe.mp4", "not a regular file"),
        ("bad\x00name.mp4", "NUL"),
    ],
)
def test_paths_are_refused(shared, path, reason):
    root = shared.settings.ingest_root
    outside = root.parent / "outside"
    _prepare(root, outside)
    before = _jobs(shared)
    body = {"crossing_id": "cx-a", "paths": [path.format(outside=outside)]}
    r = shared.client.post("/api/jobs", json=body, headers=shared.headers("operator"))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"] and "paths[0]" in r.json()["detail"]
    assert _jobs(shared) == before  # nothing queued


def test_no_ingest_root_refuses_paths(shared):
    with _settings(shared, ingest_root=None):
        r = shared.client.post(
            "/api/jobs", json={"crossing_id": "cx-a", "paths": ["a.mp4"]}, headers=shared.headers("operator")
        )
    assert r.status_code == 422 and "no ingest root" in r.json()["detail"]


@pytest.mark.parametrize(
    "body,code",
    [
        ({"crossing_id": "cx-a", "paths": []}, 422),
        ({"crossing_id": "cx-a", "paths": ["a.mp4"] * 1001}, 422),
        ({"crossing_id": "cx-a", "paths": ["a.mp4"], "start_time": "2026-03-01T08:00:00"}, 422),  # naive time
        ({"crossing_id": "nope", "paths": ["a.mp4"]}, 404),
        ({"crossing_id": "cx-b", "paths": ["a.mp4"], "scoped": True}, 404),  # out of the operator's scope
    ],
)
def test_bad_submissions(shared, body, code):
    body = dict(body)  # the table is shared by both databases' runs
    headers = (
        shared.headers("operator", districts=["东城区"]) if body.pop("scoped", False) else shared.headers("operator")
    )
    (shared.settings.ingest_root / "a.mp4").parent.mkdir(exist_ok=True)
    (shared.settings.ingest_root / "a.mp4").write_bytes(b"x")
    assert shared.client.post("/api/jobs", json=body, headers=headers).status_code == code


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs/upload"),
        ("GET", "/api/jobs/0123"),
        ("POST", "/api/jobs/0123/cancel"),
    ],
)
@pytest.mark.parametrize("role,code", [(None, 401), ("reviewer", 403), ("analyst", 403)])
def test_roles(shared, method, path, role, code):
    headers = shared.headers(role) if role else {}
    r = shared.client.request(
        method, path, json={"crossing_id": "cx-a", "paths": ["a.mp4"]} if method == "POST" else None, headers=headers
    )
    assert r.status_code == code


def test_folder_expands_to_its_videos(api):
    _crossings(api)
    root = api.settings.ingest_root
    (root / "day1" / "cam").mkdir(parents=True)
    for name in ("day1/a.mp4", "day1/cam/b.MKV", "day1/notes.txt", "day1/cam/c.ts"):
        (root / name).write_bytes(b"x")
    r = api.client.post(
        "/api/jobs",
        json={
            "crossing_id": "cx-a",
            "paths": ["day1", str(root / "day1/a.mp4")],
            "start_time": "2026-03-01T08:00:00+08:00",
        },
        headers=api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    job = r.json()
    real = root.resolve()
    assert [i["path"] for i in job["items"]] == [
        str(real / "day1/a.mp4"),
        str(real / "day1/cam/b.MKV"),
        str(real / "day1/cam/c.ts"),
    ]
    assert job["status"] == "queued" and job["progress"] == 0 and job["items_by_status"] == {"queued": 3}
    listed = api.client.get("/api/jobs", headers=api.headers("operator")).json()
    assert listed["count"] == 1 and listed["data"][0]["uid"] == job["uid"]
    with api.app.state.sessionmaker() as s:
        entry = s.query(AuditRow).filter_by(action="job_submit").one()
    assert entry.object_id == job["uid"] and entry.payload["items"] == 3


def _multipart(crossing_id: str | None, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "cwboundary7MA4YWxk"
    parts = []
    if crossing_id is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="crossing_id"\r\n\r\n{crossing_id}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: video/mp4\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_over_cap_is_413(shared, chunked):
    body, ctype = _multipart("cx-a", "big.mp4", b"\0" * 5000)
    content = (body[i : i + 512] for i in range(0, len(body), 512)) if chunked else body
    headers = {**shared.headers("operator"), "Content-Type": ctype}
    with _settings(shared, upload_max_bytes=2000):
        r = shared.client.post("/api/jobs/upload", content=content, headers=headers)
    assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]
    uploads = shared.settings.resolved_upload_dir()
    assert not uploads.exists() or list(uploads.iterdir()) == []  # the partial file is gone


@pytest.mark.parametrize(
    "crossing_id,name,ctype,reason",
    [
        (None, "a.mp4", None, "crossing_id"),
        ("cx-a", "a.exe", None, "not a video file name"),
        ("cx-a", "a.mp4", "application/json", "multipart/form-data"),
        ("nope", "a.mp4", None, "crossing not found"),
    ],
)
def test_bad_uploads(shared, crossing_id, name, ctype, reason):
    body, mp = _multipart(crossing_id, name, b"data")
    r = shared.client.post(
        "/api/jobs/upload", content=body, headers={**shared.headers("operator"), "Content-Type": ctype or mp}
    )
    assert r.status_code in (404, 422) and reason in r.json()["detail"]
    uploads = shared.settings.resolved_upload_dir()
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_upload_within_cap_is_stored_and_queued(api):
    _crossings(api)
    data = _mp4(0.5)
    body, ctype = _multipart("cx-b", "Cam 1.MP4", data)
    r = api.client.post("/api/jobs/upload", content=body, headers={**api.headers("operator"), "Content-Type": ctype})
    assert r.status_code == 201, r.text
    [item] = r.json()["items"]
    stored = Path(item["path"])
    assert stored.parent == api.settings.resolved_upload_dir() and stored.suffix == ".mp4"
    assert stored.read_bytes() == data and r.json()["crossing_id"] == "cx-b"


def test_cancel_queued_job(api):
    _crossings(api)
    (api.settings.ingest_root / "a.mp4").write_bytes(b"x")
    h = api.headers("operator")
    uid = api.client.post("/api/jobs", json={"crossing_id": "cx-a", "paths": ["a.mp4"]}, headers=h).json()["uid"]
    r = api.client.post(f"/api/jobs/{uid}/cancel", headers=h)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled" and [i["status"] for i in r.json()["items"]] == ["cancelled"]
    assert api.client.post(f"/api/jobs/{uid}/cancel", headers=h).status_code == 409
    assert run_once(api.app) is None  # nothing left to run
    with api.app.state.sessionmaker() as s:
        assert [e.object_id for e in s.query(AuditRow).filter_by(action="job_cancel")] == [uid]


def _fake_worker(tmp_path: Path, monkeypatch) -> WorkerConfig:
    """The worker with `fake_tasks.fake_task` in its child (its pid written to tmp_path/child.pid)."""
    monkeypatch.setenv(PID_FILE_ENV, str(tmp_path / "child.pid"))  # the spawned child inherits it
    return WorkerConfig(target=fake_task, init=None, poll_s=0.05)


CHILD_FAILURES = [  # video name (the fake child's behaviour) -> the item's error
    ("error.mp4", "error.mp4: empty file (0 bytes)"),
    ("crash.mp4", "crash.mp4: RuntimeError: decoder exploded"),
    ("kill.mp4", "kill.mp4: the processing child died: killed by signal 9 (SIGKILL)"),
]


def test_child_failures_become_item_errors(api, tmp_path, monkeypatch):
    """One job, one failing child per item (table above): every item fails with its one-line
    error, the job goes on to the next and ends `failed`."""
    _crossings(api)
    for name, _ in CHILD_FAILURES:
        (api.settings.ingest_root / name).write_bytes(b"x")
    uid = api.client.post(
        "/api/jobs",
        json={"crossing_id": "cx-a", "paths": [n for n, _ in CHILD_FAILURES]},
        headers=api.headers("operator"),
    ).json()["uid"]
    assert run_once(api.app, config=_fake_worker(tmp_path, monkeypatch)) == uid
    job = _job(api, uid)
    assert job["status"] == "failed" and job["progress"] == 1.0
    for item, (name, error) in zip(job["items"], CHILD_FAILURES, strict=True):
        assert item["path"].endswith(name) and item["status"] == "failed"
        assert error in item["error"] and "\n" not in item["error"]


def test_cancel_kills_the_running_child(api, tmp_path, monkeypatch):
    _crossings(api)
    for name in ("slow.mp4", "next.mp4"):
        (api.settings.ingest_root / name).write_bytes(b"x")
    h = api.headers("operator")
    uid = api.client.post(
        "/api/jobs", json={"crossing_id": "cx-a", "paths": ["slow.mp4", "next.mp4"]}, headers=h
    ).json()["uid"]
    runner = threading.Thread(target=run_once, args=(api.app,), kwargs={"config": _fake_worker(tmp_path, monkeypatch)})
    runner.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _job(api, uid)["items"][0]["progress"] < 0.25:
        time.sleep(0.05)
    running = _job(api, uid)
    assert running["status"] == "running" and running["items"][0]["status"] == "running"
    assert running["items"][0]["progress"] == 0.25 and running["progress"] == pytest.approx(0.125)
    assert api.client.post(f"/api/jobs/{uid}/cancel", headers=h).status_code == 200
    runner.join(10)
    assert not runner.is_alive()
    job = _job(api, uid)
    assert job["status"] == "cancelled" and [i["status"] for i in job["items"]] == ["cancelled", "cancelled"]
    pid = int((tmp_path / "child.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_stopping_the_worker_kills_the_child_and_requeues_its_video(api, tmp_path, monkeypatch):
    """`Worker.stop` (the service shutting down) mid-video: the child is killed, the video and its
    job go back to the queue, to run again after the restart."""
    _crossings(api)
    (api.settings.ingest_root / "slow.mp4").write_bytes(b"x")
    uid = api.client.post(
        "/api/jobs", json={"crossing_id": "cx-a", "paths": ["slow.mp4"]}, headers=api.headers("operator")
    ).json()["uid"]
    stop = threading.Event()
    runner = threading.Thread(
        target=run_once, args=(api.app,), kwargs={"config": _fake_worker(tmp_path, monkeypatch), "stop": stop}
    )
    runner.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _job(api, uid)["items"][0]["progress"] < 0.25:
        time.sleep(0.05)
    assert _job(api, uid)["items"][0]["status"] == "running"
    stop.set()
    runner.join(10)
    assert not runner.is_alive()
    job = _job(api, uid)
    assert job["status"] == "queued" and job["items"][0]["status"] == "queued"
    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "child.pid").read_text()), 0)


def test_interrupted_work_is_queued_again(api):
    _crossings(api)
    (api.settings.ingest_root / "a.mp4").write_bytes(b"x")
    uid = api.client.post(
        "/api/jobs", json={"crossing_id": "cx-a", "paths": ["a.mp4"]}, headers=api.headers("operator")
    ).json()["uid"]
    sm = api.app.state.write_sessionmaker
    claimed = jobs_repo.claim_next(sm)
    assert claimed is not None and claimed.uid == uid and jobs_repo.claim_next(sm) is None  # claimed once only
    assert jobs_repo.start_item(sm, claimed.items[0].id)
    assert jobs_repo.requeue_interrupted(sm) == 1  # the service was killed mid-video
    with api.app.state.sessionmaker() as s:
        assert s.query(JobRow).one().status == "queued" and s.query(JobItemRow).one().status == "queued"


def test_a_batch_runners_job_is_not_taken_over_by_the_service(api):
    """`crosswatch batch` resumes its own jobs when re-run; a service restart must not claim them."""
    _crossings(api)
    sm = api.app.state.write_sessionmaker
    with sm.begin() as s:
        job = JobRow(
            uid="b" * 32, crossing_id="cx-a", status="running", settings={}, created_by=jobs_repo.BATCH_CREATOR
        )
        s.add(job)
        s.flush()
        s.add(JobItemRow(job_id=job.id, path="/videos/x.mp4", status="running"))
    assert jobs_repo.requeue_interrupted(sm) == 0
    assert jobs_repo.claim_next(sm) is None
    with api.app.state.sessionmaker() as s:
        assert s.query(JobRow).one().status == "running" and s.query(JobItemRow).one().status == "running"


def _video(width: int, height: int, seconds: float) -> bytes:
    """A small H.264 clip (a grey frame with a bright block moving across)."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * 10)):
            img = np.full((height, width, 3), 90, np.uint8)
            img[height // 3 : height // 2, i * 8 : i * 8 + 40] = 220
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return buf.getvalue()


def _model_ready() -> None:
    from detector import assets

    try:
        ready = assets.resolve_model(assets.default_model_name("cpu")).exists()
    except Exception:
        ready = False
    if not ready:
        pytest.skip("default model not fetched (run `make assets`)")


def test_worker_end_to_end_partial(api):
    """One good tiny video and two bad files: the job is partial, each bad file has its error."""
    _model_ready()
    _crossings(api)
    root = api.settings.ingest_root
    (root / "good.mp4").write_bytes(_video(320, 240, 1.0))
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n")
    uid = api.client.post(
        "/api/jobs",
        json={
            "crossing_id": "cx-a",
            "paths": ["good.mp4", "empty.mp4", "text.mp4"],
            "start_time": "2026-03-01T08:00:00+08:00",
        },
        headers=api.headers("operator"),
    ).json()["uid"]
    assert run_once(api.app, config=WorkerConfig(device="cpu")) == uid
    job = _job(api, uid)
    assert job["status"] == "partial" and job["progress"] == 1.0
    good, empty, text = job["items"]
    assert (good["status"], good["progress"], good["error"]) == ("done", 1.0, None)
    assert good["run_id"] is not None and good["events"] == 0
    assert empty["status"] == "failed" and "empty file (0 bytes)" in empty["error"]
    assert text["status"] == "failed" and "not a readable video" in text["error"]
    summary = api.client.get("/api/crossings/cx-a/summary", headers=api.headers("operator")).json()
    assert summary["runs"] == 1  # the job's good video
    assert json.loads(json.dumps(job))["finished_at"] is not None
