"""The UI shell: login per role, the nav each role gets, localised errors and labels, logout, the
page guard, and how `service/api/routes/web.py` serves the files (containment, vendor ECharts)."""

from __future__ import annotations

import pytest

# role -> the nav entries (hash routes) it must see, in order; nothing else
NAV = {
    "admin": ["review", "history", "dashboard", "jobs", "crossings", "users", "audit"],
    "operator": ["jobs", "crossings"],
    "reviewer": ["review", "history"],
    "analyst": ["dashboard"],
}
LABELS = {  # (language, what) -> visible text
    ("zh-CN", "nav.review"): "审核队列",
    ("en", "nav.review"): "Review queue",
    ("zh-CN", "login.wrong"): "用户名或密码错误",
    ("en", "login.wrong"): "Wrong username or password",
    ("zh-CN", "login.submit"): "登录",
    ("en", "login.submit"): "Log in",
}


def login_via_form(ui, page, username: str, password: str) -> None:
    page.goto(f"{ui.base_url}/#/login")
    ui.wait_ready(page)
    page.get_by_label("用户名").fill(username)  # the visible label names the field
    page.get_by_label("密码").fill(password)
    page.click("#login-submit")


def nav_routes(page) -> list[str]:
    return page.eval_on_selector_all("#nav a", "as => as.map(a => a.dataset.route)")


@pytest.mark.parametrize("role", list(NAV))
def test_login_shows_exactly_the_roles_pages(role, new_page, ui, screenshot):
    page = new_page()
    username, password = ui.users[role]
    login_via_form(ui, page, username, password)
    first = NAV[role][0]
    page.wait_for_url(f"**/#/{first}", timeout=15000)
    page.wait_for_function("document.querySelectorAll('#nav a').length > 0")
    assert nav_routes(page) == NAV[role]
    assert page.locator("#user-name").inner_text().startswith(username)
    assert page.locator("#nav a[aria-current='page']").get_attribute("data-route") == first
    if role == "admin":
        screenshot(page, "shell-admin")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_wrong_password_shows_a_localised_error(lang, new_page, ui, screenshot):
    page = new_page()
    page.goto(f"{ui.base_url}/#/login")
    ui.wait_ready(page)
    if lang == "en":
        page.click("#lang-switch button[data-lang='en']")
    assert page.locator("#login-submit").inner_text() == LABELS[(lang, "login.submit")]
    page.fill("#login-username", "reviewer")
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    err = page.locator("#login-error")
    err.wait_for(state="visible")
    page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert err.inner_text() == LABELS[(lang, "login.wrong")]
    assert page.evaluate("sessionStorage.getItem('cw.token')") is None
    if lang == "zh-CN":
        screenshot(page, "login-error")


def test_language_switch_changes_labels_and_is_remembered(page_as, ui, screenshot):
    page = page_as("reviewer", "review?crossing_id=vn-rear-stopline")
    review_link = page.locator("#nav a[data-route='review']")
    assert review_link.inner_text() == LABELS[("zh-CN", "nav.review")]
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.click("#lang-switch button[data-lang='en']")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert review_link.inner_text() == LABELS[("en", "nav.review")]
    assert page.locator("#lang-switch button[data-lang='en']").get_attribute("aria-pressed") == "true"
    assert page.locator("#logout").inner_text() == "Log out"
    assert page.locator("#review-confirm").inner_text().startswith("Confirm")
    page.wait_for_selector("#review-composite[data-uid]", state="attached")
    screenshot(page, "review-en")
    page.reload()
    ui.wait_ready(page)
    assert page.locator("#nav a[data-route='review']").inner_text() == LABELS[("en", "nav.review")]
    page.click("#lang-switch button[data-lang='zh-CN']")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.locator("#logout").inner_text() == "退出登录"


def test_logout_ends_the_session(page_as, base_url):
    page = page_as("operator", "jobs")
    page.click("#logout")
    page.wait_for_url("**/#/login*")
    assert page.evaluate("sessionStorage.getItem('cw.token')") is None
    assert nav_routes(page) == []
    page.goto(f"{base_url}/#/crossings")
    page.wait_for_url("**/#/login?next=*")
    page.locator("#login-submit").wait_for()


@pytest.mark.parametrize(
    ("role", "route"), [("reviewer", "crossings"), ("analyst", "review"), ("operator", "dashboard")]
)
def test_a_page_outside_the_role_is_refused(role, route, page_as):
    page = page_as(role, route)
    page.wait_for_selector("#page h1")
    assert page.locator("#page h1").inner_text() == "无权访问此页面"


def test_times_and_numbers_are_localised(page_as):
    page = page_as("reviewer", "review")
    got = page.evaluate("""async () => {
        const m = await import('/static/app.js');
        const out = {zh: [m.fmtDate('2026-03-02T00:30:00Z'), m.fmtNumber(12345.5), m.fmtPercent(0.256)]};
        localStorage.setItem('cw.lang', 'en');
        out.en = [m.fmtDate('2026-03-02T00:30:00Z'), m.fmtNumber(12345.5), m.fmtPercent(0.256)];
        localStorage.setItem('cw.lang', 'zh-CN');
        return out;
    }""")
    assert got["zh"] == ["2026/03/02 08:30:00", "12,345.5", "25.6%"]
    assert got["en"] == ["03/02/2026, 08:30:00", "12,345.5", "25.6%"]


