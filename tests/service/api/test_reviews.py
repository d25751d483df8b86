"""Reviews: the reason table, body validation, roles/scope, single review, overrides, and the
two-person second review (the same user may not do both stages)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.models import AuditRow, EventRow, ReviewRow
from service.vocabulary import REASON_LABELS

from .test_events import BACKENDS, make_world


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """One seeded app per backend for this module; tests that review take their own event
    (`world.fresh()`), the others only read or are refused before anything is written."""
    yield from make_world(request.param, tmp_path_factory.mktemp("reviews"), events_per_crossing=10)


REQUIRED_REASONS = {
    "signal_not_red",
    "not_same_road_user",
    "exempt_lane",
    "emergency_vehicle",
    "duplicate",
    "not_a_violation",
    "evidence_unclear",
    "other",
}


def _review(api, uid: str, headers, **body):
    return api.client.post(f"/api/events/{uid}/review", json=body, headers=headers)


@pytest.mark.parametrize("role", ["operator", "analyst", "reviewer", "admin"])
def test_reason_table_for_any_logged_in_user(world, role):
    r = world.get("/api/reviews/reasons", role)
    assert r.status_code == 200
    table = {x["code"]: x for x in r.json()}
    assert REQUIRED_REASONS <= set(table)
    assert all(x["zh"] and x["en"] and x["zh"] != x["en"] for x in table.values())
    assert [c for c, x in table.items() if x["comment_required"]] == ["other"]
    assert world.api.client.get("/api/reviews/reasons").status_code == 401


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"action": "dismiss"}, "needs a reason_code"),
        ({"action": "needs_info", "comment": "blurry"}, "needs a reason_code"),
        ({"action": "dismiss", "reason_code": "too_fast"}, "signal_not_red"),  # unknown: the 422 lists the table
        ({"action": "dismiss", "reason_code": "other"}, "needs a comment"),
        ({"action": "dismiss", "reason_code": "other", "comment": "   "}, "needs a comment"),
        ({"action": "confirm", "reason_code": "duplicate"}, "takes no reason_code"),
        ({"action": "approve"}, "confirm"),
        ({"action": "confirm", "stage": 2}, "extra"),
        ({"action": "confirm", "comment": "x" * 2001}, "2000"),
        ({}, "action"),
        ({"action": "dismiss", "reason_code": "other", "comment": "a\x00b"}, "pattern"),  # PostgreSQL text has no NUL
    ],
)
def test_bad_review_bodies_are_422(world, body, fragment):
    uid = world.by_key("cx-a-2")["uid"]
    r = _review(world.api, uid, world.headers("reviewer"), **body)
    assert r.status_code == 422, r.text
    assert fragment in r.text


@pytest.mark.parametrize(
    "role,scope,uid_key,code",
    [
        ("analyst", {}, "cx-a-2", 403),
        ("operator", {}, "cx-a-2", 403),
        ("reviewer", {"districts": ["西城区"]}, "cx-a-2", 404),  # out of scope: as if it did not exist
        ("reviewer", {}, None, 404),
        ("reviewer", {}, "../../etc/passwd", 404),
    ],
)
def test_review_roles_and_scope(world, role, scope, uid_key, code):
    if uid_key is None:
        uid = uuid.uuid4().hex
    elif uid_key.startswith("cx-"):
        uid = world.by_key(uid_key)["uid"]
    else:
        uid = uid_key
    r = _review(world.api, uid, world.headers(role, **scope), action="confirm")
    assert r.status_code == code, r.text
    assert world.get(f"/api/events/{world.by_key('cx-a-2')['uid']}").json()["review_status"] == "pending"


def _trail(w, uid: str) -> tuple[int, int]:
    """(review rows, audit entries) of one event."""
    with w.api.app.state.sessionmaker() as s:
        event_id = s.scalar(select(EventRow.id).where(EventRow.uid == uid))
        return (
            s.scalar(select(func.count()).select_from(ReviewRow).where(ReviewRow.event_id == event_id)),
            s.scalar(
                select(func.count()).select_from(AuditRow).where(AuditRow.action == "review", AuditRow.object_id == uid)
            ),
        )


def _only(row) -> dict[str, str]:
    """Filters matching exactly this event (its crossing and its minute), to look at the queue."""
    t = row["occurred_at"]
    return {"crossing_id": row["crossing_id"], "from": t.isoformat(), "to": (t + timedelta(seconds=1)).isoformat()}


@pytest.fixture
def second_review(world):
    """Second review on for one test (the app reads its settings per request)."""
    state = world.api.app.state
    before = state.settings
    state.settings = before.model_copy(update={"second_review": True})
    yield
    state.settings = before


@pytest.mark.parametrize(
    "body,status",
    [
        ({"action": "confirm"}, "confirmed"),
        ({"action": "confirm", "comment": "clear on the clip"}, "confirmed"),
        ({"action": "dismiss", "reason_code": "emergency_vehicle"}, "dismissed"),
        (
            {"action": "dismiss", "reason_code": "other", "comment": "funeral procession escorted by police"},
            "dismissed",
        ),
        ({"action": "needs_info", "reason_code": "evidence_unclear"}, "needs_info"),
    ],
)
def test_single_review_sets_status_history_and_audit(world, body, status):
    row = world.fresh()
    uid = row["uid"]
    h = world.headers("reviewer", username="police1")
    assert world.get("/api/events/next", params=_only(row)).json()["event"]["uid"] == uid
    r = _review(world.api, uid, h, **body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["review"]["stage"] == 1 and res["review"]["action"] == body["action"]
    assert res["review"]["username"] == "police1" and res["review"]["comment"] == body.get("comment")
    code = body.get("reason_code")
    assert res["review"]["reason"] == (dict(zip(("zh", "en"), REASON_LABELS[code])) if code else None)
    ev = world.get(f"/api/events/{uid}").json()
    assert (ev["review_status"], ev["review_stage"], ev["reviewed_by"]) == (status, 1, "police1")
    assert ev["reviewed_at"] is not None and len(ev["reviews"]) == 1
    assert res["event"] == ev
    assert _trail(world, uid) == (1, 1)
    with world.api.app.state.sessionmaker() as s:
        entry = s.scalars(select(AuditRow).where(AuditRow.action == "review", AuditRow.object_id == uid)).one()
    assert (entry.actor, entry.object_type) == ("police1", "event")
    assert entry.payload["action"] == body["action"] and entry.payload["reason_code"] == code
    assert entry.payload["previous_status"] == "pending" and entry.payload["status"] == status
    # the status filter now finds it; the queue no longer offers it
    listed = world.get("/api/events", params={"review_status": status, "limit": 500}).json()["data"]
    assert uid in {e["uid"] for e in listed}
    assert world.get("/api/events/next", params=_only(row)).json()["event"] is None


def test_later_review_overrides_and_history_keeps_all(world):
    uid = world.fresh()["uid"]
    h1, h2 = world.headers("reviewer", username="p1"), world.headers("reviewer", username="p2")
    steps = [
        (h1, {"action": "needs_info", "reason_code": "evidence_unclear"}, "needs_info"),
        (h2, {"action": "confirm"}, "confirmed"),
        (h1, {"action": "dismiss", "reason_code": "duplicate"}, "dismissed"),
    ]
    for h, body, status in steps:
        r = _review(world.api, uid, h, **body)
        assert r.status_code == 200 and r.json()["event"]["review_status"] == status
    ev = world.get(f"/api/events/{uid}").json()
    assert [x["action"] for x in ev["reviews"]] == ["needs_info", "confirm", "dismiss"]
    assert [x["username"] for x in ev["reviews"]] == ["p1", "p2", "p1"]
    assert (ev["review_stage"], ev["reviewed_by"]) == (1, "p1")
    assert _trail(world, uid) == (3, 3)


@pytest.mark.parametrize(
    "second,status",
    [
        ({"action": "confirm"}, "confirmed"),
        ({"action": "dismiss", "reason_code": "signal_not_red"}, "dismissed"),
        ({"action": "needs_info", "reason_code": "not_same_road_user"}, "needs_info"),
    ],
)
def test_second_review_needs_a_different_person(world, second_review, second, status):
    row = world.fresh()
    uid = row["uid"]
    h1, h2 = world.headers("reviewer", username="first"), world.headers("reviewer", username="second")

    r = _review(world.api, uid, h1, action="confirm")
    assert r.status_code == 200
    ev = r.json()["event"]
    assert (ev["review_status"], ev["review_stage"], ev["reviewed_by"]) == ("pending", 1, "first")
    # the first reviewer's queue skips it (they cannot do stage 2); the second's offers it
    assert world.api.client.get("/api/events/next", params=_only(row), headers=h1).json()["event"] is None
    assert world.api.client.get("/api/events/next", params=_only(row), headers=h2).json()["event"]["uid"] == uid

    r = _review(world.api, uid, h1, **second)
    assert r.status_code == 409 and "someone else" in r.json()["detail"]
    assert _trail(world, uid) == (1, 1)  # the refused attempt left no trace but its 409

    r = _review(world.api, uid, h2, **second)
    assert r.status_code == 200, r.text
    ev = r.json()["event"]
    assert (ev["review_status"], ev["review_stage"], ev["reviewed_by"]) == (status, 2, "second")
    assert [(x["stage"], x["username"]) for x in ev["reviews"]] == [(1, "first"), (2, "second")]
    assert _trail(world, uid) == (2, 2)


def test_second_review_dismissal_at_stage_one_is_final(world, second_review):
    uid = world.fresh()["uid"]
    r = _review(world.api, uid, world.headers("reviewer"), action="dismiss", reason_code="exempt_lane")
    ev = r.json()["event"]
    assert (ev["review_status"], ev["review_stage"]) == ("dismissed", 1)


def test_supervisor_reopens_a_decision_audited(world):
    """退回重审: an admin sends a confirmed event back to the queue; the decision stays in its
    history, the audit log says who, why and what it was; the history/search filters find it."""
    row = world.fresh()
    uid = row["uid"]
    assert _review(world.api, uid, world.headers("reviewer", username="police7"), action="confirm").status_code == 200
    by_prefix = world.get("/api/events", params={"uid_prefix": uid[:8]}).json()["data"]
    assert uid in {e["uid"] for e in by_prefix} and all(e["uid"].startswith(uid[:8]) for e in by_prefix)
    assert world.get("/api/events", params={"uid_prefix": "ab%"}).status_code == 422
    decided = world.get("/api/events", params={"reviewed_by": "police7", "review_status_not": "pending"}).json()
    assert uid in {e["uid"] for e in decided["data"]}
    assert all(e["reviewed_by"] == "police7" and e["review_status"] != "pending" for e in decided["data"])
    admin = world.headers("admin", username="chief")
    assert world.api.client.post(f"/api/events/{uid}/reopen", json={"comment": "  "}, headers=admin).status_code == 422
    assert world.api.client.post(f"/api/events/{uid}/reopen", json={}, headers=admin).status_code == 422
    r = world.api.client.post(
        f"/api/events/{uid}/reopen", json={"comment": "plate unreadable, look again"}, headers=admin
    )
    assert r.status_code == 200, r.text
    ev = r.json()
    assert (ev["review_status"], ev["review_stage"], ev["reviewed_by"], ev["reviewed_at"]) == ("pending", 0, None, None)
    assert [x["action"] for x in ev["reviews"]] == ["confirm"]  # the decision is kept
    assert world.get("/api/events/next", params=_only(row)).json()["event"]["uid"] == uid  # back in the queue
    with world.api.app.state.sessionmaker() as s:
        entry = s.scalars(select(AuditRow).where(AuditRow.action == "review_reopen", AuditRow.object_id == uid)).one()
    assert entry.actor == "chief" and entry.payload == {
        "previous_status": "confirmed",
        "previous_stage": 1,
        "previous_reviewed_by": "police7",
        "comment": "plate unreadable, look again",
    }
    again = world.api.client.post(f"/api/events/{uid}/reopen", json={"comment": "again"}, headers=admin)
    assert again.status_code == 409  # nothing decided to reopen
    assert (
        world.api.client.post(
            f"/api/events/{uid}/reopen", json={"comment": "x"}, headers=world.headers("reviewer")
        ).status_code
        == 403
    )
