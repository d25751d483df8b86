"""Registering a crossing from the UI, through the API: the videos under the ingest root, a frame
grabbed from one of them (paths confined to the root, never traversing out), an uploaded picture
(PNG/JPEG, capped, validated: a bad one is a one-line 422), and POST /api/crossings with the
editor's JSON and the frame, which becomes the crossing's snapshot and is named in the audit log."""

from __future__ import annotations

import io

import pytest
import yaml
from PIL import Image
from sqlalchemy import select

from service.api.routes.crossing_frames import FRAME_MAX_BYTES
from service.models import AuditRow

from .conftest import _mp4, crossing_yaml


def _png(size=(64, 48), colour=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def ingest(api):
    """An ingest root with one real video, one undecodable one, a text file, a folder and a
    symlink to a video outside the root."""
    root = api.settings.ingest_root
    (root / "a.mp4").write_bytes(_mp4(1.5))
    (root / "sub").mkdir()
    (root / "sub" / "b.mkv").write_bytes(b"not a video at all")
    (root / "notes.txt").write_text("x")
    outside = root.parent / "outside.mp4"
    outside.write_bytes(_mp4(0.5))
    (root / "link.mp4").symlink_to(outside)
    return root


def test_videos_under_the_ingest_root_are_listed(api, ingest):
    r = api.client.get("/api/crossing-frames/videos", headers=api.headers("operator"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ingest_root"] is True and body["truncated"] is False
    assert [v["path"] for v in body["videos"]] == ["a.mp4", "sub/b.mkv"]  # no text file, no link outside
    assert body["videos"][0]["size"] == (ingest / "a.mp4").stat().st_size
    assert api.client.get("/api/crossing-frames/videos", headers=api.headers("reviewer")).status_code == 403


def test_a_frame_is_grabbed_from_a_video_and_served(api, ingest):
    h = api.headers("operator")
    r = api.client.post("/api/crossing-frames/video", json={"path": "a.mp4"}, headers=h)
    assert r.status_code == 201, r.text
    frame = r.json()
    assert (frame["width"], frame["height"], frame["source"], frame["name"]) == (64, 48, "video", "a.mp4")
    img = api.client.get(f"/api/crossing-frames/{frame['frame']}", headers=h)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(img.content)).size == (64, 48)
    # the same path given absolutely gives the same frame (content-addressed)
    again = api.client.post("/api/crossing-frames/video", json={"path": str(ingest / "a.mp4")}, headers=h)
    assert again.json()["frame"] == frame["frame"]
    unknown = api.client.get("/api/crossing-frames/" + "0" * 64, headers=h)
    assert unknown.status_code == 404
    assert api.client.get("/api/crossing-frames/..%2F..%2Fetc%2Fpasswd", headers=h).status_code in (404, 422)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.mp4", "outside the ingest root"),
        ("/etc/passwd", "outside the ingest root"),
        ("sub/../../outside.mp4", "outside the ingest root"),
        ("link.mp4", "outside the ingest root"),
        ("missing.mp4", "no such file"),
        ("sub", "a folder"),
        ("sub/b.mkv", "not a decodable video"),
        ("a.mp4\x00.txt", "NUL"),
    ],
)
def test_bad_video_paths_are_one_line_422s(api, ingest, path, reason):
    r = api.client.post("/api/crossing-frames/video", json={"path": path}, headers=api.headers("operator"))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert reason in detail and "\n" not in detail


def test_no_ingest_root_refuses_video_frames(api):
    from service.settings import Settings

    api.app.state.settings = Settings(**{**api.settings.model_dump(), "ingest_root": None})
    h = api.headers("operator")
    assert api.client.get("/api/crossing-frames/videos", headers=h).json() == {
        "ingest_root": False,
        "videos": [],
        "truncated": False,
    }
    r = api.client.post("/api/crossing-frames/video", json={"path": "a.mp4"}, headers=h)
    assert r.status_code == 422 and "no ingest root" in r.json()["detail"]


def test_an_uploaded_picture_becomes_a_frame(api):
    h = api.headers("operator")
    r = api.client.post(
        "/api/crossing-frames/upload", content=_png((320, 180)), headers={**h, "Content-Type": "image/png"}
    )
    assert r.status_code == 201, r.text
    frame = r.json()
    assert (frame["width"], frame["height"], frame["source"]) == (320, 180, "upload")
    got = Image.open(io.BytesIO(api.client.get(f"/api/crossing-frames/{frame['frame']}", headers=h).content))
    assert got.size == (320, 180) and got.getpixel((10, 10))[1] > 150  # the picture's green, stored as JPEG


