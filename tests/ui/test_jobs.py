"""The jobs page (#/jobs) in a real browser against the real worker: an operator submits a folder
under the ingest root holding a short real clip and a file that is not a video, watches the job
run to 100 % with the bad file's reason shown, gets the server's reason when a path is refused,
uploads a clip with a progress bar, and cancels a job.

The clips are the first seconds of `hanoi_giangvo_langha.mp4` (packets copied, no re-encoding):
the signal turns red only after ~4.3 s, so they add no events to the session's review queue.
They live in a temporary folder inside the server's ingest root, removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detector import assets

CROSSING = "hanoi-giangvo-langha"
FINAL = ("done", "failed", "partial", "cancelled")
NOT_A_VIDEO = b"this is not a video\n" * 200


def trim_clip(src: Path, dst: Path, seconds: float) -> int:
    """Copy the first `seconds` of `src` into `dst` (packets as they are); the packet count."""
    import av

    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        target = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * stream.time_base > seconds:
                break
            packet.stream = target
            out.mux(packet)
            n += 1
    return n


@pytest.fixture(scope="module")
def ingest(ui) -> Iterator[tuple[Path, str]]:
    """(folder, its path relative to the ingest root) holding jobs/short.mp4 (3 s),
    jobs/broken.mp4 (not a video) and cancel/longer.mp4 (4 s)."""
    root = Path(ui.app.state.settings.ingest_root)
    folder = Path(tempfile.mkdtemp(prefix="ui-jobs-", dir=root))
    try:
        src = assets.sample_clip("hanoi_giangvo_langha")
        (folder / "jobs").mkdir()
        (folder / "cancel").mkdir()
        assert trim_clip(src, folder / "jobs" / "short.mp4", 3.0) > 10
        (folder / "jobs" / "broken.mp4").write_bytes(NOT_A_VIDEO)
        assert trim_clip(src, folder / "cancel" / "longer.mp4", 4.0) > 10
        yield folder, folder.relative_to(root).as_posix()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_jobs(page_as):
    page = page_as("operator", "jobs")
    page.wait_for_selector("#jobs-form")
    page.wait_for_selector("#jobs-list table, #jobs-empty")
    return page


def watch_progress(page) -> None:
    """Record every overall-progress text the page shows from now on (window.__progress)."""
    page.evaluate("""() => {
        window.__progress = [];
        const seen = () => { const p = document.getElementById('job-progress-text');
            if (p && p.textContent && window.__progress.at(-1) !== p.textContent) {
                window.__progress.push(p.textContent);
            } };
        new MutationObserver(seen).observe(document.getElementById('page'),
            {subtree: true, childList: true, characterData: true});
    }""")


def wait_final(page, timeout_s: float = 120) -> str:
    page.wait_for_function(
        f"{list(FINAL)!r}.includes(document.querySelector('#job-detail')?.dataset.status)", timeout=timeout_s * 1000
    )
    return page.get_attribute("#job-detail", "data-status")


def job_uid(page) -> str:
    page.wait_for_function("location.hash.startsWith('#/jobs?job=')")
    return page.evaluate("new URLSearchParams(location.hash.split('?')[1]).get('job')")


def item_row(page, file: str):
    return page.locator(f"#job-items tr[data-file='{file}']")


# -- tests ---------------------------------------------------------------------------------------
def test_submit_a_folder_and_watch_it_finish(page_as, ui, ingest, screenshot):
    _, rel = ingest
    page = open_jobs(page_as)
    page.select_option("#jobs-crossing", CROSSING)
    page.fill("#jobs-paths", f"{rel}/jobs/\n")
    page.fill("#jobs-start", "2026-03-05T10:00:00")  # Shanghai time (the UI's zone)
    watch_progress(page)
    page.click("#jobs-submit")
    uid = job_uid(page)
    page.wait_for_selector("#job-detail")
    assert wait_final(page) == "partial"

    seen = page.evaluate("window.__progress")
    values = [int(s.rstrip("%")) for s in seen]
    assert values[-1] == 100 and values == sorted(values), seen
    assert page.locator("#job-progress-text").inner_text() == "100%"
    assert page.locator("#job-progress").evaluate("p => p.value") == 1
    assert page.locator("#job-status").inner_text() == "部分完成"

    expected = {  # file -> (status label, events, reason must contain, progress where it ended)
        "short.mp4": ("已完成", "0", "", "100%"),
        "broken.mp4": ("失败", "–", "not a readable video", "0%"),
    }
    for file, (status, events, reason, pct) in expected.items():
        row = item_row(page, file)
        assert row.locator(".item-status").inner_text() == status
        assert row.locator(".item-events").inner_text() == events
        assert reason in row.locator(".item-reason").inner_text()
        assert row.locator(".item-pct").inner_text() == pct
    assert page.locator("#job-items tbody tr").count() == len(expected)

    job = ui.get("operator", f"/api/jobs/{uid}")
    assert job["status"] == "partial" and job["progress"] == 1
    assert {Path(i["path"]).name: i["status"] for i in job["items"]} == {"short.mp4": "done", "broken.mp4": "failed"}
    assert datetime.fromisoformat(job["start_time"]) == datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    assert page.get_attribute("#job-results", "href") == f"#/crossings/{CROSSING}"  # operators: the crossing
    row = page.locator(f"#jobs-table tr[data-job='{uid}']")
    row.wait_for()
    page.wait_for_function(f"document.querySelector(\"#jobs-table tr[data-job='{uid}']\").dataset.status === 'partial'")
    screenshot(page, "jobs")


REFUSED = [  # (paths typed, what the server's reason must say)
    ("../outside.mp4", "outside the ingest root"),
    ("no-such-folder/clip.mp4", "no such file or folder under the ingest root"),
    ("{rel}/cancel/../jobs/broken.mp4\n/etc/passwd", "paths[1] '/etc/passwd': outside the ingest root"),
]
INCOMPLETE = [  # (fields filled, the form's own message; nothing is sent)
    ({"#jobs-crossing": ""}, "请先选择路口"),
    ({"#jobs-crossing": CROSSING}, "请至少填写一个路径"),
]


def test_refused_paths_show_the_servers_reason(page_as, ui, ingest):
    _, rel = ingest
    before = ui.get("operator", "/api/jobs")["count"]
    page = open_jobs(page_as)
    page.select_option("#jobs-crossing", CROSSING)
    err = page.locator("#jobs-submit-error")
    for paths, reason in REFUSED:
        page.fill("#jobs-paths", paths.format(rel=rel))
        page.click("#jobs-submit")
        page.wait_for_function("document.getElementById('jobs-submit-error')?.textContent.length > 0")
        text = err.inner_text()
        assert text.startswith("服务器拒绝了该任务：") and reason in text, (paths, text)
    assert ui.get("operator", "/api/jobs")["count"] == before  # nothing half-queued
    assert page.evaluate("location.hash") == "#/jobs"


def test_incomplete_form_says_what_is_missing(page_as):
    page = open_jobs(page_as)
    for fill, message in INCOMPLETE:
        for sel, value in fill.items():
            page.select_option(sel, value)
        page.fill("#jobs-paths", "")
        page.click("#jobs-submit")
        assert page.locator("#jobs-submit-error").inner_text() == message


def test_upload_shows_progress_and_runs(page_as, ui, ingest):
    folder, _ = ingest
    page = open_jobs(page_as)
    page.select_option("#jobs-crossing", CROSSING)
    page.check("#jobs-mode-upload")
    assert page.locator("#jobs-paths-box").is_hidden() and page.locator("#jobs-files").is_visible()
    page.set_input_files("#jobs-files", str(folder / "jobs" / "short.mp4"))
    page.click("#jobs-submit")
    uid = job_uid(page)
    upload = page.locator("#jobs-uploads li[data-file='short.mp4']")
    assert upload.locator(".upload-state").inner_text() == "已上传并排队"
    assert upload.locator("progress").evaluate("p => p.value") == 1
    assert wait_final(page) == "done"
    job = ui.get("operator", f"/api/jobs/{uid}")
    assert job["items_by_status"] == {"done": 1}
    assert page.locator("#job-progress-text").inner_text() == "100%"


def test_cancel_a_job(page_as, ui, ingest):
    _, rel = ingest
    page = open_jobs(page_as)
    page.select_option("#jobs-crossing", CROSSING)
    page.fill("#jobs-paths", f"{rel}/cancel/longer.mp4")
    page.click("#jobs-submit")
    uid = job_uid(page)
    page.click("#job-cancel")
    assert page.evaluate("document.activeElement.id") == "job-cancel-no"  # the safe choice has focus
    page.click("#job-cancel-yes")
    assert wait_final(page, 60) == "cancelled"
    assert page.locator("#job-cancel").is_hidden()
    job = ui.get("operator", f"/api/jobs/{uid}")
    assert job["status"] == "cancelled" and job["cancel_requested"]
    assert [i["status"] for i in job["items"]] == ["cancelled"]
    assert item_row(page, "longer.mp4").locator(".item-status").inner_text() == "已取消"


def test_admins_results_link_opens_the_review_queue(page_as, ui, ingest):
    """Operators get the crossing's page (they cannot read events: checked above); whoever may
    review gets the crossing's review queue."""
    role, href = "admin", f"#/review?crossing_id={CROSSING}"
    _, rel = ingest
    r = ui.request(role, "POST", "/api/jobs", json={"crossing_id": CROSSING, "paths": [f"{rel}/jobs/short.mp4"]})
    assert r.status_code == 201, r.text
    page = page_as(role, f"jobs?job={r.json()['uid']}")
    assert wait_final(page) == "done"
    assert page.get_attribute("#job-results", "href") == href
    assert page.locator(f"#jobs-table tr[data-job='{r.json()['uid']}']").get_attribute("aria-current") == "true"


