"""The event detail's context for the review page: the names people gave the lane, stop line and
signal in the crossing file (not config ids), and where the violation is inside the evidence clip
(`event_at_s`, from the clip's own record of its first frame's video time)."""

from __future__ import annotations

import hashlib
import io

import av
import numpy as np
import yaml
from sqlalchemy import select, update

from detector.config import parse_crossing
from service.clip_timing import first_frame_time
from service.models import EventRow, EvidenceFileRow
from service.repository import Repository

from .conftest import ROOT, crossing_yaml


def _clip(comment: str | None) -> bytes:
    """A 1 s H.264 clip; `comment` as the evidence recorder writes it (or none)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        if comment is not None:
            out.metadata["comment"] = comment
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return buf.getvalue()


def _replace_clip(api, uid: str, data: bytes) -> None:
    """Swap the event's clip for `data` (file and record)."""
    with api.app.state.write_sessionmaker.begin() as s:
        event_id = s.scalar(select(EventRow.id).where(EventRow.uid == uid))
        f = s.scalars(
            select(EvidenceFileRow).where(EvidenceFileRow.event_id == event_id, EvidenceFileRow.kind == "clip")
        ).one()
        relpath = f"{f.relpath}.{hashlib.sha256(data).hexdigest()[:8]}.mp4"
        (api.evidence_dir / relpath).write_bytes(data)
        s.execute(
            update(EvidenceFileRow)
            .where(EvidenceFileRow.id == f.id)
            .values(relpath=relpath, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        )


def _clip_of(detail: dict) -> dict:
    return next(x for x in detail["evidence"] if x["kind"] == "clip")


def test_first_frame_time_reads_the_recorders_comment():
    assert first_frame_time("crosswatch evidence red_light-3-120; clip t=0 is video t=12.345678 s") == 12.345678
    assert first_frame_time("clip t=0 is video t=0.000000 s") == 0.0
    assert first_frame_time("made elsewhere") is None
    assert first_frame_time("") is None


def test_detail_names_lane_stop_line_and_signal(api):
    seeded = api.seed(events_per_crossing=2)
    h = api.headers("reviewer")
    d = api.client.get(f"/api/events/{seeded.events[0]}", headers=h).json()
    names = yaml.safe_load((ROOT / "sample_videos" / "hanoi_giangvo_langha.crossing.yaml").read_text())
    lane = next(x["name"] for x in names["lanes"] if x["id"] == "approach")
    assert (d["lane"], d["lane_name"]) == ("approach", lane)
    assert (d["stop_line"], d["stop_line_name"]) == ("main", names["stop_lines"][0]["name"])
    assert (d["signal_id"], d["signal_name"]) == ("main", names["signals"][0]["name"])
    assert d["signal_name"] != "main"
    # an id the event's crossing version has no name for is shown as the id; none stays none
    with api.app.state.write_sessionmaker.begin() as s:
        s.execute(update(EventRow).where(EventRow.uid == seeded.events[1]).values(lane="left", signal_id=None))
    d = api.client.get(f"/api/events/{seeded.events[1]}", headers=h).json()
    assert (d["lane_name"], d["signal_name"]) == ("left", None)


def test_names_are_those_of_the_events_crossing_version(api):
    """A renamed lane (a new crossing version) does not rename what an older event was found in."""
    seeded = api.seed(events_per_crossing=1)
    data = yaml.safe_load(crossing_yaml("cx-a", "东城区"))
    data["lanes"][0]["name"] = "改名后的车道 renamed lane"
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    Repository(api.app.state.engine).upsert_crossing(parse_crossing(data, "cx-a"), text)
    d = api.client.get(f"/api/events/{seeded.events[0]}", headers=api.headers("reviewer")).json()
    assert d["lane_name"] != "改名后的车道 renamed lane" and d["lane_name"].startswith("Làn Giảng Võ")


def test_clip_says_where_the_violation_is(api):
    seeded = api.seed(events_per_crossing=3)
    h = api.headers("reviewer")
    uid = seeded.events[1]  # t = 600 s into its video
    # the seeded clip carries no comment: the offset is unknown, pictures never have one
    d = api.client.get(f"/api/events/{uid}", headers=h).json()
    assert _clip_of(d)["event_at_s"] is None
    assert all(x["event_at_s"] is None for x in d["evidence"] if x["kind"] != "clip")
    _replace_clip(api, uid, _clip(f"crosswatch evidence k; clip t=0 is video t={600 - 3.25:.6f} s"))
    d = api.client.get(f"/api/events/{uid}", headers=h).json()
    assert abs(_clip_of(d)["event_at_s"] - 3.25) < 1e-6
    # the review answer carries it too (the page keeps the detail a decision returns)
    r = api.client.post(f"/api/events/{uid}/review", json={"action": "confirm"}, headers=h)
    assert r.status_code == 200 and abs(_clip_of(r.json()["event"])["event_at_s"] - 3.25) < 1e-6
    # a clip starting after the event (never written so) is clamped to its start
    _replace_clip(api, seeded.events[2], _clip("clip t=0 is video t=1300.000000 s"))
    assert _clip_of(api.client.get(f"/api/events/{seeded.events[2]}", headers=h).json())["event_at_s"] == 0.0


def test_unreadable_clip_has_no_offset_and_no_error(api):
    seeded = api.seed(events_per_crossing=1)
    _replace_clip(api, seeded.events[0], b"not an mp4 at all")
    r = api.client.get(f"/api/events/{seeded.events[0]}", headers=api.headers("reviewer"))
    assert r.status_code == 200 and _clip_of(r.json())["event_at_s"] is None
