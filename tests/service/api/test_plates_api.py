"""Plates, violation codes and the anti-forgery code through the API and the CLI: the reviewer's
correction (422 when implausible, audited with both values, machine reading kept), the `plate=`
filter, CSV/XLSX exports and the case package carry it; `verify` (API and `crosswatch verify`) passes
on sealed evidence and fails on a flipped byte in a picture or an edited event row."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import openpyxl
import pytest
from sqlalchemy import select, update

from detector.evidence.seal import anti_forgery_code, evidence_seal
from service.models import AuditRow, EventRow
from service.repository import Repository
from service.run_records import EventRecord
from service.verify import row_fields

from .test_case_package import URL as PACKAGE_URL
from .test_case_package import set_status

KEY = "k" * 40


@pytest.fixture(autouse=True)
def _evidence_key(monkeypatch):
    monkeypatch.setenv("CROSSWATCH_EVIDENCE_KEY", KEY)


def _seal_event(api, uid: str, plate: str | None = "29B112345") -> None:
    """Give a seeded event a machine plate reading, a code, and a real anti-forgery code + seal."""
    with api.app.state.write_sessionmaker() as s:
        e = s.scalar(select(EventRow).where(EventRow.uid == uid))
        e.plate_status, e.plate_text, e.plate_display = ("read" if plate else "not_read"), plate, plate
        e.plate_colour, e.plate_confidence, e.violation_code = "blue", 0.91, "1625"
        e.legal_basis = "《中华人民共和国道路交通安全法》第二十六条、第三十八条"
        fields = row_fields(e)  # the verifier's own reading of a row
        hashes = {f.kind: f.sha256 for f in e.evidence}
        e.anti_forgery_code = anti_forgery_code(KEY.encode(), fields, hashes)
        e.evidence_seal = evidence_seal(KEY.encode(), fields, hashes, e.anti_forgery_code)
        s.commit()


def test_record_carries_plate_and_code_fields(api):
    """EventRecord.from_violation takes the evidence stage's plate, code and seal (duck-typed)."""
    from detector.codes import ViolationCode
    from detector.plates import PlateReading
    from detector.types import SignalState, ViolationEvent, ViolationType

    ev = ViolationEvent(
        ViolationType.RED_LIGHT, 3, "car", 2.0, 60, (1, 2, 3, 4), "approach", "main", SignalState.RED, "lamp", 1.5
    )
    ev.plate = PlateReading("苏ED51712", "苏E·D51712", "CN", "new_energy", "green", 0.83, "1 of 1 pictures agree")
    ev.code = ViolationCode("1625", "16250", "驾驶机动车违反道路交通信号灯通行的", "第二十六条", "motor")
    ev.anti_forgery, ev.evidence_seal = "ABCDE-FGHIJ", "0" * 64
    rec = EventRecord.from_violation(ev)
    assert (rec.plate_status, rec.plate_text, rec.plate_colour, rec.plate_confidence) == (
        "read",
        "苏ED51712",
        "green",
        0.83,
    )
    assert (rec.violation_code, rec.violation_full_code, rec.anti_forgery_code) == ("1625", "16250", "ABCDE-FGHIJ")
    ev.plate = PlateReading(None, reason="plate too small to read (22x13 px)")
    rec = EventRecord.from_violation(ev)
    assert (rec.plate_status, rec.plate_text, rec.plate_reason) == (
        "not_read",
        None,
        "plate too small to read (22x13 px)",
    )