LOCAL_TIMES = [  # (typed in the datetime-local box, zone, instant)
    ("2026-03-05T10:00", "Asia/Shanghai", "2026-03-05T02:00:00.000Z"),
    ("2026-03-05T10:00:30", "UTC", "2026-03-05T10:00:30.000Z"),
    ("2026-07-01T00:00", "Europe/Berlin", "2026-06-30T22:00:00.000Z"),
    ("", "Asia/Shanghai", None),
]


def test_form_helpers(page_as):
    page = open_jobs(page_as)
    out = page.evaluate(
        """async (times) => {
        const m = await import('/static/pages/jobs.js');
        let bad = null;
        try { m.localInputToIso('05/03/2026 10:00', 'Asia/Shanghai'); } catch (e) { bad = e.message; }
        return {
            times: times.map(([v, tz]) => m.localInputToIso(v, tz)),
            paths: m.parsePaths('a/\\n\\n   b.mp4  \\r\\nc d/e.mkv\\n'),
            names: ['/x/y/z.mp4', 'z.mp4', 'C:\\\\v\\\\w.avi'].map(m.baseName),
            bad,
        };
    }""",
        LOCAL_TIMES,
    )
    assert out["times"] == [iso for _, _, iso in LOCAL_TIMES]
    assert out["paths"] == ["a/", "b.mp4", "c d/e.mkv"]
    assert out["names"] == ["z.mp4", "z.mp4", "w.avi"]
    assert out["bad"] == "开始时间格式不正确"


