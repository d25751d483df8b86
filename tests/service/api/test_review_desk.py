"""Undo of a decision (same reviewer, within UNDO_WINDOW_S, latest decision only; restores the
state before, audited) and the workload per reviewer (by stage and action, scoped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from service.models import AuditRow, EventRow, ReviewRow

from .test_events import BACKENDS, make_world


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    # vary=False: every event starts pending, so the audit chain check below judges only what the tests do
    yield from make_world(request.param, tmp_path_factory.mktemp("desk"), events_per_crossing=10, vary=False)


@pytest.fixture
def second_review(world):
    state = world.api.app.state
    before = state.settings
    state.settings = before.model_copy(update={"second_review": True})
    yield
    state.settings = before


def _review(world, uid, role="reviewer", username=None, **body):
    h = world.api.headers(role, username=username) if username else world.headers(role)
    return world.api.client.post(f"/api/events/{uid}/review", json=body, headers=h)


def _undo(world, uid, review_id, role="reviewer", username=None):
    h = world.api.headers(role, username=username) if username else world.headers(role)
    return world.api.client.post(f"/api/events/{uid}/review/undo", json={"review_id": review_id}, headers=h)


def _event(world, uid):
    with world.api.app.state.sessionmaker() as s:
        return s.scalars(select(EventRow).where(EventRow.uid == uid)).one()


def test_undo_restores_pending_and_is_audited(world):
    uid = world.fresh()["uid"]
    r = _review(world, uid, action="dismiss", reason_code="duplicate")
    assert r.status_code == 200, r.text
    review_id = r.json()["review"]["id"]
    assert r.json()["event"]["reviews"][-1]["id"] == review_id
    r = _undo(world, uid, review_id)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["review_status"], d["review_stage"], d["reviewed_by"], d["reviewed_at"], d["reviews"]) == (
        "pending",
        0,
        None,
        None,
        [],
    )
    e = _event(world, uid)
    assert (e.review_status, e.review_stage, e.reviewed_by) == ("pending", 0, None)
    with world.api.app.state.sessionmaker() as s:
        entry = s.scalars(select(AuditRow).where(AuditRow.object_id == uid, AuditRow.action == "review_undo")).one()
        assert entry.payload["review_id"] == review_id and entry.payload["action"] == "dismiss"
        assert entry.payload["restored_status"] == "pending" and entry.actor == world.api.user("reviewer")
        assert s.scalars(select(AuditRow).where(AuditRow.object_id == uid, AuditRow.action == "review")).first()
    verify = world.get("/api/audit/verify", role="admin").json()
    assert verify["ok"] is True, verify
    assert _undo(world, uid, review_id).status_code == 409  # gone: nothing left to undo


def test_undo_restores_an_earlier_decision(world):
    uid = world.fresh()["uid"]
    first = _review(world, uid, action="needs_info", reason_code="evidence_unclear").json()
    second = _review(world, uid, action="confirm").json()
    assert _undo(world, uid, first["review"]["id"]).status_code == 409  # not the latest decision
    d = _undo(world, uid, second["review"]["id"]).json()
    assert (d["review_status"], d["review_stage"], d["reviewed_by"]) == ("needs_info", 1, first["event"]["reviewed_by"])
    assert datetime.fromisoformat(d["reviewed_at"]) == datetime.fromisoformat(first["event"]["reviewed_at"])
    assert [r["id"] for r in d["reviews"]] == [first["review"]["id"]]


def test_undo_only_own_and_only_within_the_window(world):
    uid = world.fresh()["uid"]
    rid = _review(world, uid, action="confirm").json()["review"]["id"]
    other = _undo(world, uid, rid, username="reviewer-other")
    assert other.status_code == 409 and "only the reviewer who decided" in other.json()["detail"]
    with world.api.app.state.write_sessionmaker.begin() as s:
        s.execute(update(ReviewRow).where(ReviewRow.id == rid).values(at=datetime.now(UTC) - timedelta(seconds=11)))
    late = _undo(world, uid, rid)
    assert late.status_code == 409 and "退回重审" in late.json()["detail"]
    assert _event(world, uid).review_status == "confirmed"


@pytest.mark.parametrize("role,code", [("analyst", 403), ("operator", 403)])
def test_undo_roles(world, role, code):
    uid = world.fresh()["uid"]
    rid = _review(world, uid, action="confirm").json()["review"]["id"]
    assert _undo(world, uid, rid, role=role).status_code == code
    assert _undo(world, "0" * 32, rid).status_code == 404
    bad = world.api.client.post(
        f"/api/events/{uid}/review/undo", json={"review_id": "x"}, headers=world.headers("reviewer")
    )
    assert bad.status_code == 422


def test_second_stage_undo_goes_back_to_awaiting_second_review(world, second_review):
    uid = world.fresh()["uid"]
    r1 = _review(world, uid, action="confirm").json()
    assert (r1["event"]["review_status"], r1["event"]["review_stage"]) == ("pending", 1)
    r2 = _review(world, uid, username="second-rev", action="dismiss", reason_code="not_a_violation")
    assert r2.status_code == 200, r2.text
    assert r2.json()["event"]["review_stage"] == 2
    d = _undo(world, uid, r2.json()["review"]["id"], username="second-rev").json()
    assert (d["review_status"], d["review_stage"], d["reviewed_by"]) == ("pending", 1, world.api.user("reviewer"))


def test_workload_per_reviewer_by_stage(world, second_review):
    start = datetime.now(UTC) - timedelta(seconds=1)
    a, b = world.fresh()["uid"], world.fresh()["uid"]
    for uid in (a, b):
        assert _review(world, uid, username="wl-first", action="confirm").status_code == 200
    assert _review(world, a, username="wl-second", action="confirm").status_code == 200
    params = {"from": start.isoformat(), "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    for role in ("reviewer", "analyst", "admin"):
        w = world.get("/api/reviews/workload", role=role, params=params).json()
        rows = {r["username"]: r for r in w["rows"]}
        assert (rows["wl-first"]["decisions"], rows["wl-first"]["first_stage"], rows["wl-first"]["second_stage"]) == (
            2,
            2,
            0,
        )
        assert (rows["wl-second"]["second_stage"], rows["wl-second"]["by_action"]["confirm"]) == (1, 1)
        assert w["total"] == sum(r["decisions"] for r in w["rows"])
    assert world.get("/api/reviews/workload", role="operator").status_code == 403
    assert world.get("/api/reviews/workload", params={"from": params["to"], "to": params["from"]}).status_code == 422
    # a reviewer limited to the other district sees none of these decisions
    other = next(
        r["district"]
        for r in world.rows
        if r["uid"] not in (a, b) and r["district"] != next(x["district"] for x in world.rows if x["uid"] == a)
    )
    scoped = world.get("/api/reviews/workload", params=params, districts=[other]).json()
    assert "wl-second" not in {r["username"] for r in scoped["rows"]}