def test_reviewer_corrects_a_plate(api):
    seeded = api.seed(events_per_crossing=2)
    uid, other = seeded.events[0], seeded.events[1]
    _seal_event(api, uid, plate="29B112346")  # the machine misread the last digit
    _seal_event(api, other, plate=None)
    h = api.headers("reviewer")

    listed = api.client.get("/api/events", params={"plate": "29B11234"}, headers=h).json()
    assert [e["uid"] for e in listed["data"]] == [uid] and listed["data"][0]["plate"] == "29B112346"

    for bad, why in (("hello", "fits no known plate format"), ("", "at least 1 character"), ("AB", "2 characters")):
        r = api.client.put(f"/api/events/{uid}/plate", json={"plate": bad}, headers=h)
        assert r.status_code == 422 and why in r.text, (bad, r.text)
    assert (
        api.client.put(
            f"/api/events/{uid}/plate", json={"plate": "29-B1 123.45"}, headers=api.headers("analyst")
        ).status_code
        == 403
    )

    r = api.client.put(f"/api/events/{uid}/plate", json={"plate": "29-B1 123.45"}, headers=h)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["plate"], d["plate_text"], d["plate_corrected"]) == ("29B112345", "29B112346", "29B112345")
    assert d["plate_corrected_by"] and d["violation_code"] == "1625" and d["anti_forgery_code"]

    with api.app.state.sessionmaker() as s:
        entry = s.scalars(select(AuditRow).where(AuditRow.action == "plate_correction")).one()
    assert entry.object_id == uid
    assert (entry.payload["machine_reading"], entry.payload["corrected"]) == ("29B112346", "29B112345")

    # searchable by the corrected plate, no longer by the misreading
    assert [
        e["uid"] for e in api.client.get("/api/events", params={"plate": "29-B1 123.45"}, headers=h).json()["data"]
    ] == [uid]
    assert api.client.get("/api/events", params={"plate": "29B112346"}, headers=h).json()["count"] == 0

    rows = list(
        csv.DictReader(
            io.StringIO(
                api.client.get("/api/exports/events.csv", params={"lang": "en"}, headers=h).content.decode("utf-8-sig")
            )
        )
    )
    by_uid = {r["Event ID"]: r for r in rows}
    assert by_uid[uid]["Plate"] == "29B112345" and by_uid[uid]["Plate (machine reading)"] == "29B112346"
    assert by_uid[other]["Plate"] == "not read" and by_uid[uid]["Violation code"] == "1625"
    wb = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/api/exports/events.xlsx", params={"lang": "en"}, headers=h).content)
    )
    header = [c.value for c in next(wb.active.iter_rows(max_row=1))]
    values = {r[header.index("Event ID")]: r for r in wb.active.iter_rows(min_row=2, values_only=True)}
    assert values[uid][header.index("Plate")] == "29B112345"

    set_status(api, [uid], "confirmed")
    pkg = api.client.post(PACKAGE_URL, headers=h, json={"event_uids": [uid]})
    assert pkg.status_code == 200, pkg.text
    doc = json.loads(zipfile.ZipFile(io.BytesIO(pkg.content)).read(f"{uid}/event.json"))
    assert doc["plate"]["plate"] == "29B112345" and doc["plate"]["machine_reading"] == "29B112346"
    assert doc["violation"]["code"] == "1625" and doc["anti_forgery_code"] == d["anti_forgery_code"]

    # the correction is not a sealed field: the evidence still verifies
    assert api.client.get(f"/api/events/{uid}/verify", headers=h).json()["ok"] is True


def _flip_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_fails_on_a_flipped_byte_and_an_edited_row(api, capsys):
    from service.cli import main

    seeded = api.seed(events_per_crossing=2)
    a, b = seeded.events[0], seeded.events[2]
    _seal_event(api, a)
    _seal_event(api, b)
    h = api.headers("reviewer")
    assert api.client.get(f"/api/events/{a}/verify", headers=h).json() == {
        "uid": a,
        "ok": True,
        "anti_forgery_code": api.client.get(f"/api/events/{a}", headers=h).json()["anti_forgery_code"],
        "problems": [],
    }
    cli = ["verify", "--db", api.settings.db_url, "--evidence-dir", str(api.evidence_dir)]
    assert main(cli) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out

    with api.app.state.sessionmaker() as s:
        composite = next(
            f for f in s.scalar(select(EventRow).where(EventRow.uid == a)).evidence if f.kind == "composite"
        )
    _flip_byte(api.evidence_dir / composite.relpath)
    r = api.client.get(f"/api/events/{a}/verify", headers=h).json()
    assert r["ok"] is False and any("composite changed" in p for p in r["problems"])

    with api.app.state.write_sessionmaker() as s:  # someone edits the row: the time of the event
        s.execute(update(EventRow).where(EventRow.uid == b).values(t=EventRow.t + 1.0))
        s.commit()
    r = api.client.get(f"/api/events/{b}/verify", headers=h).json()
    assert r["ok"] is False and "anti-forgery code does not match the files and the event row" in r["problems"]
    assert main(cli) == 1
    out = capsys.readouterr().out
    assert f"{a}: FAILED" in out and f"{b}: FAILED" in out and "0 passed, 2 failed" in out


def test_verify_needs_the_right_key(api, monkeypatch):
    seeded = api.seed(events_per_crossing=1)
    uid = seeded.events[0]
    _seal_event(api, uid)
    h = api.headers("reviewer")
    assert api.client.get(f"/api/events/{uid}/verify", headers=h).json()["ok"] is True
    monkeypatch.setenv("CROSSWATCH_EVIDENCE_KEY", "another key entirely, also 40 characters!!")
    assert api.client.get(f"/api/events/{uid}/verify", headers=h).json()["ok"] is False


def test_repository_stores_the_new_fields(api):
    repo = Repository(api.app.state.engine)
    seeded = api.seed(events_per_crossing=1)
    info = repo.run_events(seeded.run_ids[0])[0]
    assert info.plate is None and info.plate_status is None and info.violation_code is None
