"""Browser tests of the web UI: one real server for the whole session, driven by headless Debian
chromium through Playwright (never a downloaded browser).

The server is what `crosswatch serve` runs: `create_app(settings)` under uvicorn (in a thread, on a
free port), on a temporary SQLite database filled by the real pipeline — `crosswatch process` on
`hanoi_giangvo_langha.mp4` (4 red-light events) and `vn_rear_stopline.mp4` (2) with their committed
crossing files — and one account per role with the demo passwords (`service.cli.DEMO_USERS`).
The jobs worker runs, with `ingest_root` = a temporary folder the jobs tests fill; the dashboard's
map basemap is the hand-made `tests/fixtures/basemap_test.geojson`.

    def test_x(page_as, screenshot, ui):
        page = page_as("reviewer", "review")          # logged in, on #/review, app ready
        screenshot(page, "review")                     # test-artifacts/screenshots/review-1920x1080.png …
        ui.get("reviewer", "/api/events/next")         # the API as that user (httpx)

Skips (with the reason) when Playwright, /usr/bin/chromium (or $CROSSWATCH_CHROMIUM), the sample
clips or the model are missing. `CROSSWATCH_UI_DATA_CACHE=DIR` (development only) keeps the
processed database + evidence in DIR and copies them in on later runs instead of processing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detector import assets

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
BASEMAP = REPO / "tests" / "fixtures" / "basemap_test.geojson"  # hand-made, see its "note"
SECRET = "ui-test-secret-" + "y" * 40
CHROMIUM = Path(os.environ.get("CROSSWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = ((1920, 1080), (1366, 768))
# clip name -> wall-clock time of its first frame (hours apart, so events sort by clip)
CLIPS = {
    "hanoi_giangvo_langha": "2026-03-02T08:00:00+08:00",
    "vn_rear_stopline": "2026-03-02T09:00:00+08:00",
}
EXPECTED_EVENTS = {"hanoi_giangvo_langha": 4, "vn_rear_stopline": 2}
ROLES = ("admin", "operator", "reviewer", "analyst")


def _demo_users() -> dict[str, tuple[str, str]]:
    """role -> (username, password), the accounts `crosswatch serve --demo` creates."""
    from service.cli import DEMO_USERS

    return {role: (username, password) for username, role, password in DEMO_USERS}


USERS = _demo_users()


def _require_environment() -> None:
    """Skip the UI tests (with the reason) when something they need is not installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install the Debian package `chromium` (scripts/system_packages.sh)")
    if not assets.resolve_model(assets.default_model_name("cpu")).exists():
        pytest.skip("default model not fetched (run `make assets`)")
    for name in CLIPS:
        if not assets.sample_clip(name).exists():
            pytest.skip(f"sample clip {name} not fetched (run `make assets`)")


def _data_key() -> str:
    """Identifies the processed data: clips (size, mtime), crossing files and start times."""
    h = hashlib.sha256()
    for name, start in CLIPS.items():
        clip = assets.sample_clip(name)
        st = clip.stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}:{start}".encode())
        h.update(assets.sample_crossing(name).read_bytes())
    return h.hexdigest()


def _process_clips(db: Path, evidence: Path) -> None:
    """Run the real pipeline (`crosswatch process`, in-process) on every UI clip."""
    from service.cli import main

    for name, start in CLIPS.items():
        rc = main(
            [
                "process",
                str(assets.sample_clip(name)),
                "--crossing",
                str(assets.sample_crossing(name)),
                "--db",
                f"sqlite:///{db}",
                "--evidence-dir",
                str(evidence),
                "--start-time",
                start,
                "--device",
                "cpu",
            ]
        )
        assert rc == 0, f"crosswatch process {name} failed (exit {rc})"


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (the file alone may miss the WAL)."""
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def _prepare_data(target: Path) -> tuple[Path, Path]:
    """A processed database + evidence folder in `target` (from the dev cache when it matches)."""
    db, evidence = target / "crosswatch.db", target / "evidence"
    cache = os.environ.get("CROSSWATCH_UI_DATA_CACHE")
    key = _data_key()
    if cache and (Path(cache) / "key").exists() and (Path(cache) / "key").read_text() == key:
        _copy_db(Path(cache) / "crosswatch.db", db)
        shutil.copytree(Path(cache) / "evidence", evidence)
        return db, evidence
    _process_clips(db, evidence)
    if cache:
        c = Path(cache)
        shutil.rmtree(c, ignore_errors=True)
        c.mkdir(parents=True)
        _copy_db(db, c / "crosswatch.db")
        shutil.copytree(evidence, c / "evidence")
        (c / "key").write_text(key)
    return db, evidence


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class UiServer:
    """The running server, its data and helpers to call its API as a role."""

    base_url: str
    app: object
    db_path: Path
    evidence_dir: Path
    users: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(USERS))  # role -> (name, password)
    _tokens: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def wait_ready(page) -> None:
        """Wait until app.js has loaded the pages and routed once (after goto/reload)."""
        wait_ready(page)

    def token(self, role: str) -> str:
        """A bearer token of `role`'s account (cached: argon2 makes logins slow on purpose)."""
        import httpx

        if role not in self._tokens:
            username, password = USERS[role]
            r = httpx.post(f"{self.base_url}/api/auth/login", json={"username": username, "password": password})
            r.raise_for_status()
            self._tokens[role] = r.json()["access_token"]
        return self._tokens[role]

    def request(self, role: str, method: str, path: str, **kw):
        import httpx

        headers = {"Authorization": f"Bearer {self.token(role)}", **kw.pop("headers", {})}
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kw)

    def get(self, role: str, path: str, **kw):
        """GET `path` as `role`; asserts 200 and returns the JSON."""
        r = self.request(role, "GET", path, **kw)
        assert r.status_code == 200, f"GET {path} as {role}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture(scope="session")