@pytest.mark.parametrize(
    ("body", "ctype", "code", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "image/png", 422, "not a valid PNG image"),
        (b"", "image/jpeg", 422, "empty body"),
        ("jpeg", "image/png", 422, "not a valid PNG image"),  # a JPEG sent as PNG
        ("huge", "image/png", 422, "too large"),
        (b"GIF89a", "image/gif", 415, "PNG or JPEG"),
        ("cap", "image/png", 413, "larger than"),
    ],
)
def test_bad_uploads_are_refused_in_one_line(api, body, ctype, code, reason):
    if body == "jpeg":
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "JPEG")
        body = buf.getvalue()
    elif body == "huge":
        body = _png((9000, 4), (0, 0, 0))
    elif body == "cap":
        body = b"\x00" * (FRAME_MAX_BYTES + 1)
    h = {**api.headers("operator"), "Content-Type": ctype}
    r = api.client.post("/api/crossing-frames/upload", content=body, headers=h)
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    assert reason in detail and "\n" not in detail
    assert not list((api.evidence_dir / "_frames").glob("*")) if (api.evidence_dir / "_frames").exists() else True


def test_uploads_are_for_operators(api):
    r = api.client.post(
        "/api/crossing-frames/upload",
        content=_png(),
        headers={**api.headers("reviewer"), "Content-Type": "image/png"},
    )
    assert r.status_code == 403


def _editor_config(cid: str) -> dict:
    """What the UI's editor sends: the crossing as JSON, drawn on a 320x180 frame."""
    return {
        "id": cid,
        "name": "新路口",
        "district": "东城区",
        "location": {"lat": 39.91, "lon": 116.40},
        "frame_size": [320, 180],
        "signals": [{"id": "signal-1", "lamps": {"red": [10, 10, 8, 8]}}],
        "stop_lines": [{"id": "stop-1", "points": [[40, 120], [280, 126]], "entering": [0, -1], "signal": "signal-1"}],
        "lanes": [{"id": "lane-1", "polygon": [[40, 130], [150, 130], [150, 178], [40, 178]], "direction": [0, -1]}],
    }


