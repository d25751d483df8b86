"""The review desk around a decision, in the browser: 撤销 (undo) from the toast brings the event
back as it was (checked in the database and the audit log); with second review on, the second
reviewer sees the first decision, its reviewer and comment (初审意见); and the history page shows
the workload per reviewer equal to /api/reviews/workload. Every event used is restored afterwards."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from test_review import open_review, shown_uid

VN = "vn-rear-stopline"


def db_state(ui, uid: str) -> tuple:
    with sqlite3.connect(ui.db_path) as c:
        status = c.execute(
            "SELECT review_status, review_stage, reviewed_by FROM events WHERE uid = ?", (uid,)
        ).fetchone()
        reviews = c.execute(
            "SELECT r.action FROM reviews r JOIN events e ON e.id = r.event_id WHERE e.uid = ?", (uid,)
        ).fetchall()
        undo = c.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'review_undo' AND object_id = ?", (uid,)
        ).fetchone()[0]
    return (*status, len(reviews), undo)


def restore(ui, uid: str) -> None:
    """The event back to pending with no decisions (the audit log keeps what happened)."""
    with sqlite3.connect(ui.db_path) as c:
        c.execute("DELETE FROM reviews WHERE event_id = (SELECT id FROM events WHERE uid = ?)", (uid,))
        c.execute(
            "UPDATE events SET review_status = 'pending', review_stage = 0, reviewed_by = NULL, "
            "reviewed_at = NULL WHERE uid = ?",
            (uid,),
        )


@contextmanager
def second_review_on(ui):
    state = ui.app.state
    before = state.settings
    state.settings = before.model_copy(update={"second_review": True})
    try:
        yield
    finally:
        state.settings = before


def test_undo_from_the_toast_brings_the_event_back(ui, page_as, screenshot):
    page = open_review(page_as, VN)
    uid = shown_uid(page)
    before = db_state(ui, uid)
    # pending; it may hold an earlier decision if a supervisor sent it back (退回重审, test_history)
    assert before[:3] == ("pending", 0, None)
    remaining = page.inner_text("#review-remaining")
    try:
        page.keyboard.press("c")
        page.wait_for_selector("#review-undo")
        # the next event, or the end of the queue when this was the last pending one (earlier
        # modules of the suite decide most of the clip's events)
        page.wait_for_function(
            f"(document.getElementById('review-composite')?.dataset.uid ?? {uid!r}) !== {uid!r}"
            " || document.getElementById('review-empty')?.hidden === false"
        )
        assert db_state(ui, uid)[:4] == ("confirmed", 1, "reviewer", before[3] + 1)
        screenshot(page, "review-undo-toast")
        page.keyboard.press("u")  # the toast's button, by keyboard
        page.wait_for_function(f"document.getElementById('review-composite')?.dataset.uid === {uid!r}")
        page.wait_for_selector("#review-status .badge-pending")
        assert db_state(ui, uid) == ("pending", 0, None, before[3], before[4] + 1)
        assert page.inner_text("#review-remaining") == remaining
        if before[3] == 0:
            assert page.locator("#review-history li.muted").count() == 1  # no decision left in its history
        assert page.locator("#review-undo").count() == 0
    finally:
        restore(ui, uid)


def test_undo_button_is_gone_after_the_window(ui, page_as):
    page = open_review(page_as, VN)
    uid = shown_uid(page)
    try:
        page.keyboard.press("c")
        page.wait_for_selector("#review-undo")
        page.wait_for_selector("#review-undo", state="detached", timeout=15000)
        assert db_state(ui, uid)[0] == "confirmed"
    finally:
        restore(ui, uid)


def test_second_reviewer_sees_the_first_decision(ui, page_as, screenshot):
    uid = ui.get("admin", "/api/events/next", params={"crossing_id": VN})["event"]["uid"]
    with second_review_on(ui):
        try:
            r = ui.request(
                "reviewer",
                "POST",
                f"/api/events/{uid}/review",
                json={"action": "confirm", "comment": "<b>车牌清楚</b>"},
            )
            assert r.status_code == 200 and r.json()["event"]["review_stage"] == 1, r.text
            page = page_as("admin", f"review?crossing_id={VN}")
            page.wait_for_selector("#review-composite[data-uid]", state="attached")
            assert shown_uid(page) == uid
            box = page.locator("#review-first-decision")
            box.wait_for()
            assert box.locator(".rv-first-action").inner_text() == "确认"
            assert page.inner_text("#review-status .badge") == "待复审"
            assert box.locator(".rv-first-user").inner_text() == "reviewer"
            assert box.locator(".rv-first-comment").inner_text() == "说明：“<b>车牌清楚</b>”"  # shown as text
            assert box.locator("b").count() == 0 and "null" not in box.inner_text()
            assert box.locator(".rv-first-reason").count() == 0  # a confirmation has no reason
            screenshot(page, "review-second-stage")
            page.keyboard.press("c")  # the second reviewer confirms: final
            page.wait_for_selector("#review-undo")
            assert db_state(ui, uid)[:3] == ("confirmed", 2, "admin")
            page.click("#review-undo")  # and takes it back: awaiting the second review again
            page.wait_for_function(f"document.getElementById('review-composite')?.dataset.uid === {uid!r}")
            box.wait_for()
            assert db_state(ui, uid)[:4] == ("pending", 1, "reviewer", 1)
        finally:
            restore(ui, uid)


def test_history_shows_the_workload_per_reviewer(ui, page_as, screenshot):
    uid = ui.get("reviewer", "/api/events/next", params={"crossing_id": VN})["event"]["uid"]
    try:
        assert (
            ui.request(
                "reviewer", "POST", f"/api/events/{uid}/review", json={"action": "dismiss", "reason_code": "duplicate"}
            ).status_code
            == 200
        )
        page = page_as("admin", "history")
        table = page.locator("#workload-table")
        table.wait_for()
        w = ui.get("admin", "/api/reviews/workload")
        shown = {
            row.get_attribute("data-user"): row.locator("[data-col='total']").inner_text()
            for row in table.locator("tbody tr").all()
        }
        assert shown == {r["username"]: f"{r['decisions']:,}" for r in w["rows"]}
        row = table.locator("tbody tr[data-user='reviewer']")
        api_row = next(r for r in w["rows"] if r["username"] == "reviewer")
        assert row.locator("[data-col='dismiss']").inner_text() == str(api_row["by_action"]["dismiss"])
        assert row.locator("[data-col='first']").inner_text() == str(api_row["first_stage"])
        table.scroll_into_view_if_needed()
        screenshot(page, "history-workload")
    finally:
        restore(ui, uid)