def _wait_job(ui, uid: str, timeout_s: float = 180) -> dict:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        job = ui.get("operator", f"/api/jobs/{uid}")
        if job["status"] in FINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_resubmitting_a_processed_clip_says_the_run_was_reused(page_as, ui, ingest, screenshot):
    """The same video again: the page names the earlier run it reused (nothing added) and says the
    start time typed this time had no effect (that run keeps its own)."""
    _, rel = ingest
    first = ui.request(
        "operator",
        "POST",
        "/api/jobs",
        json={"crossing_id": CROSSING, "paths": [f"{rel}/jobs/short.mp4"], "start_time": "2026-03-06T08:00:00+08:00"},
    )
    assert first.status_code == 201, first.text
    done = _wait_job(ui, first.json()["uid"])
    assert done["status"] == "done", done
    run_id = done["items"][0]["run_id"]

    page = open_jobs(page_as)
    page.select_option("#jobs-crossing", CROSSING)
    page.fill("#jobs-paths", f"{rel}/jobs/short.mp4")
    page.fill("#jobs-start", "2026-03-07T09:30:00")  # a different start: it cannot change the earlier run
    page.click("#jobs-submit")
    uid = job_uid(page)
    assert wait_final(page) == "done"
    job = ui.get("operator", f"/api/jobs/{uid}")
    item = job["items"][0]
    assert item["reused"] is True and item["run_id"] == run_id and item["events"] == 0
    row = item_row(page, "short.mp4")
    assert row.get_attribute("data-reused") == "true"
    reason = row.locator(".item-reason").inner_text()
    assert f"沿用原有结果（运行 #{run_id}）" in reason and "未新增事件" in reason, reason
    assert "填写的开始时间 2026/03/07 09:30:00 未生效" in reason, reason
    assert "全部视频此前已处理过" in page.locator("#job-reused").inner_text()
    screenshot(page, "jobs-reused")
