"""Case packages: a complete, verifiable zip of confirmed events, or nothing at all."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from service import audit, security
from service.case_package import MANIFEST, README, _file_names
from service.evidence_store import EvidenceRef
from service.models import AuditRow, EventRow, EvidenceFileRow, ReviewRow

URL = "/api/exports/case-package"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    """Tables here log in a user per row; argon2's production cost (~0.5 s a hash on this machine)
    is not what is under test, so accounts made in these tests use the cheapest parameters."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def set_status(api, uids: list[str], status: str, *, with_review: bool = True) -> None:
    """Review outcome written straight into the database (the review API is built elsewhere)."""
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    with api.app.state.write_sessionmaker() as s:
        s.execute(
            update(EventRow)
            .where(EventRow.uid.in_(uids))
            .values(review_status=status, review_stage=1, reviewed_by="officer1", reviewed_at=at)
        )
        if with_review and status != "pending":
            action = {"confirmed": "confirm", "dismissed": "dismiss", "needs_info": "needs_info"}[status]
            for eid in s.scalars(select(EventRow.id).where(EventRow.uid.in_(uids))):
                s.add(
                    ReviewRow(
                        event_id=eid,
                        stage=1,
                        action=action,
                        reason_code=None,
                        comment="看清楚了 clear",
                        username="officer1",
                        at=at,
                    )
                )
        for uid in uids:  # as the review API does: the audit log says what the event's status is
            audit.append(
                s,
                actor="officer1",
                action="review",
                object_type="event",
                object_id=uid,
                at=at,
                payload={"status": status, "stage": 1},
            )
        s.commit()


def evidence_rows(api, event_uid: str) -> list[EvidenceFileRow]:
    with api.app.state.sessionmaker() as s:
        return list(
            s.scalars(
                select(EvidenceFileRow)
                .join(EventRow, EventRow.id == EvidenceFileRow.event_id)
                .where(EventRow.uid == event_uid)
                .order_by(EvidenceFileRow.id)
            )
        )


def audit_entries(api, action: str) -> list[AuditRow]:
    with api.app.state.sessionmaker() as s:
        return list(s.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


def test_package_is_complete_and_verifies(api, tmp_path):
    seeded = api.seed(events_per_crossing=2)
    a0, a1, b0, _ = seeded.events  # cx-a: 0, 1; cx-b: 0, 1
    chosen = [b0, a0, a1]
    set_status(api, chosen, "confirmed")
    r = api.client.post(URL, headers=api.headers("reviewer"), json={"event_uids": chosen + [a0]})  # a0 twice
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith('attachment; filename="case-package-')
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None
    names = zf.namelist()

    # the manifest lists every file but itself, and every line checks out (sha256sum -c in Python)
    manifest = zf.read(MANIFEST)
    listed = [line.split("  ", 1) for line in manifest.decode().splitlines()]
    assert sorted(n for _, n in listed) == sorted(n for n in names if n != MANIFEST)
    for sha, name in listed:
        assert hashlib.sha256(zf.read(name)).hexdigest() == sha, name
    manifest_sha = hashlib.sha256(manifest).hexdigest()
    assert r.headers["x-manifest-sha256"] == manifest_sha

    # folders, event.json and the evidence bytes
    assert {n.split("/")[0] for n in names if "/" in n} == set(chosen)
    readme = zf.read(README).decode()
    assert "sha256sum -c MANIFEST.sha256" in readme and "校验" in readme and "verify" in readme
    for uid in chosen:
        doc = json.loads(zf.read(f"{uid}/event.json"))
        rows = evidence_rows(api, uid)
        cid = "cx-a" if uid in (a0, a1) else "cx-b"
        assert doc["uid"] == uid and doc["review_status"] == "confirmed" and doc["reviewed_by"] == "officer1"
        assert doc["crossing"]["id"] == cid
        assert doc["crossing"]["district"] == {"cx-a": "东城区", "cx-b": "西城区"}[cid]
        assert doc["crossing"]["name"] == f"路口 {cid}"
        assert doc["type"] in ("red_light", "wrong_way") and set(doc["type_label"]) == {"zh", "en"}
        assert doc["occurred_at"].startswith("2026-03-02T08:")
        assert set(doc["box"]) == {"x1", "y1", "x2", "y2"}
        assert [(v["action"], v["username"], v["comment"]) for v in doc["reviews"]] == [
            ("confirm", "officer1", "看清楚了 clear")
        ]
        assert [(e["uid"], e["sha256"], e["size"]) for e in doc["evidence"]] == [
            (f.uid, f.sha256, f.size) for f in rows
        ]
        assert sorted(e["file"] for e in doc["evidence"]) == [f"{uid}/clip.mp4", f"{uid}/composite.jpg"]
        for e, f in zip(doc["evidence"], rows, strict=True):
            assert zf.read(e["file"]) == (api.evidence_dir / f.relpath).read_bytes()

    entries = audit_entries(api, "case_package_export")
    assert len(entries) == 1 and entries[0].object_id == manifest_sha
    assert entries[0].payload["event_uids"] == chosen and entries[0].payload["manifest_sha256"] == manifest_sha
    with api.app.state.sessionmaker() as s:
        assert audit.verify(s).ok

    if shutil.which("sha256sum"):  # the README's own instructions, for real
        out = tmp_path / "unzipped"
        zf.extractall(out)
        done = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=out, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": OK") == len(listed)