def test_create_from_the_editors_json_with_its_frame(api):
    h = api.headers("operator")
    up = api.client.post(
        "/api/crossing-frames/upload", content=_png((320, 180)), headers={**h, "Content-Type": "image/png"}
    )
    frame = up.json()["frame"]
    r = api.client.post("/api/crossings", json={"config": _editor_config("cx-new"), "frame": frame}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["config"]["stop_lines"][0]["signal"] == "signal-1"
    stored = yaml.safe_load(r.json()["yaml"])
    assert stored["location"] == {"lat": 39.91, "lon": 116.40}
    listed = {c["id"]: c for c in api.client.get("/api/crossings", headers=h).json()["data"]}
    assert (listed["cx-new"]["lat"], listed["cx-new"]["lon"]) == (39.91, 116.40)
    # no video processed yet: the snapshot is the frame it was drawn on, with or without the overlay
    snap = api.client.get("/api/crossings/cx-new/snapshot", headers=h)
    assert snap.status_code == 200 and Image.open(io.BytesIO(snap.content)).size == (320, 180)
    over = api.client.get("/api/crossings/cx-new/snapshot", params={"overlay": "true"}, headers=h)
    assert over.status_code == 200 and over.content != snap.content
    with api.app.state.sessionmaker() as s:
        entry = s.scalars(select(AuditRow).where(AuditRow.action == "crossing_create")).one()
    assert entry.object_id == "cx-new" and entry.actor == api.user("operator")
    assert entry.payload["frame"] == frame and entry.payload["version"] == 1


@pytest.mark.parametrize(
    ("change", "frame", "reason"),
    [
        ({"id": "new"}, None, "'new' is reserved"),
        ({}, "f" * 64, "frame: no such frame"),
        ({"frame_size": [100, 100]}, None, "lies outside the frame 100x100"),
        ({"lanes": [{"id": "lane-1", "polygon": [[1, 1], [2, 2], [3, 1]]}]}, None, "direction"),
    ],
)
def test_bad_creations_name_the_problem(api, change, frame, reason):
    body = {"config": {**_editor_config("cx-bad"), **change}}
    if frame:
        body["frame"] = frame
    r = api.client.post("/api/crossings", json=body, headers=api.headers("operator"))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"] if isinstance(r.json()["detail"], str) else reason in r.text
    assert api.client.get("/api/crossings/cx-bad", headers=api.headers("operator")).status_code == 404


def test_a_bad_frame_id_is_refused_by_the_schema(api):
    body = {"config": _editor_config("cx-x"), "frame": "../../etc/passwd"}
    r = api.client.post("/api/crossings", json=body, headers=api.headers("operator"))
    assert r.status_code == 422
    yaml_body = {"yaml": crossing_yaml("cx-y", "东城区"), "frame": None}
    assert api.client.post("/api/crossings", json=yaml_body, headers=api.headers("operator")).status_code == 201


def test_old_frames_no_crossing_names_are_removed_when_a_new_one_is_stored(api):
    """Three frames made two days ago: the one a crossing was registered from stays, the other
    two (and an old half-written file) go when the next frame is stored; a frame stored again is
    renewed, so it is not swept."""
    import os
    import time

    from service.api.routes.crossing_frames import FRAME_KEEP_S

    h = api.headers("operator")

    def upload(colour):
        r = api.client.post(
            "/api/crossing-frames/upload", content=_png((64, 48), colour), headers={**h, "Content-Type": "image/png"}
        )
        assert r.status_code == 201, r.text
        return r.json()["frame"]

    used, unused, renewed = upload((1, 2, 3)), upload((4, 5, 6)), upload((7, 8, 9))
    r = api.client.post("/api/crossings", json={"config": _editor_config("cx-swept"), "frame": used}, headers=h)
    assert r.status_code == 201, r.text
    folder = api.evidence_dir / "_frames"
    part = folder / "leftover.jpg.part"
    part.write_bytes(b"half")
    old = time.time() - 2 * FRAME_KEEP_S
    for p in [*folder.iterdir()]:
        os.utime(p, (old, old))
    assert upload((7, 8, 9)) == renewed  # the same picture again: kept, and young again
    assert sorted(p.stem for p in folder.iterdir()) == sorted([used, renewed])
    fresh = upload((10, 11, 12))
    assert sorted(p.stem for p in folder.iterdir()) == sorted([used, renewed, fresh])  # none old enough
    assert api.client.get(f"/api/crossing-frames/{unused}", headers=h).status_code == 404
    assert api.client.get(f"/api/crossing-frames/{used}", headers=h).status_code == 200


def test_sweep_keeps_young_and_named_frames_and_other_files(tmp_path):
    import os

    from service.api.routes.crossing_frames import sweep

    names = {c: c * 64 for c in "abcd"}
    for n in names.values():
        (tmp_path / f"{n}.jpg").write_bytes(b"x")
    (tmp_path / "README").write_text("not a frame")
    os.utime(tmp_path / "README", (0, 0))
    for c in "abc":
        os.utime(tmp_path / f"{names[c]}.jpg", (1000, 1000))
    assert sweep(tmp_path, keep={names["b"]}, max_age_s=100, now=2000) == 2  # a and c: old, not named
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["README", f"{names['b']}.jpg", f"{names['d']}.jpg"])
    assert sweep(tmp_path / "missing", keep=set()) == 0


def test_grabbing_a_frame_from_a_video_sweeps_too(api, ingest):
    import os
    import time

    from service.api.routes.crossing_frames import FRAME_KEEP_S

    h = api.headers("operator")
    up = api.client.post("/api/crossing-frames/upload", content=_png(), headers={**h, "Content-Type": "image/png"})
    stale = api.evidence_dir / "_frames" / f"{up.json()['frame']}.jpg"
    old = time.time() - 2 * FRAME_KEEP_S
    os.utime(stale, (old, old))
    r = api.client.post("/api/crossing-frames/video", json={"path": "a.mp4"}, headers=h)
    assert r.status_code == 201, r.text
    assert not stale.exists() and (api.evidence_dir / "_frames" / f"{r.json()['frame']}.jpg").is_file()
