"""The crossings list and the calibration editor, in the browser: draw a stop line, a lane and a
lamp box with the mouse over the crossing's real snapshot, save, and check the new geometry version
through the API (points within a few pixels of the clicks, mapped to the crossing's frame_size);
server validation errors name the field; YAML export and import.

Every test that saves puts the crossing's original YAML back afterwards (an identical config makes
the stored version current again), so other UI tests see the geometry the clips were processed with.
"""

from __future__ import annotations

import pytest
import yaml

CROSSING = "hanoi-giangvo-langha"
TOLERANCE_PX = 3.0


@pytest.fixture
def restore_geometry(ui):
    """Put the crossing's current YAML back after the test, whatever it saved."""
    before = ui.get("operator", f"/api/crossings/{CROSSING}")
    yield before
    r = ui.request("operator", "PUT", f"/api/crossings/{CROSSING}/geometry", json={"yaml": before["yaml"]})
    assert r.status_code in (200, 201), r.text
    assert ui.get("operator", f"/api/crossings/{CROSSING}")["version"] == before["version"]


def next_version(detail: dict) -> int:
    """The number a changed config gets: one above the highest stored version (not the current)."""
    return max(v["version"] for v in detail["versions"]) + 1


def open_editor(page_as, crossing: str = CROSSING):
    page = page_as("operator", f"crossings/{crossing}")
    page.wait_for_selector("#cx-overlay polygon", state="attached")
    page.wait_for_function(
        "() => { const i = document.getElementById('cx-snapshot'); return i.complete && i.naturalWidth > 0; }"
    )
    return page


def screen_point(page, fx: float, fy: float) -> tuple[float, float]:
    """Where fraction (fx, fy) of the drawn frame is on the screen."""
    box = page.locator("#cx-overlay").bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def click_at(page, fx: float, fy: float) -> None:
    page.mouse.click(*screen_point(page, fx, fy))


def near(got, want, tol: float = TOLERANCE_PX) -> bool:
    return all(abs(g - w) <= tol for g, w in zip(got, want, strict=True))


def test_list_shows_every_crossing(ui, page_as, screenshot):
    page = page_as("operator", "crossings")
    page.wait_for_selector("#crossings-table tbody tr")
    api = ui.get("operator", "/api/crossings")
    rows = page.locator("#crossings-table tbody tr")
    assert rows.count() == api["count"]
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert sorted(names) == sorted(c["name"] for c in api["data"])
    screenshot(page, "crossings-list")