# (label, who, body maker, status, check of the JSON answer)
def _refusals(ev: dict[str, str]):
    pending, dismissed, needs, ok_a, ok_b = ev["pending"], ev["dismissed"], ev["needs"], ev["ok_a"], ev["ok_b"]
    return [
        (
            "pending",
            ("reviewer", {}),
            {"event_uids": [ok_a, pending]},
            422,
            lambda d: (
                [(x["event_uid"], x["review_status"], x["loc"]) for x in d]
                == [(pending, "pending", ["body", "event_uids", 1])]
                and set(d[0]["reason"]) == {"zh", "en"}
            ),
        ),
        (
            "dismissed+needs",
            ("reviewer", {}),
            {"event_uids": [dismissed, ok_a, needs]},
            422,
            lambda d: (
                [(x["event_uid"], x["review_status"]) for x in d] == [(dismissed, "dismissed"), (needs, "needs_info")]
            ),
        ),
        (
            "unknown",
            ("reviewer", {}),
            {"event_uids": [ok_a, "f" * 32]},
            404,
            lambda d: d == f"event(s) not found: {'f' * 32}",
        ),
        (
            "out-of-scope",
            ("reviewer", {"districts": ["东城区"]}),
            {"event_uids": [ok_a, ok_b]},
            404,
            lambda d: d == f"event(s) not found: {ok_b}",
        ),
        (
            "out-of-scope-crossing",
            ("analyst", {"evidence_access": True, "crossing_ids": ["cx-b"]}),
            {"event_uids": [ok_a]},
            404,
            lambda d: ok_a in d,
        ),
        ("unknown-before-pending", ("reviewer", {}), {"event_uids": [pending, "0" * 32]}, 404, lambda d: "0" * 32 in d),
        (
            "malformed",
            ("reviewer", {}),
            {"event_uids": ["../../etc/passwd"]},
            422,
            lambda d: d[0]["loc"][-2:] == ["event_uids", 0],
        ),
        ("uppercase", ("reviewer", {}), {"event_uids": [ok_a.upper()]}, 422, lambda d: True),
        ("empty", ("reviewer", {}), {"event_uids": []}, 422, lambda d: d[0]["loc"] == ["body", "event_uids"]),
        (
            "too-many",
            ("reviewer", {}),
            {"event_uids": [ok_a] * 201},
            422,
            lambda d: d[0]["loc"] == ["body", "event_uids"],
        ),
        (
            "extra-field",
            ("reviewer", {}),
            {"event_uids": [ok_a], "all": True},
            422,
            lambda d: d[0]["type"] == "extra_forbidden",
        ),
        (
            "analyst-no-evidence",
            ("analyst", {}),
            {"event_uids": [ok_a]},
            403,
            lambda d: d == "no access to raw evidence",
        ),
        ("operator", ("operator", {}), {"event_uids": [ok_a]}, 403, lambda d: True),
        ("anonymous", (None, {}), {"event_uids": [ok_a]}, 401, lambda d: True),
        ("analyst-with-evidence", ("analyst", {"evidence_access": True}), {"event_uids": [ok_a, ok_b]}, 200, None),
        ("admin", ("admin", {}), {"event_uids": [ok_b]}, 200, None),
    ]


