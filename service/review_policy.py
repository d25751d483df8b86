"""The review rule: which stage a review is and which status it leaves the event in.

Pure (no database, no HTTP): `decide` returns a `Decision` or raises `ReviewRefused`; the API
maps the refusal to 409. Why the rule is what it is: see `service.api.routes.reviews`."""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import STATUS_AFTER, ReviewAction, ReviewStatus


class ReviewRefused(Exception):
    """The review may not be made (the message says why)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Decision:
    stage: int  # 1 first review, 2 second review
    status: ReviewStatus  # the event's review status after it


def decide(
    action: str, *, second_review: bool, status_now: str, stage_now: int, reviewed_by: str | None, username: str
) -> Decision:
    """The stage and new status of `username` doing `action` on an event now at `status_now` /
    `stage_now`, last reviewed by `reviewed_by`.

    Without second review every review is stage 1 and takes effect at once. With it, a stage-1
    confirmation leaves the event pending at stage 1, and the next review is stage 2, by someone
    else (`ReviewRefused` for the same user); a dismissal or needs-info takes effect at once."""
    act = ReviewAction(action)
    awaiting_second = second_review and status_now == ReviewStatus.PENDING and stage_now == 1
    if not awaiting_second:
        if second_review and act is ReviewAction.CONFIRM:
            return Decision(1, ReviewStatus.PENDING)  # a confirmation waits for a second reviewer
        return Decision(1, STATUS_AFTER[act])
    if reviewed_by == username:
        raise ReviewRefused("you confirmed this event at stage 1; the second review must be someone else's")
    return Decision(2, STATUS_AFTER[act])


BATCH_ACTIONS = frozenset({ReviewAction.DISMISS})


def decide_in_batch(
    action: str, *, second_review: bool, status_now: str, stage_now: int, reviewed_by: str | None, username: str
) -> Decision:
    """`decide` for one event of a batch (several events, one reason: the clear false alarms).

    A batch only dismisses, and only events still waiting for their first decision: a
    confirmation (a penalty) needs each event looked at; an event decided meanwhile, or one a
    colleague confirmed and that awaits its second review, is decided on its own (`ReviewRefused`)."""
    act = ReviewAction(action)
    if act not in BATCH_ACTIONS:
        raise ReviewRefused(f"a batch can only dismiss; {act.value} needs each event looked at on its own")
    if status_now != ReviewStatus.PENDING:
        raise ReviewRefused(f"already decided ({status_now}) by {reviewed_by or 'someone'}: decide it on its own")
    if stage_now != 0:
        raise ReviewRefused(f"{reviewed_by or 'someone'} confirmed it at stage 1: its second review is done on its own")
    return decide(
        action,
        second_review=second_review,
        status_now=status_now,
        stage_now=stage_now,
        reviewed_by=reviewed_by,
        username=username,
    )
