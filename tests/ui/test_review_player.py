"""The review page's clip player and facts, in the browser, on the real processed clips: the clip
opens at the moment of the violation with a marker on its timeline there (M goes back to it, the
bar seeks), V shows it large and Esc puts it back; lane, stop line and signal are shown by the
names in the crossing file (not config ids); the confidence line only when it says something.

Decides nothing. An event it needs pending is sent back by the supervisor's reopen (audited), and
a confidence it changes is put back, so the other UI tests see the data as they expect."""

from __future__ import annotations

import sqlite3

import yaml
from test_review import open_review, shown_uid

from detector import assets

VN = "vn-rear-stopline"
VIDEO = "document.getElementById('review-clip')"


def ensure_pending(ui, crossing: str) -> None:
    """At least one event of `crossing` waiting for its first decision (reopened if need be)."""
    pending = ui.get("reviewer", "/api/events", params={"crossing_id": crossing, "review_status": "pending"})
    if any(e["review_stage"] == 0 for e in pending["data"]):
        return
    decided = ui.get("reviewer", "/api/events", params={"crossing_id": crossing, "review_status_not": "pending"})
    uid = decided["data"][0]["uid"]
    r = ui.request("admin", "POST", f"/api/events/{uid}/reopen", json={"comment": "UI test: the player needs one"})
    assert r.status_code == 200, r.text


def clip_of(ui, uid: str) -> dict:
    return next(x for x in ui.get("reviewer", f"/api/events/{uid}")["evidence"] if x["kind"] == "clip")


def current_time(page) -> float:
    return float(page.evaluate(f"{VIDEO}.currentTime"))


def wait_opened(page) -> None:
    page.wait_for_function(
        "() => { const v = document.getElementById('review-clip'); const m = document.getElementById('review-mark');"
        " return v && m && v.readyState >= 1 && !m.hidden; }",
        timeout=15000,
    )


def test_clip_opens_at_the_violation_with_a_marker(ui, page_as, screenshot):
    ensure_pending(ui, VN)
    page = open_review(page_as, VN)
    uid = shown_uid(page)
    mark = clip_of(ui, uid)["event_at_s"]
    assert mark is not None and mark > 0.5  # the recorder starts the clip seconds before the event
    wait_opened(page)
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - {mark}) < 0.05")  # opened at the moment
    # the marker sits at mark / duration of the bar's width
    geo = page.evaluate(
        "() => { const b = document.getElementById('review-timeline').getBoundingClientRect();"
        " const m = document.getElementById('review-mark').getBoundingClientRect();"
        f" return {{left: b.left, width: b.width, mid: m.left + m.width / 2, duration: {VIDEO}.duration}}; }}"
    )
    expected = geo["left"] + geo["width"] * mark / geo["duration"]
    assert abs(geo["mid"] - expected) < 3, geo
    assert page.get_attribute("#review-mark", "data-at") == str(mark)
    assert f"违法时刻 {mark:.2f} 秒" in page.inner_text("#review-clip-time")
    screenshot(page, "review-player")

    # frame step away, M comes back; a click at the bar's start seeks there
    page.keyboard.press(".")
    page.wait_for_function(f"{VIDEO}.currentTime > {mark} + 0.001")
    page.keyboard.press("m")
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - {mark}) < 0.001")
    page.mouse.click(geo["left"] + 2, page.locator("#review-timeline").bounding_box()["y"] + 7)
    page.wait_for_function(f"{VIDEO}.currentTime < {mark} - 0.3")

    # V: the same clip large, at the moment; Esc puts it back
    small = page.locator("#review-clip").bounding_box()
    page.keyboard.press("v")
    page.wait_for_selector("#review-player.rv-player-large")
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - {mark}) < 0.001")
    large = page.locator("#review-clip").bounding_box()
    assert large["width"] * large["height"] > 4 * small["width"] * small["height"], (small, large)
    assert page.get_attribute("#review-large", "aria-pressed") == "true"
    assert page.locator("#review-mark").is_visible()
    page.keyboard.press("Space")  # the player keys work in the large player
    page.wait_for_function(f"!{VIDEO}.paused")
    page.keyboard.press("Space")
    page.wait_for_function(f"{VIDEO}.paused")
    page.keyboard.press("m")
    screenshot(page, "review-player-large")
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('review-player').classList.contains('rv-player-large')")
    assert page.locator("#review-clip").bounding_box()["width"] < large["width"]
    page.keyboard.press("?")
    help_text = page.inner_text("#review-help")
    assert "跳到违法时刻" in help_text and "大窗播放" in help_text


def test_english_player_labels(ui, page_as):
    ensure_pending(ui, VN)
    page = page_as("reviewer", f"review?crossing_id={VN}", lang="en")
    page.wait_for_selector("#review-composite[data-uid]", state="attached")
    wait_opened(page)
    assert page.inner_text("#review-to-mark").startswith("Go to the violation")
    assert page.inner_text("#review-large").startswith("Large player")
    assert "violation at" in page.inner_text("#review-clip-time")


def facts(page) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "#review-facts dt", "ds => ds.map(d => [d.textContent, d.nextElementSibling.textContent])"
        )
    )


def test_facts_show_the_names_from_the_crossing_file_and_no_idle_confidence(ui, page_as):
    ensure_pending(ui, VN)
    cfg = yaml.safe_load(assets.sample_crossing("vn_rear_stopline").read_text())
    page = open_review(page_as, VN)
    uid = shown_uid(page)
    d = ui.get("reviewer", f"/api/events/{uid}")
    assert (d["lane"], d["stop_line"], d["signal_id"], d["confidence"]) == ("approach", "main", "main", 1.0)
    f = facts(page)
    assert f["车道"] == cfg["lanes"][0]["name"]
    assert f["停止线"] == cfg["stop_lines"][0]["name"]
    assert f["信号灯"] == cfg["signals"][0]["name"] == "右上方主信号灯 main signal, top right"
    assert page.get_attribute("#review-facts dd span[data-id='approach']", "title") == "approach"
    assert "置信度" not in f  # 100 %: no information, no line

    # a confidence below 1 says something: shown (the value is put back afterwards)
    with sqlite3.connect(ui.db_path) as c:
        c.execute("UPDATE events SET confidence = 0.62 WHERE uid = ?", (uid,))
    try:
        page.reload()
        ui.wait_ready(page)
        page.wait_for_function(f"document.getElementById('review-composite').dataset.uid === {uid!r}")
        page.wait_for_selector("#review-facts dt")
        assert facts(page).get("置信度") == "62%"
    finally:
        with sqlite3.connect(ui.db_path) as c:
            c.execute("UPDATE events SET confidence = 1.0 WHERE uid = ?", (uid,))


def test_history_detail_shows_the_names(ui, page_as, screenshot):
    uid = ui.get("reviewer", "/api/events", params={"crossing_id": VN, "limit": 1})["data"][0]["uid"]
    page = page_as("reviewer", f"history?uid={uid}&status=all")
    page.wait_for_selector("#history-detail:not([hidden]) dt")
    text = page.inner_text("#history-detail")
    assert "右上方主信号灯 main signal, top right" in text and "进口道停止线 approach stop line" in text
    assert "置信度" not in text
    screenshot(page, "history-detail-names")
