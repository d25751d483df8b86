"""Batch dismissal on the history list (#/history?status=pending), in the browser: tick several
pending events by keyboard, pick ONE reason, dismiss them in one go — checked in the database
and the audit log; there is no batch confirmation anywhere; an event decided meanwhile is
reported as not dismissed. Every event it decides is sent back to the queue afterwards by the
supervisor's reopen (audited), so the review tests still find their queue. It works on the vn
clip's two events (whose history other modules already allow for), never on the hanoi ones, which
test_review expects untouched."""

from __future__ import annotations

import sqlite3

VN = "vn-rear-stopline"


def undecided(ui, crossing: str) -> list[str]:
    out = ui.get("reviewer", "/api/events", params={"crossing_id": crossing, "review_status": "pending", "limit": 50})
    return [e["uid"] for e in out["data"] if e["review_stage"] == 0]


def make_undecided(ui, crossing: str, n: int) -> list[str]:
    """At least `n` events of `crossing` waiting for their first decision (reopening decided ones)."""
    uids = undecided(ui, crossing)
    decided = ui.get("reviewer", "/api/events", params={"crossing_id": crossing, "review_status_not": "pending"})
    for e in decided["data"][: max(0, n - len(uids))]:
        r = ui.request("admin", "POST", f"/api/events/{e['uid']}/reopen", json={"comment": "UI test: batch needs it"})
        assert r.status_code == 200, r.text
    uids = undecided(ui, crossing)
    assert len(uids) >= n, uids
    return uids


def reopen(ui, uid: str) -> None:
    r = ui.request("admin", "POST", f"/api/events/{uid}/reopen", json={"comment": "UI test puts it back"})
    assert r.status_code in (200, 409), r.text  # 409: it was never decided


def db(ui, uid: str) -> tuple:
    with sqlite3.connect(ui.db_path) as c:
        status = c.execute("SELECT review_status, reviewed_by FROM events WHERE uid = ?", (uid,)).fetchone()
        last = c.execute(
            "SELECT r.action, r.reason_code FROM reviews r JOIN events e ON e.id = r.event_id WHERE e.uid = ? "
            "ORDER BY r.id DESC LIMIT 1",
            (uid,),
        ).fetchone()
        batch = c.execute(
            "SELECT json_extract(payload, '$.batch') FROM audit_log WHERE action = 'review' AND object_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (uid,),
        ).fetchone()
    return (*status, last, batch[0] if batch else None)


def test_dismiss_several_with_one_reason(ui, page_as, screenshot):
    first, second = make_undecided(ui, VN, 2)[:2]
    page = page_as("reviewer", f"history?status=pending&crossing_id={VN}")
    page.wait_for_selector("#history-batch:not([hidden])")
    assert page.locator("#history-batch-dismiss").is_disabled()  # nothing ticked, no reason
    # no batch confirmation anywhere on the page
    assert page.locator("button", has_text="确认").count() == 0
    assert page.locator("#history-batch-reason option[value='']").count() == 1

    # tick both by keyboard (focus the box, Space); untick one by mouse and tick it again
    page.focus(f"input.history-pick[data-uid='{first}']")
    page.keyboard.press("Space")
    page.focus(f"input.history-pick[data-uid='{second}']")
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => { const b = document.getElementById('history-batch'); return b && b.dataset.selected === '2'; }"
    )
    page.uncheck(f"input.history-pick[data-uid='{second}']")
    assert page.inner_text("#history-batch-count") == "已选 1 件"
    assert page.eval_on_selector("#history-select-all", "b => b.indeterminate") is True
    page.check(f"input.history-pick[data-uid='{second}']")
    assert page.inner_text("#history-batch-count") == "已选 2 件"
    assert page.locator("#history-batch-dismiss").is_disabled()  # still no reason
    page.select_option("#history-batch-reason", "other")
    assert page.locator("#history-batch-dismiss").is_disabled()  # "other" needs a comment
    assert page.inner_text("#history-batch-error") == "该理由需要填写说明"
    page.select_option("#history-batch-reason", "not_a_violation")
    assert page.inner_text("#history-batch-dismiss") == "批量驳回（2 件）"
    screenshot(page, "history-batch")

    # one of them is decided by a colleague meanwhile: the server refuses that one, says so
    r = ui.request("admin", "POST", f"/api/events/{second}/review", json={"action": "confirm"})
    assert r.status_code == 200, r.text
    try:
        page.click("#history-batch-dismiss")
        page.wait_for_function(
            "() => { const b = document.getElementById('history-batch'); return b && b.dataset.done === '1'; }"
        )
        assert db(ui, first) == ("dismissed", "reviewer", ("dismiss", "not_a_violation"), 2)
        assert db(ui, second)[:2] == ("confirmed", "admin")  # left as the colleague decided
        refused = page.locator(f"#history-batch-result li[data-uid='{second}']")
        assert refused.get_attribute("data-outcome") == "refused"
        assert "未处理" in refused.inner_text() and "already decided (confirmed)" in refused.inner_text()
        # the list was reloaded: the dismissed event left the pending list, nothing is ticked
        page.wait_for_function(f"() => !document.querySelector(\"#history-table tr[data-uid='{first}']\")")
        assert page.get_attribute("#history-batch", "data-selected") == "0"
        screenshot(page, "history-batch-done")
    finally:
        for uid in (first, second):
            reopen(ui, uid)
    assert db(ui, first)[0] == db(ui, second)[0] == "pending"


def test_review_page_links_to_the_batch_list(ui, page_as):
    make_undecided(ui, VN, 1)
    page = page_as("reviewer", f"review?crossing_id={VN}")
    page.wait_for_selector("#review-event:not([hidden])")
    href = page.get_attribute("#review-batch-link", "href")
    assert href == f"#/history?status=pending&crossing_id={VN}"
    page.click("#review-batch-link")
    page.wait_for_selector("#history-batch:not([hidden])")
    assert page.eval_on_selector("#hs-status", "s => s.value") == "pending"


def test_english_batch_bar(ui, page_as):
    make_undecided(ui, VN, 1)
    page = page_as("reviewer", f"history?status=pending&crossing_id={VN}", lang="en")
    page.wait_for_selector("#history-batch:not([hidden])")
    assert page.inner_text("#history-batch-dismiss") == "Dismiss 0 in batch"
    assert "never in batch" in page.inner_text("#history-batch")