def test_every_label_exists_in_both_languages(page_as):
    page = page_as("admin", "review")
    missing = page.evaluate("""async () => {
        const zh = (await import('/static/i18n/zh-CN.js')).default;
        const en = (await import('/static/i18n/en.js')).default;
        const empty = (d) => Object.keys(d).filter((k) => typeof d[k] !== 'string' || !d[k].trim());
        return {en: Object.keys(zh).filter((k) => !(k in en)), zh: Object.keys(en).filter((k) => !(k in zh)),
                emptyZh: empty(zh), emptyEn: empty(en)};
    }""")
    assert missing == {"en": [], "zh": [], "emptyZh": [], "emptyEn": []}


# ---------------------------------------------------------------- the web router (no browser)


@pytest.fixture(scope="module")
def web_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.settings import Settings

    tmp = tmp_path_factory.mktemp("web")
    app = create_app(
        Settings(db_url=f"sqlite:///{tmp / 'cw.db'}", evidence_dir=tmp / "ev", secret_key="w" * 40, worker=False)
    )
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "status", "type_prefix"),
    [
        ("/", 200, "text/html"),
        ("/static/app.js", 200, "text/javascript"),
        ("/static/style.css", 200, "text/css"),
        ("/static/i18n/zh-CN.js", 200, "text/javascript"),
        ("/static/pages/login.js", 200, "text/javascript"),
        ("/static/vendor/echarts.min.js", 200, "text/javascript"),
        ("/static/vendor/js-yaml.mjs", 200, "text/javascript"),
        ("/static/vendor/swagger-ui-bundle.js", 200, "text/javascript"),
        ("/static/vendor/swagger-ui.css", 200, "text/css"),
        ("/docs", 200, "text/html"),
        ("/favicon.ico", 200, "image/svg+xml"),
        ("/static/vendor/nothing.js", 404, None),
        ("/static/../pyproject.toml", 404, None),
        ("/static/%2e%2e/api/routes/web.py", 404, None),
        ("/static/..%2F..%2Fpyproject.toml", 404, None),
        ("/static/node_modules/echarts/dist/echarts.min.js", 404, None),
        ("/static/package.json", 404, None),
        ("/static/nothing.js", 404, None),
    ],
)
def test_web_files_are_served_inside_the_web_folder_only(web_client, path, status, type_prefix):
    r = web_client.get(path)
    assert r.status_code == status, (path, r.status_code)
    if type_prefix:
        assert r.headers["content-type"].startswith(type_prefix)
        assert r.headers["cache-control"] == "no-cache"


def test_unchanged_files_revalidate_with_304(web_client):
    first = web_client.get("/static/app.js")
    again = web_client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_ui_routes_stay_out_of_the_openapi_schema(web_client):
    paths = web_client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/static")]


def test_docs_page_uses_no_cdn(web_client):
    html = web_client.get("/docs").text
    assert "cdn" not in html.lower() and "/static/vendor/swagger-ui-bundle.js" in html
    assert web_client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered


def test_docs_render_in_chromium_with_no_external_requests(new_page, ui, screenshot):
    """/docs draws the API's operations with every request answered by the service itself
    (anything else is aborted and recorded: the page must not need it)."""
    page = new_page()
    outside, failed = [], []

    def gate(route):
        if route.request.url.startswith(ui.base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", gate)
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.goto(f"{ui.base_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30000)
    assert page.locator(".swagger-ui .opblock").count() >= 40  # every operation is listed
    assert "crosswatch" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_timeout(300)
    assert outside == [] and failed == [], (outside, failed)
    screenshot(page, "api-docs")


def test_the_ui_asks_for_nothing_that_is_missing(page_as, ui):
    """No 404 while the app loads (the favicon included)."""
    failed = []
    page = page_as("reviewer", "")
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.reload()
    page.wait_for_selector("body[data-ready='1']", state="attached")
    page.wait_for_timeout(500)
    assert failed == [], failed
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200


NAMELESS_JS = """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
    .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
    .filter((e) => !((e.labels && e.labels.length) || e.getAttribute('aria-label')
        || e.getAttribute('aria-labelledby') || e.getAttribute('title') || e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize(
    ("role", "route", "ready"),
    [
        ("reviewer", "login", "#login-submit"),
        ("reviewer", "review", "#review-composite[data-uid]"),
        ("operator", "crossings", "#crossings-table"),
        ("operator", "crossings/vn-rear-stopline", "#cx-overlay line"),
        ("admin", "users", "#users-table"),
        ("admin", "users/1", "#keys-table"),
        ("admin", "audit", "#audit-table"),
        ("admin", "history", "#history-table"),
    ],
)
def test_every_control_has_an_accessible_name(role, route, ready, page_as, new_page, ui):
    if route == "login":
        page = new_page()
        page.goto(f"{ui.base_url}/#/login")
        ui.wait_ready(page)
    else:
        page = page_as(role, route)
    page.wait_for_selector(ready, state="attached")
    assert page.evaluate(NAMELESS_JS) == []


def test_keyboard_focus_order_starts_with_skip_link_then_nav(page_as):
    page = page_as("admin", "review")
    page.wait_for_selector("#review-composite[data-uid]", state="attached")
    page.focus("#skip-link")  # the first stop of the page
    order = []
    for _ in range(14):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("(e => e.id || e.dataset.route || e.dataset.lang || e.className)(document.activeElement)")
        )
    # header (brand, nav, language, time zone, logout), then the page: the review filters first
    assert order == [
        "brand",
        "review",
        "history",
        "dashboard",
        "jobs",
        "crossings",
        "users",
        "audit",
        "zh-CN",
        "en",
        "tz-select",
        "logout",
        "rv-f-crossing",
        "rv-f-type",
    ], order
