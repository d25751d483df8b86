"""Search and review history (#/history) in the browser: the 已审核 list (every decided event, last
decided first) equals the API, filters and the id search find events, and a supervisor (admin)
sends a decision back to the queue (退回重审) with a reason — audited, the decision kept in the
event's history. The event used is put back to pending by that very reopen, so the review tests
still find their queue."""

from __future__ import annotations

VN = "vn-rear-stopline"


def rows(page) -> list[tuple[str, str]]:
    return [
        tuple(r)
        for r in page.eval_on_selector_all(
            "#history-table tbody tr[data-uid]", "rs => rs.map(r => [r.dataset.uid, r.dataset.status])"
        )
    ]


def test_reviewed_list_search_and_supervisor_reopen(page_as, ui, screenshot):
    uid = ui.get("reviewer", "/api/events", params={"crossing_id": VN, "sort": "-occurred_at", "limit": 1})["data"][0][
        "uid"
    ]
    assert ui.get("reviewer", f"/api/events/{uid}")["review_status"] == "pending"
    r = ui.request(
        "reviewer", "POST", f"/api/events/{uid}/review", json={"action": "dismiss", "reason_code": "duplicate"}
    )
    assert r.status_code == 200, r.text

    # reviewer: the 已审核 list, newest decision first, equals the API
    page = page_as("reviewer", "history")
    page.wait_for_selector("#history-table")
    api = ui.get(
        "reviewer", "/api/events", params={"review_status_not": "pending", "sort": "-reviewed_at", "limit": 50}
    )
    assert rows(page) == [(e["uid"], e["review_status"]) for e in api["data"]]
    assert rows(page)[0] == (uid, "dismissed")
    assert page.get_attribute("#history-list", "data-count") == str(api["count"])
    screenshot(page, "history")

    # filters: reviewer + type + class; then the id search opens the event, without 退回重审 for a reviewer
    page.fill("#hs-reviewer", "reviewer")
    page.select_option("#hs-class", "motorcycle")
    page.click("#hs-search")
    page.wait_for_function("location.hash.includes('reviewed_by=reviewer')")
    page.wait_for_selector("#history-table")
    want = ui.get(
        "reviewer",
        "/api/events",
        params={
            "review_status_not": "pending",
            "reviewed_by": "reviewer",
            "class_name": "motorcycle",
            "sort": "-reviewed_at",
        },
    )
    page.wait_for_function(f"document.getElementById('history-list')?.dataset.count === '{want['count']}'")
    assert [u for u, _ in rows(page)] == [e["uid"] for e in want["data"]]
    page.click("#hs-clear")
    page.wait_for_selector("#hs-uid")
    page.fill("#hs-uid", uid)
    page.click("#hs-search")
    page.wait_for_selector(f"#history-detail[data-uid='{uid}']")
    assert rows(page) == [(uid, "dismissed")]
    assert "重复事件" in page.locator("#history-reviews").inner_text()
    assert page.locator("#history-reopen").count() == 0  # only a supervisor reopens

    page.fill("#hs-uid", uid[:8])  # the start of the id, as the list shows it
    page.click("#hs-search")
    page.wait_for_function(f"location.hash.includes('uid={uid[:8]}&') || location.hash.endsWith('uid={uid[:8]}')")
    page.wait_for_function("document.getElementById('history-list')?.dataset.count === '1'")
    assert rows(page) == [(uid, "dismissed")]
    page.wait_for_selector(f"#history-detail[data-uid='{uid}']")  # the one event found opens beside the list

    # supervisor: 退回重审 needs a reason; then the event is pending again, its decision kept, audited
    admin = page_as("admin", f"history?uid={uid}")
    admin.wait_for_selector(f"#history-detail[data-uid='{uid}'] #history-reopen")
    admin.click("#history-reopen-submit")
    assert admin.locator("#history-reopen-error").inner_text() == "请填写退回重审的原因"
    admin.fill("#history-reopen-comment", "车辆不是同一辆，请重新核对")
    screenshot(admin, "history-reopen")
    admin.click("#history-reopen-submit")
    admin.wait_for_selector("#history-reopened")
    assert admin.locator("#history-reopen").count() == 0
    ev = ui.get("admin", f"/api/events/{uid}")
    assert (ev["review_status"], ev["reviewed_by"]) == ("pending", None)
    assert [x["action"] for x in ev["reviews"]][-1] == "dismiss"
    entry = ui.get("admin", "/api/audit", params={"action": "review_reopen", "object_id": uid})["data"][0]
    assert entry["actor"] == "admin" and entry["payload"]["comment"] == "车辆不是同一辆，请重新核对"
    assert entry["payload"]["previous_status"] == "dismissed"
    assert rows(admin) == [(uid, "pending")]
