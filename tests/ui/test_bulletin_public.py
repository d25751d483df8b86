"""The public campaign bulletin (公开版) from the dashboard carries the confirmed cases' composite
pictures with the bystanders blurred: the real models run in the server on a real composite of the
Hanoi clip; the picture in the DOCX has the stored composite's size, differs from it (people and
plates blurred), and is left as it was inside the violator's box.

One sample event is confirmed for the length of the test (written straight into the database and
put back afterwards, so the review tests still find the queue they expect)."""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pytest
from PIL import Image
from test_dashboard import default_range, open_dashboard, stats_query  # noqa: F401


@pytest.fixture
def one_confirmed(ui):
    """(uid, stored composite JPEG, track box) of one Hanoi event, confirmed during the test."""
    with sqlite3.connect(ui.db_path) as c:
        uid, status, x1, y1, x2, y2, rel = c.execute(
            "SELECT e.uid, e.review_status, e.x1, e.y1, e.x2, e.y2, f.relpath FROM events e"
            " JOIN evidence_files f ON f.event_id = e.id AND f.kind = 'composite'"
            " WHERE e.crossing_id = 'hanoi-giangvo-langha' ORDER BY e.id LIMIT 1"
        ).fetchone()
        c.execute("UPDATE events SET review_status = 'confirmed' WHERE uid = ?", (uid,))
    c.close()
    try:
        yield uid, (ui.evidence_dir / rel).read_bytes(), (x1, y1, x2, y2)
    finally:
        with sqlite3.connect(ui.db_path) as c:
            c.execute("UPDATE events SET review_status = ? WHERE uid = ?", (status, uid))
        c.close()


def test_public_bulletin_has_the_case_picture_with_bystanders_blurred(page_as, ui, one_confirmed, screenshot):
    from docx import Document

    uid, stored, box = one_confirmed
    page = open_dashboard(page_as, role="admin")
    page.select_option("#dash-bulletin-period", "custom")
    page.select_option("#dash-bulletin-format", "docx")
    page.check("#dash-bulletin-public")
    assert page.locator("label[for='dash-bulletin-public']").inner_text() == "公开版（旁人已模糊）"
    screenshot(page, "dashboard-bulletin-public")
    with page.expect_download(timeout=240000) as info:
        page.click("#dash-bulletin")
    doc = Document(str(info.value.path()))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "公开版" in text and "除违法者本人外" in text, text
    case_lines = [p.text for p in doc.paragraphs if p.text.startswith("案例 ")]
    assert len(case_lines) == 1 and uid[:8] in case_lines[0]
    pictures = [r.target_part.blob for r in doc.part.rels.values() if "image" in r.reltype]
    shown = [Image.open(io.BytesIO(b)).convert("RGB") for b in pictures]
    original = Image.open(io.BytesIO(stored)).convert("RGB")
    case = [im for im in shown if im.size == original.size]  # the charts have other sizes
    assert len(case) == 1
    a, b = np.asarray(original).astype(int), np.asarray(case[0]).astype(int)
    changed = np.abs(a - b).max(axis=2) > 40
    assert changed.sum() > 500  # people and plates blurred
    # inside the violator's box (first scene picture, video 640x480 drawn 480 wide) little changes
    cw = original.width // 2
    ch = round(480 * cw / 640)
    band = original.height - 2 * ch
    k = cw / 640
    x1, y1, x2, y2 = (round(v * k) for v in box)
    inner = changed[band + y1 + 8 : band + y2 - 8, x1 + 8 : x2 - 8]
    assert inner.size and inner.mean() < 0.02, inner.mean()