def ui(tmp_path_factory) -> Iterator[UiServer]:
    """The UI server on processed sample data (see the module docstring)."""
    _require_environment()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import uvicorn

    from service.api.app import create_app
    from service.cli import ensure_demo_users
    from service.settings import Settings

    tmp = tmp_path_factory.mktemp("ui")
    db, evidence = _prepare_data(tmp)
    (tmp / "ingest").mkdir()  # the tests put their videos here; nothing is written into assets/
    settings = Settings(
        db_url=f"sqlite:///{db}",
        evidence_dir=evidence,
        secret_key=SECRET,
        ingest_root=tmp / "ingest",
        upload_dir=tmp / "uploads",
        stats_cache_s=0,
        map_geojson=BASEMAP,
    )
    app = create_app(settings)
    ensure_demo_users(app.state.write_sessionmaker)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ui-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the UI test server did not start")
        time.sleep(0.05)
    try:
        yield UiServer(f"http://127.0.0.1:{port}", app, db, evidence)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def base_url(ui: UiServer) -> str:
    return ui.base_url


def _undecided(db: Path) -> set[str]:
    """uids of the events nobody has decided yet (the review queue's content)."""
    import sqlite3

    with sqlite3.connect(db) as c:
        return {u for (u,) in c.execute("SELECT uid FROM events WHERE review_status = 'pending' AND review_stage = 0")}


@pytest.fixture(autouse=True)
def keep_review_queue(ui: UiServer) -> Iterator[None]:
    """Every UI test starts with the same review queue: the events a test decided are sent back
    (退回重审, through the API, audited like any reopen) when it ends, pass or fail, so one test's
    decisions never starve the tests after it."""
    before = _undecided(ui.db_path)
    yield
    for uid in sorted(before - _undecided(ui.db_path)):
        r = ui.request("admin", "POST", f"/api/events/{uid}/reopen", json={"comment": "UI test cleanup"})
        assert r.status_code == 200, f"could not put {uid} back in the queue: {r.status_code} {r.text}"


@pytest.fixture(scope="session")
def browser(ui):
    """Headless Debian chromium (Playwright's own browsers are never downloaded)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser, base_url) -> Iterator[Callable[..., object]]:
    """new_page(viewport=(w, h)) -> a fresh page (own context: own sessionStorage) with uncaught
    script errors collected; the test fails if any page raised one."""
    contexts, errors = [], []

    def make(viewport: tuple[int, int] = VIEWPORTS[0]):
        ctx = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            accept_downloads=True,
            # the tests' own string predicates (wait_for_function) are eval'd in the page, which the
            # app's CSP refuses; the app itself runs under its real CSP in tests/security/test_ui_xss.py
            bypass_csp=True,
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught script errors in the page: {errors}"


def wait_ready(page) -> None:
    """Wait until app.js has loaded the pages and routed once."""
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=15000)


@pytest.fixture
def page_as(ui, new_page) -> Callable[..., object]:
    """page_as(role, route="", viewport=(1920, 1080), lang="zh-CN") -> a page logged in as `role`
    (token put into sessionStorage once, as the login page does) showing `#/<route>`."""

    def make(role: str, route: str = "", viewport: tuple[int, int] = VIEWPORTS[0], lang: str = "zh-CN"):
        page = new_page(viewport)
        tok = json.dumps(ui.token(role))
        page.add_init_script(
            "if (!sessionStorage.getItem('cw.init')) {"
            f" sessionStorage.setItem('cw.token', {tok}); sessionStorage.setItem('cw.init', '1');"
            f" localStorage.setItem('cw.lang', {json.dumps(lang)}); }}"
        )
        page.goto(f"{ui.base_url}/#/{route}")
        wait_ready(page)
        return page

    return make


@pytest.fixture(scope="session")
def screenshot() -> Callable[..., list[Path]]:
    """screenshot(page, name) -> the PNGs written: the page at 1920×1080 and 1366×768 (viewport
    restored afterwards), in test-artifacts/screenshots/<name>-<w>x<h>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> list[Path]:
        original = page.viewport_size
        paths = []
        for w, h in VIEWPORTS:
            page.set_viewport_size({"width": w, "height": h})
            page.wait_for_timeout(250)  # layout + chart resize
            path = SCREENSHOTS / f"{name}-{w}x{h}.png"
            page.screenshot(path=str(path))
            paths.append(path)
        if original:
            page.set_viewport_size(original)
        return paths

    return shoot


def pytest_collection_modifyitems(items) -> None:
    """Every test under tests/ui is a `ui` test (`-m "not ui"` leaves the browser out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ui)
