"""The review rule (`service.review_policy.decide`) on its own: no database, no HTTP client."""

from __future__ import annotations

import pytest

from service.review_policy import Decision, ReviewRefused, decide, decide_in_batch
from service.vocabulary import ReviewStatus


@pytest.mark.parametrize(
    "action,second,now,stage,by,user,want",
    [
        ("confirm", False, "pending", 0, None, "a", (1, "confirmed")),
        ("dismiss", False, "pending", 1, "a", "a", (1, "dismissed")),  # no second review: same user may redo
        ("confirm", True, "pending", 0, None, "a", (1, "pending")),
        ("dismiss", True, "pending", 0, None, "a", (1, "dismissed")),
        ("confirm", True, "pending", 1, "a", "b", (2, "confirmed")),
        ("needs_info", True, "pending", 1, "a", "b", (2, "needs_info")),
        ("confirm", True, "needs_info", 1, "a", "a", (1, "pending")),  # re-review after more info: stage 1 again
        ("confirm", True, "confirmed", 2, "b", "b", (1, "pending")),
    ],
)
def test_stage_and_status(action, second, now, stage, by, user, want):
    d = decide(action, second_review=second, status_now=now, stage_now=stage, reviewed_by=by, username=user)
    assert isinstance(d, Decision) and isinstance(d.status, ReviewStatus)
    assert (d.stage, d.status) == want


@pytest.mark.parametrize("action", ["confirm", "dismiss", "needs_info"])
def test_second_review_by_the_first_reviewer_is_refused(action):
    with pytest.raises(ReviewRefused, match="someone else"):
        decide(action, second_review=True, status_now="pending", stage_now=1, reviewed_by="a", username="a")


def test_unknown_action_is_an_error():
    with pytest.raises(ValueError):
        decide("approve", second_review=False, status_now="pending", stage_now=0, reviewed_by=None, username="a")


@pytest.mark.parametrize("second", [False, True])
def test_batch_dismisses_an_undecided_event_at_stage_one(second):
    d = decide_in_batch(
        "dismiss", second_review=second, status_now="pending", stage_now=0, reviewed_by=None, username="a"
    )
    assert (d.stage, d.status) == (1, ReviewStatus.DISMISSED)


@pytest.mark.parametrize(
    "action,second,now,stage,by,fragment",
    [
        ("confirm", False, "pending", 0, None, "only dismiss"),  # a penalty needs each event looked at
        ("confirm", True, "pending", 0, None, "only dismiss"),
        ("needs_info", False, "pending", 0, None, "only dismiss"),
        ("dismiss", False, "confirmed", 1, "b", "already decided (confirmed) by b"),  # decided meanwhile
        ("dismiss", False, "dismissed", 1, "b", "already decided"),
        ("dismiss", True, "pending", 1, "b", "b confirmed it at stage 1"),  # awaits its second review
        ("dismiss", False, "pending", 1, "b", "b confirmed it at stage 1"),
    ],
)
def test_batch_refuses_what_needs_a_look_of_its_own(action, second, now, stage, by, fragment):
    with pytest.raises(ReviewRefused, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        decide_in_batch(action, second_review=second, status_now=now, stage_now=stage, reviewed_by=by, username="a")
