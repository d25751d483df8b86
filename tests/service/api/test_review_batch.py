"""Batch dismissal (`POST /api/events/review-batch`): several pending events, one reason, one
outcome per event; never a confirmation; the single review's policy, roles, scope and audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from service.models import AuditRow, EventRow, ReviewRow
from service.review_policy import ReviewRefused, decide_in_batch

from .test_events import BACKENDS, make_world

URL = "/api/events/review-batch"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """One seeded app per backend; tests that decide take their own events (`world.fresh()`)."""
    yield from make_world(request.param, tmp_path_factory.mktemp("batch"), events_per_crossing=14)


@pytest.fixture
def second_review(world):
    state = world.api.app.state
    before = state.settings
    state.settings = before.model_copy(update={"second_review": True})
    yield
    state.settings = before


def _batch(world, headers, **body):
    return world.api.client.post(URL, json=body, headers=headers)


def _fresh(world, n: int) -> list[str]:
    """`n` dated pending events no other test decides."""
    return [world.fresh(keep=("cx-a-2", "cx-b-6"))["uid"] for _ in range(n)]


def _status(world, uid: str) -> tuple[str, int, str | None]:
    with world.api.app.state.sessionmaker() as s:
        e = s.scalars(select(EventRow).where(EventRow.uid == uid)).one()
        return e.review_status, e.review_stage, e.reviewed_by


def _audits(world, uid: str) -> list[dict]:
    with world.api.app.state.sessionmaker() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "review", AuditRow.object_id == uid)).all()
        return [{**r.payload, "actor": r.actor} for r in rows]


def test_dismisses_each_with_one_reason_audited(world):
    uids = _fresh(world, 3)
    h = world.headers("reviewer", username="batcher")
    r = _batch(world, h, uids=uids + [uids[0]], action="dismiss", reason_code="duplicate", comment="  same rider  ")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dismissed"] == 3
    assert [x["uid"] for x in out["results"]] == uids  # a repeated id counts once, order kept
    assert all(x["outcome"] == "dismissed" and x["review_status"] == "dismissed" for x in out["results"])
    for uid, item in zip(uids, out["results"]):
        assert _status(world, uid) == ("dismissed", 1, "batcher")
        (entry,) = _audits(world, uid)
        assert entry["actor"] == "batcher" and entry["batch"] == 3 and entry["review_id"] == item["review_id"]
        assert (entry["action"], entry["reason_code"], entry["comment"]) == ("dismiss", "duplicate", "same rider")
        assert (entry["previous_status"], entry["status"]) == ("pending", "dismissed")
        ev = world.get(f"/api/events/{uid}").json()
        assert [(x["action"], x["reason_code"], x["username"]) for x in ev["reviews"]] == [
            ("dismiss", "duplicate", "batcher")
        ]


def test_per_event_outcomes_decided_missing_and_out_of_scope(world):
    pending, decided = _fresh(world, 2)
    other = world.by_key("cx-b-6")["uid"]  # 西城区
    h = world.headers("reviewer", username="police-a")
    assert (
        world.api.client.post(f"/api/events/{decided}/review", json={"action": "confirm"}, headers=h).status_code == 200
    )
    ghost = uuid.uuid4().hex
    scoped = world.headers("reviewer", districts=["东城区"], username="police-dc")
    r = _batch(world, scoped, uids=[pending, decided, ghost, other], action="dismiss", reason_code="not_a_violation")
    assert r.status_code == 200, r.text
    out = {x["uid"]: x for x in r.json()["results"]}
    assert r.json()["dismissed"] == 1
    assert out[pending]["outcome"] == "dismissed"
    assert out[decided]["outcome"] == "refused" and "already decided (confirmed)" in out[decided]["detail"]
    assert out[decided]["review_status"] == "confirmed"
    assert out[ghost] == {**out[ghost], "outcome": "not_found", "review_status": None}
    assert out[other]["outcome"] == "not_found"  # out of scope looks like missing
    assert _status(world, decided) == ("confirmed", 1, "police-a")  # left as it was
    assert _status(world, other)[0] == "pending"


def test_second_review_rules_hold(world, second_review):
    awaiting, plain = _fresh(world, 2)
    h1, h2 = world.headers("reviewer", username="first"), world.headers("reviewer", username="second")
    r = world.api.client.post(f"/api/events/{awaiting}/review", json={"action": "confirm"}, headers=h1)
    assert r.json()["event"]["review_status"] == "pending"  # waits for its second review
    r = _batch(world, h2, uids=[awaiting, plain], action="dismiss", reason_code="evidence_unclear")
    out = {x["uid"]: x for x in r.json()["results"]}
    assert out[awaiting]["outcome"] == "refused" and "first confirmed it at stage 1" in out[awaiting]["detail"]
    assert _status(world, awaiting) == ("pending", 1, "first")
    assert out[plain]["outcome"] == "dismissed" and _status(world, plain) == ("dismissed", 1, "second")


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"action": "confirm", "reason_code": "duplicate"}, "a batch can only dismiss; confirm needs each event"),
        ({"action": "needs_info", "reason_code": "duplicate"}, "a batch can only dismiss"),
        ({"action": "approve", "reason_code": "duplicate"}, "dismiss"),
        ({"action": "dismiss"}, "reason_code"),
        ({"action": "dismiss", "reason_code": "too_fast"}, "signal_not_red"),  # the 422 lists the table
        ({"action": "dismiss", "reason_code": "other"}, "needs a comment"),
        ({"action": "dismiss", "reason_code": "other", "comment": " "}, "needs a comment"),
        ({"action": "dismiss", "reason_code": "duplicate", "comment": "x" * 2001}, "2000"),
        ({"action": "dismiss", "reason_code": "duplicate", "stage": 2}, "extra"),
        ({"action": "dismiss", "reason_code": "duplicate", "uids": []}, "at least 1"),
        ({"action": "dismiss", "reason_code": "duplicate", "uids": ["../../etc/passwd"]}, "pattern"),
        ({"action": "dismiss", "reason_code": "duplicate", "uids": "abc"}, "list"),
        ({"action": "dismiss", "reason_code": "duplicate", "uids": [uuid.uuid4().hex for _ in range(101)]}, "100"),
        ({"action": "dismiss", "reason_code": "duplicate", "comment": "a\x00b"}, "pattern"),
    ],
)
def test_bad_bodies_are_422_and_change_nothing(world, body, fragment):
    uid = world.by_key("cx-a-2")["uid"]
    payload = {"uids": [uid], **body}
    r = world.api.client.post(URL, json=payload, headers=world.headers("reviewer"))
    assert r.status_code == 422, r.text
    assert fragment in r.text
    assert _status(world, uid)[0] == "pending"


def test_not_json_is_422(world):
    r = world.api.client.post(
        URL, content=b"{not json", headers={**world.headers("reviewer"), "Content-Type": "application/json"}
    )
    assert r.status_code == 422


@pytest.mark.parametrize("role,code", [("analyst", 403), ("operator", 403), (None, 401)])
def test_only_reviewers_and_admins(world, role, code):
    uid = world.by_key("cx-a-2")["uid"]
    headers = world.headers(role) if role else {}
    r = world.api.client.post(
        URL, json={"uids": [uid], "action": "dismiss", "reason_code": "duplicate"}, headers=headers
    )
    assert r.status_code == code
    assert _status(world, uid)[0] == "pending"


def test_admin_may_batch_dismiss(world):
    (uid,) = _fresh(world, 1)
    r = _batch(world, world.headers("admin", username="chief"), uids=[uid], action="dismiss", reason_code="duplicate")
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "dismissed"


def test_a_batch_decision_can_be_undone_like_a_single_one(world):
    (uid,) = _fresh(world, 1)
    h = world.headers("reviewer", username="undoer")
    item = _batch(world, h, uids=[uid], action="dismiss", reason_code="duplicate").json()["results"][0]
    r = world.api.client.post(f"/api/events/{uid}/review/undo", json={"review_id": item["review_id"]}, headers=h)
    assert r.status_code == 200, r.text
    assert _status(world, uid) == ("pending", 0, None)
    with world.api.app.state.sessionmaker() as s:
        assert s.scalar(select(ReviewRow).where(ReviewRow.id == item["review_id"])) is None


def test_policy_refusal_is_the_pure_rule():
    with pytest.raises(ReviewRefused):
        decide_in_batch(
            "confirm", second_review=False, status_now="pending", stage_now=0, reviewed_by=None, username="a"
        )
