"""Registering a new crossing by drawing it, in the browser (#/crossings/new): pick a video under
the server's ingest root (its frame becomes the background) or upload a picture, draw a lamp box,
a stop line and a lane with the mouse, give an id, a name and a location, save; the API then holds
version 1 with the drawn geometry (within a few pixels of the clicks), the audit log names the
creation, and the crossing's snapshot is the frame it was drawn on. A bad picture is one line.

Every crossing made here is deleted again afterwards (straight from the test database: the API has
no delete), so the other UI tests see the two sample crossings only.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from test_crossings import click_at, near, screen_point

from detector import assets

NEW_ID = "ui-new-crossing"


def _delete_crossing(ui, cid: str) -> None:
    with sqlite3.connect(ui.db_path) as c:
        c.execute("DELETE FROM crossings WHERE id = ?", (cid,))
        c.execute("DELETE FROM crossing_versions WHERE crossing_id = ?", (cid,))
    c.close()
    for f in (Path(ui.evidence_dir) / "_snapshots").glob(f"{cid}-registered*"):
        f.unlink()


@pytest.fixture
def cleanup(ui):
    """Crossing ids the test registers; deleted afterwards."""
    made: list[str] = []
    yield made
    for cid in made:
        _delete_crossing(ui, cid)


@pytest.fixture
def video_in_ingest(ui):
    """A sample clip under the ingest root: (path relative to the root, the clip's frame size)."""
    root = Path(ui.app.state.settings.ingest_root)
    folder = Path(tempfile.mkdtemp(prefix="ui-cx-new-", dir=root))
    clip = assets.sample_clip("vn_rear_stopline")
    shutil.copyfile(clip, folder / "camera.mp4")
    try:
        yield (folder / "camera.mp4").relative_to(root).as_posix()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_new(page_as, viewport=(1920, 1080)):
    page = page_as("operator", "crossings", viewport=viewport)
    page.click("#crossing-new-draw")
    page.wait_for_selector("#cx-source")
    assert page.locator("#nav a[data-route='crossings/new']").count() == 0  # reached from the list, not the nav
    return page


def wait_frame(page) -> None:
    page.wait_for_selector("#cx-overlay", state="attached")
    page.wait_for_function(
        "() => { const i = document.getElementById('cx-snapshot'); return !!i && i.complete && i.naturalWidth > 0; }"
    )


def test_register_a_crossing_drawn_on_a_server_videos_frame(ui, page_as, screenshot, video_in_ingest, cleanup):
    cleanup.append(NEW_ID)
    page = open_new(page_as)
    page.wait_for_selector(f"#cx-src-video option[value='{video_in_ingest}']", state="attached")
    page.select_option("#cx-src-video", video_in_ingest)
    screenshot(page, "crossing-new-source")
    page.click("#cx-src-grab")
    wait_frame(page)
    w, h = (
        page.evaluate("document.getElementById('cx-snapshot').naturalWidth"),
        page.evaluate("document.getElementById('cx-snapshot').naturalHeight"),
    )
    assert page.evaluate("location.hash") == "#/crossings/new"

    # lamp box first (a new signal), so the stop line drawn next is governed by it
    page.click("#cx-tool-lamp")
    page.select_option("#cx-lamp-signal", "__none__")
    page.select_option("#cx-lamp-colour", "red")
    page.mouse.move(*screen_point(page, 0.80, 0.05))
    page.mouse.down()
    page.mouse.move(*screen_point(page, 0.84, 0.12), steps=4)
    page.mouse.up()
    page.wait_for_selector("#cx-bx")
    page.click("#cx-tool-stop")
    a, b = (0.20, 0.60), (0.75, 0.58)
    click_at(page, *a)
    click_at(page, *b)
    page.wait_for_selector("#cx-list-stop li")
    page.click("#cx-tool-lane")
    corners = [(0.25, 0.65), (0.45, 0.65), (0.50, 0.95), (0.20, 0.95)]
    for c in corners:
        click_at(page, *c)
    click_at(page, *corners[0])
    page.wait_for_selector("#cx-list-lane li")
    page.click("#cx-flip")  # the lane's direction: down the picture (towards the camera)

    # saving without an id is refused beside the field, nothing is sent
    page.click("#cx-save")
    page.wait_for_selector("#cx-errors li")
    assert "编号" in page.locator("#cx-errors").inner_text()
    page.fill("#cx-id", NEW_ID)
    page.dispatch_event("#cx-id", "change")
    page.fill("#cx-name", "测试新路口")
    page.dispatch_event("#cx-name", "change")
    page.fill("#cx-district", "测试区")
    page.dispatch_event("#cx-district", "change")
    page.fill("#cx-location", "39.9087, 116.3975")
    page.dispatch_event("#cx-location", "change")
    screenshot(page, "crossing-new")

    page.click("#cx-save")
    page.wait_for_function(f"location.hash === '#/crossings/{NEW_ID}'")
    page.wait_for_function("(document.getElementById('cx-state')?.textContent || '').includes('v1')")
    detail = ui.get("operator", f"/api/crossings/{NEW_ID}")
    cfg = detail["config"]
    assert (detail["name"], detail["district"], detail["lat"], detail["lon"]) == (
        "测试新路口",
        "测试区",
        39.9087,
        116.3975,
    )
    assert detail["version"] == 1 and cfg["frame_size"] == [w, h]
    (signal,) = cfg["signals"]
    x, y, bw, bh = signal["lamps"]["red"]
    assert near((x, y, x + bw, y + bh), (0.80 * w, 0.05 * h, 0.84 * w, 0.12 * h)), signal
    (stop,) = cfg["stop_lines"]
    assert near(stop["points"][0], (a[0] * w, a[1] * h)) and near(stop["points"][1], (b[0] * w, b[1] * h)), stop
    assert stop["signal"] == signal["id"] and stop["entering"][1] < 0
    (lane,) = cfg["lanes"]
    assert all(near(p, (fx * w, fy * h)) for p, (fx, fy) in zip(lane["polygon"], corners, strict=True)), lane
    assert lane["direction"] == [0, 1]
    # the editor shows the frame it was drawn on (no video of it processed yet)
    snap = ui.request("operator", "GET", f"/api/crossings/{NEW_ID}/snapshot")
    assert snap.status_code == 200 and Image.open(io.BytesIO(snap.content)).size == (w, h)
    audit = ui.get("admin", "/api/audit", params={"action": "crossing_create", "object_id": NEW_ID})
    entry = next(e for e in audit["data"] if e["object_id"] == NEW_ID)
    assert entry["actor"] == ui.users["operator"][0] and len(entry["payload"]["frame"]) == 64


def _png_bytes(size=(640, 360)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 110, 130)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_a_picture_and_a_bad_one(ui, page_as, tmp_path, cleanup):
    page = open_new(page_as, viewport=(1366, 768))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a picture")
    page.set_input_files("#cx-src-file", str(bad))
    page.wait_for_function("(document.getElementById('cx-src-error')?.textContent || '').length > 0")
    message = page.locator("#cx-src-error").inner_text()
    assert message == "file: not a valid PNG image", message
    good = tmp_path / "view.png"
    good.write_bytes(_png_bytes())
    page.set_input_files("#cx-src-file", str(good))
    wait_frame(page)
    assert page.evaluate("document.getElementById('cx-snapshot').naturalWidth") == 640
    assert "640 × 360" in page.locator(".cx-meta").inner_text()
    # the reserved id is refused by the server, its message names the field
    cleanup.append("new")
    page.click("#cx-tool-stop")
    click_at(page, 0.2, 0.5)
    click_at(page, 0.8, 0.5)
    page.fill("#cx-id", "new")
    page.dispatch_event("#cx-id", "change")
    page.fill("#cx-name", "x")
    page.dispatch_event("#cx-name", "change")
    page.click("#cx-save")
    page.wait_for_selector("#cx-errors li")
    assert "reserved" in page.locator("#cx-errors").inner_text()
    assert ui.request("operator", "GET", "/api/crossings/new").status_code == 404


def test_the_new_crossing_page_is_for_operators(page_as):
    page = page_as("reviewer", "crossings/new")
    page.wait_for_selector("#page h1")
    assert page.locator("#page h1").inner_text() == "无权访问此页面"
