"""Audit log endpoints: reviews are appended to the chain, the list is newest first and admin-only,
and verify finds an edited or deleted row (tampered directly in the database, as a DBA could).

One seeded app per backend for the module; each tamper case puts the row back afterwards and
checks the chain verifies again, so the cases stay independent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from service.models import AuditRow

from .test_events import BACKENDS, World, make_world

BODIES = [
    {"action": "confirm"},
    {"action": "dismiss", "reason_code": "duplicate"},
    {"action": "needs_info", "reason_code": "other", "comment": "plate hidden"},
]


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from make_world(request.param, tmp_path_factory.mktemp("audit"), events_per_crossing=3, vary=False)


@pytest.fixture(scope="module")
def reviewed(world) -> list[dict[str, Any]]:
    """Three reviews by `police` on three events; their audit rows (as dicts), oldest first."""
    h = world.headers("reviewer", username="police")
    uids = [world.fresh(keep=())["uid"] for _ in BODIES]
    for uid, body in zip(uids, BODIES):
        assert world.api.client.post(f"/api/events/{uid}/review", json=body, headers=h).status_code == 200
    with world.api.app.state.sessionmaker() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "review").order_by(AuditRow.id)).all()
        return [{c.key: getattr(r, c.key) for c in AuditRow.__table__.columns} for r in rows]


def _verify(world) -> dict[str, Any]:
    r = world.get("/api/audit/verify", "admin")
    assert r.status_code == 200
    return r.json()


def test_reviews_are_listed_newest_first_and_verify(world, reviewed):
    uids = [e["object_id"] for e in reviewed]
    body = world.get("/api/audit", "admin", {"action": "review"}).json()
    assert body["count"] == 3
    assert [e["object_id"] for e in body["data"]] == uids[::-1]
    assert [e["payload"]["action"] for e in body["data"]] == ["needs_info", "dismiss", "confirm"]
    newest = body["data"][0]
    assert newest["payload"]["comment"] == "plate hidden" and newest["actor"] == "police"
    assert newest["payload"]["stage"] == 1 and newest["payload"]["previous_status"] == "pending"
    assert newest["prev_hash"] == body["data"][1]["hash"]  # chained

    page = world.get("/api/audit", "admin", {"action": "review", "limit": 1, "offset": 1}).json()
    assert page["count"] == 3 and [e["object_id"] for e in page["data"]] == [uids[1]]
    assert world.get("/api/audit", "admin", {"object_id": uids[2]}).json()["count"] == 1
    assert world.get("/api/audit", "admin", {"actor": "nobody"}).json() == {"data": [], "count": 0}

    total = world.get("/api/audit", "admin").json()["count"]
    assert _verify(world) == {"ok": True, "entries": total, "first_bad_id": None, "reason": None}


@pytest.mark.parametrize(
    "tamper,bad_index,reason",
    [
        ("edit_payload", 1, "entry changed"),  # the edited entry itself no longer hashes right
        ("edit_actor", 0, "entry changed"),
        ("edit_time", 2, "entry changed"),
        ("delete", 2, "removed or inserted"),  # the entry after the gap no longer chains
    ],
)
def test_verify_reports_the_first_tampered_entry(world, reviewed, tamper, bad_index, reason):
    target = reviewed[1] if tamper in ("edit_payload", "delete") else reviewed[bad_index]
    engine = world.api.app.state.engine
    changes = {
        "edit_payload": {"payload": {**target["payload"], "action": "confirm"}},
        "edit_actor": {"actor": "somebody-else"},
        "edit_time": {"at": target["at"].replace(year=target["at"].year - 1)},
    }
    with engine.begin() as c:
        if tamper == "delete":
            c.execute(delete(AuditRow).where(AuditRow.id == target["id"]))
        else:
            c.execute(update(AuditRow).where(AuditRow.id == target["id"]).values(**changes[tamper]))
    try:
        report = _verify(world)
        assert report["ok"] is False
        assert report["first_bad_id"] == reviewed[bad_index]["id"]
        assert reason in report["reason"]
        # entries before the bad one were verified
        with world.api.app.state.sessionmaker() as s:
            earlier = s.scalars(select(AuditRow.id).where(AuditRow.id < reviewed[bad_index]["id"])).all()
        assert report["entries"] == len(earlier)
    finally:  # put the row back exactly: the chain verifies again
        with engine.begin() as c:
            c.execute(delete(AuditRow).where(AuditRow.id == target["id"]))
            c.execute(insert(AuditRow).values(**target))
    assert _verify(world)["ok"] is True


@pytest.mark.parametrize("role,code", [("reviewer", 403), ("analyst", 403), ("operator", 403), (None, 401)])
def test_audit_is_admin_only(world, role, code):
    headers = world.headers(role) if role else {}
    for path in ("/api/audit", "/api/audit/verify"):
        assert world.api.client.get(path, headers=headers).status_code == code


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"actor": "x" * 65}, {"object_id": "a\x00"}]
)
def test_audit_bad_paging_is_422(world, params):
    assert world.get("/api/audit", "admin", params).status_code == 422