def test_refusals_table(api):
    seeded = api.seed(events_per_crossing=3)
    a, b = seeded.events[:3], seeded.events[3:]
    ev = {"ok_a": a[0], "pending": a[1], "dismissed": a[2], "ok_b": b[0], "needs": b[1]}
    set_status(api, [ev["ok_a"], ev["ok_b"]], "confirmed")
    set_status(api, [ev["dismissed"]], "dismissed")
    set_status(api, [ev["needs"]], "needs_info")
    logins: dict[str, dict[str, str]] = {}  # one login per user: password hashing is slow on purpose
    for label, (role, scope), body, code, check in _refusals(ev):
        key = repr((role, scope))
        if key not in logins:
            logins[key] = api.headers(role, **scope) if role else {}
        h = logins[key]
        r = api.client.post(URL, headers=h, json=body)
        assert r.status_code == code, (label, r.status_code, r.text[:300])
        if check is not None:
            assert check(r.json()["detail"]), (label, r.json())
        else:
            assert zipfile.ZipFile(io.BytesIO(r.content)).testzip() is None, label
    assert len(audit_entries(api, "case_package_export")) == 2  # only the two that succeeded


def _flip(p):
    data = bytearray(p.read_bytes())
    data[7] ^= 0x40
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage,code,action",
    [
        (_flip, 409, "evidence_integrity_failure"),
        (lambda p: p.unlink(), 410, "evidence_missing"),
    ],
    ids=["tampered", "missing"],
)
def test_damaged_evidence_aborts_the_package(api, damage, code, action):
    seeded = api.seed(events_per_crossing=2)
    chosen = seeded.events[:3]
    set_status(api, chosen, "confirmed")
    victim = evidence_rows(api, chosen[1])[-1]  # the second event's clip: the zip is half written
    damage(api.evidence_dir / victim.relpath)
    r = api.client.post(URL, headers=api.headers("reviewer"), json={"event_uids": chosen})
    assert r.status_code == code
    assert r.headers["content-type"] == "application/json" and r.content[:2] != b"PK"
    assert [e.object_id for e in audit_entries(api, action)] == [victim.uid]
    assert audit_entries(api, "case_package_export") == []


@pytest.mark.parametrize(
    "relpaths,want",
    [
        (["cx/e/composite.jpg", "cx/e/clip.mp4"], ["composite.jpg", "clip.mp4"]),
        (["a/clip.mp4", "b/clip.mp4"], ["clip.mp4", "{1}-clip.mp4"]),  # same base name twice
        (["a/路口.jpg"], ["composite-{0}"]),  # not plain ASCII
        (["a/event.json"], ["composite-{0}"]),  # would overwrite the event document
        (["a/.hidden"], ["composite-{0}"]),
    ],
)
def test_file_names_are_safe_and_unique(relpaths, want):
    refs = [
        EvidenceRef(
            uid=f"{i:032x}",
            event_uid="e" * 32,
            crossing_id="cx",
            kind="composite",
            relpath=rp,
            sha256="0" * 64,
            size=0,
            mime="image/jpeg",
        )
        for i, rp in enumerate(relpaths)
    ]
    assert _file_names(refs) == [w.format(*(r.uid for r in refs)) for w in want]
