"""Stored XSS: a crossing whose name and district are markup renders as text on every page, and
nothing runs; the UI is served with a Content-Security-Policy that still lets ECharts work.

A real server (uvicorn, thread, fresh SQLite) and headless Debian chromium through Playwright, as
tests/ui does, but on seeded rows instead of processed clips (no model needed).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from .conftest import HOSTILE_DISTRICT, HOSTILE_NAME, make_hostile

CHROMIUM = Path(os.environ.get("CROSSWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install the Debian package `chromium`")
    import uvicorn

    tmp = tmp_path_factory.mktemp("xss")
    gen = make_hostile(f"sqlite:///{tmp / 'crosswatch.db'}", tmp, stats_cache_s=0)
    h = next(gen)
    h.seed_hostile()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(h.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield h, f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(30)
        next(gen, None)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


PAGES = ["dashboard", "crossings", "crossings/cx-xss", "jobs", "review"]


def _open(browser, base: str, token: str, route: str):
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    console: list[str] = []
    errors: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(f"sessionStorage.setItem('cw.token', {json.dumps(token)});")
    page.goto(f"{base}/#/{route}")
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=20000)
    page.wait_for_timeout(1500)  # sections load on their own
    return ctx, page, console, errors


@pytest.mark.parametrize("route", PAGES)
def test_markup_in_a_crossing_name_is_text_on_every_page(server, browser, route):
    h, base = server
    token = h.token(h.user("admin", "xss-admin"))
    ctx, page, console, errors = _open(browser, base, token, route)
    try:
        if route == "dashboard":  # the map tooltip: the sink of the original report
            page.wait_for_function(
                "window.echarts && echarts.getInstanceByDom(document.getElementById('dash-map'))", timeout=20000
            )
            page.wait_for_timeout(500)
            page.evaluate("""() => {
                const inst = echarts.getInstanceByDom(document.getElementById('dash-map'));
                inst.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0});
            }""")
            page.wait_for_timeout(500)
            tip = page.evaluate("""() => [...document.querySelectorAll('div')].filter(
                d => d.style.position === 'absolute' && d.innerHTML.includes('onerror')
                && !d.querySelector('canvas')).map(d => d.innerHTML)""")
            assert tip, "the map tooltip did not show the crossing name"
            assert "&lt;img" in tip[-1] and "<img" not in tip[-1], tip[-1]
        body = page.evaluate("document.body.innerText")
        if route != "review":  # the queue shows the crossing in a select + the fact list
            assert HOSTILE_NAME in body or HOSTILE_DISTRICT in body, f"{route}: the name is not shown as text"
        assert page.evaluate("window.__pwned") is None, f"{route}: injected script ran"
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0
        assert not [c for c in console if "Content Security Policy" in c], console  # the UI itself obeys the CSP
        assert not errors, errors
    finally:
        ctx.close()


def test_ui_and_api_send_security_headers(server):
    import httpx

    _, base = server
    for path in ("/", "/static/app.js", "/static/vendor/echarts.min.js"):
        r = httpx.get(base + path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    r = httpx.get(base + "/api/crossings")
    assert r.status_code == 401 and "default-src 'none'" in r.headers["content-security-policy"]
    assert "onclick=" not in httpx.get(base + "/").text  # no inline handlers left for the CSP to block