def test_draw_stop_line_lane_and_lamp_then_save_a_new_version(ui, page_as, screenshot, restore_geometry):
    before = restore_geometry
    w, h = before["config"]["frame_size"]
    page = open_editor(page_as)

    # stop line: two clicks; the entering arrow starts across the line, pointing up; flip it
    page.click("#cx-tool-stop")
    a, b = (0.25, 0.55), (0.70, 0.62)
    click_at(page, *a)
    click_at(page, *b)
    page.wait_for_selector("#cx-list-stop li:nth-child(2)")
    assert page.input_value("#cx-prop-id") == "stop-2"
    default_entering = (float(page.input_value("#cx-ex")), float(page.input_value("#cx-ey")))
    assert default_entering[1] < 0  # up the picture
    page.click("#cx-flip")

    # lane: four corners, closed by clicking the first again; its signal left at "inherit"
    page.click("#cx-tool-lane")
    corners = [(0.10, 0.70), (0.40, 0.70), (0.42, 0.95), (0.08, 0.95)]
    for c in corners:
        click_at(page, *c)
    click_at(page, *corners[0])
    page.wait_for_selector("#cx-list-lane li:nth-child(3)")
    assert page.input_value("#cx-prop-signal") == "__inherit__"

    # lamp box: dragged out for a new signal
    page.click("#cx-tool-lamp")
    page.select_option("#cx-lamp-signal", "__none__")
    page.select_option("#cx-lamp-colour", "red")
    page.mouse.move(*screen_point(page, 0.05, 0.05))
    page.mouse.down()
    page.mouse.move(*screen_point(page, 0.08, 0.09), steps=4)
    page.mouse.up()
    page.wait_for_selector("#cx-bx")
    assert page.locator("#cx-state").inner_text() == "有未保存的修改"
    screenshot(page, "crossing-editor")

    page.click("#cx-save")
    page.wait_for_function(f"document.getElementById('cx-state')?.textContent.includes('v{next_version(before)}')")
    after = ui.get("operator", f"/api/crossings/{CROSSING}")
    assert after["version"] == next_version(before)
    assert [v["version"] for v in after["versions"] if v["current"]] == [after["version"]]
    cfg = after["config"]
    stop = next(s for s in cfg["stop_lines"] if s["id"] == "stop-2")
    assert near(stop["points"][0], (a[0] * w, a[1] * h)) and near(stop["points"][1], (b[0] * w, b[1] * h)), stop
    assert near(stop["entering"], (-default_entering[0], -default_entering[1]), 0.01)
    assert stop["signal"] == before["config"]["stop_lines"][0]["signal"]
    lane = next(ln for ln in cfg["lanes"] if ln["id"] == "lane-3")
    assert len(lane["polygon"]) == 4
    assert all(near(p, (fx * w, fy * h)) for p, (fx, fy) in zip(lane["polygon"], corners, strict=True)), lane
    stored = yaml.safe_load(after["yaml"])
    assert "signal" not in next(ln for ln in stored["lanes"] if ln["id"] == "lane-3")  # inherit, not null
    assert [ln.get("signal", "inherit") for ln in stored["lanes"][:2]] == ["main", None]  # untouched lanes
    signal = next(s for s in cfg["signals"] if s["id"] == "signal-2")
    x, y, bw, bh = signal["lamps"]["red"]
    assert near((x, y, x + bw, y + bh), (0.05 * w, 0.05 * h, 0.08 * w, 0.09 * h)), signal
    # the old version is still there, unchanged
    old = ui.get("operator", f"/api/crossings/{CROSSING}/versions/{before['version']}")
    assert old["yaml"] == before["yaml"]


def test_dragging_an_end_point_moves_it(ui, page_as, restore_geometry):
    before = restore_geometry
    w, h = before["config"]["frame_size"]
    (x0, y0), _ = before["config"]["stop_lines"][0]["points"]
    page = open_editor(page_as)
    page.click("#cx-list-stop button")  # select the existing stop line from the list
    handle = page.locator("#cx-overlay circle[data-handle='p0']")
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(*screen_point(page, (x0 + 20) / w, (y0 - 10) / h), steps=5)
    page.mouse.up()
    assert near((float(page.input_value("#cx-p0x")), float(page.input_value("#cx-p0y"))), (x0 + 20, y0 - 10))
    page.click("#cx-save")
    page.wait_for_function(f"document.getElementById('cx-state')?.textContent.includes('v{next_version(before)}')")
    moved = ui.get("operator", f"/api/crossings/{CROSSING}")["config"]["stop_lines"][0]["points"][0]
    assert near(moved, (x0 + 20, y0 - 10))


def test_server_validation_names_the_field(ui, page_as, screenshot):
    before = ui.get("operator", f"/api/crossings/{CROSSING}")
    page = open_editor(page_as)
    page.click("#cx-yaml-panel summary")
    bad = yaml.safe_load(before["yaml"])
    bad["stop_lines"][0]["signal"] = "ghost"
    page.fill("#cx-yaml", yaml.safe_dump(bad, allow_unicode=True, sort_keys=False))
    page.click("#cx-yaml-load")
    page.wait_for_selector("#cx-state.warn-text")
    page.click("#cx-save")
    page.wait_for_selector("#cx-errors li")
    text = page.locator("#cx-errors").inner_text()
    assert "stop_lines[0].signal" in text and "ghost" in text, text
    assert page.input_value("#cx-prop-id") == bad["stop_lines"][0]["id"]  # the named element is selected
    screenshot(page, "crossing-editor-error")
    assert ui.get("operator", f"/api/crossings/{CROSSING}")["version"] == before["version"]  # nothing saved


@pytest.mark.parametrize(
    ("clicks", "message"),
    [
        ([(0.1, 0.1), (0.2, 0.1)], "车道多边形至少需要 3 个点"),
    ],
)
def test_client_check_refuses_an_open_lane(clicks, message, page_as):
    page = open_editor(page_as)
    page.click("#cx-tool-lane")
    for c in clicks:
        click_at(page, *c)
    page.keyboard.press("Enter")
    assert message in page.locator("#cx-errors").inner_text()


def test_yaml_export_and_reimport(ui, page_as, tmp_path):
    page = open_editor(page_as)
    with page.expect_download() as dl:
        page.click("#cx-export")
    path = tmp_path / "x.yaml"
    dl.value.save_as(path)
    assert path.read_text() == ui.request("operator", "GET", f"/api/crossings/{CROSSING}/config.yaml").text
    page.click("#cx-yaml-panel summary")
    shown = yaml.safe_load(page.input_value("#cx-yaml"))
    assert shown == yaml.safe_load(path.read_text())  # the drawing's YAML equals the stored one
    page.fill("#cx-yaml", "id: some-other-crossing\nname: x\nframe_size: [10, 10]\n")
    page.click("#cx-yaml-load")
    assert "some-other-crossing" in page.locator("#cx-errors").inner_text()


def test_editor_is_for_operators(page_as):
    page = page_as("reviewer", f"crossings/{CROSSING}")
    page.wait_for_selector("#page h1")
    assert page.locator("#page h1").inner_text() == "无权访问此页面"


def test_leaving_with_unsaved_drawings_asks_first(ui, page_as, screenshot):
    """An unsaved stop line: the back link, the nav, the language switch, the browser's history and
    closing the tab each ask; refusing keeps the page and the drawing, agreeing leaves. A clean
    editor leaves silently."""
    page = open_editor(page_as)
    dialogs = []

    def answer(accept: bool):
        def handle(dialog):
            dialogs.append((dialog.type, dialog.message))
            dialog.accept() if accept else dialog.dismiss()

        page.remove_listener("dialog", answer.current) if getattr(answer, "current", None) else None
        answer.current = handle
        page.on("dialog", handle)

    answer(False)
    page.click("#cx-back")  # clean: no question
    page.wait_for_selector("#crossings-table")
    assert dialogs == []
    page.go_back()  # (the list stays ahead in the history: go_forward below is the browser's forward button)
    page.wait_for_selector("#cx-overlay polygon", state="attached")

    page.click("#cx-tool-stop")
    stops = page.locator("#cx-list-stop li").count()
    click_at(page, 0.30, 0.50)
    click_at(page, 0.60, 0.55)
    page.wait_for_selector(f"#cx-list-stop li:nth-child({stops + 1})")
    assert page.locator("#cx-state").inner_text() == "有未保存的修改"
    hash_before = page.evaluate("location.hash")

    for leave in (
        lambda: page.go_forward(),
        lambda: page.click("#cx-back"),
        lambda: page.click("#nav a[data-route='crossings']"),
        lambda: page.click("#lang-switch button[data-lang='en']"),
    ):
        n = len(dialogs)
        leave()
        page.wait_for_timeout(300)
        assert len(dialogs) == n + 1, dialogs
        assert dialogs[-1] == ("confirm", "本页有未保存的修改，离开将丢弃这些修改。确定离开吗？")
        assert page.evaluate("location.hash") == hash_before
        assert page.locator("#cx-list-stop li").count() == stops + 1  # the drawing is still there
        assert page.locator("#cx-state").inner_text() == "有未保存的修改"

    # closing the tab (or reloading): the browser's own question
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs[-1][0] == "beforeunload", dialogs
    assert not page.is_closed()

    answer(True)
    page.click("#cx-back")
    page.wait_for_selector("#crossings-table")
    assert dialogs[-1][0] == "confirm"
