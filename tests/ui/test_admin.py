"""The administrator's pages in the browser: users (list, create with a role and a data scope,
change role / scope / evidence access / active, reset a password), an account's API keys (created
and shown once, then revoked) and the audit log (filters, paging, the chain verification result —
intact, and broken after a row is edited behind the service's back). Every change is checked
through the API (or by logging in / calling with the key), not only on the page."""

from __future__ import annotations

import sqlite3
import uuid

import httpx
import pytest

FORBIDDEN = "无权访问此页面"


def users_page(page_as, viewport=(1920, 1080), lang="zh-CN"):
    page = page_as("admin", "users", viewport=viewport, lang=lang)
    page.wait_for_selector("#users-table tbody tr")
    return page


def user_by_name(ui, name: str) -> dict:
    return next(u for u in ui.get("admin", "/api/users")["data"] if u["username"] == name)


def test_users_list_equals_the_api(page_as, ui, screenshot):
    page = users_page(page_as)
    api = ui.get("admin", "/api/users")
    rows = page.locator("#users-table tbody tr")
    assert rows.count() == api["count"]
    assert page.eval_on_selector_all("#users-table tbody tr", "rs => rs.map(r => r.dataset.user)") == [
        u["username"] for u in api["data"]
    ]
    reviewer = page.locator("#users-table tr[data-user='reviewer']")
    assert reviewer.locator(".user-role-cell").inner_text() == "交警审核员"
    assert reviewer.locator(".user-scope").inner_text() == "全部路口"
    screenshot(page, "admin-users")
    en = users_page(page_as, lang="en")
    assert en.locator("#users-table tr[data-user='reviewer'] .user-role-cell").inner_text() != "交警审核员"
    screenshot(en, "admin-users-en")


def test_create_a_scoped_user_then_change_and_reset_it(page_as, ui, screenshot):
    name = f"ui-{uuid.uuid4().hex[:8]}"
    crossing = ui.get("admin", "/api/crossings")["data"][0]
    page = users_page(page_as)
    page.fill("#new-user-name", name)
    page.select_option("#new-user-role", "analyst")
    page.fill("#new-user-password", "short")
    page.fill("#new-user-password2", "short")
    page.click("#new-user-submit")
    assert page.locator("#new-user-error").inner_text() == "密码至少 8 个字符"  # refused in the form
    page.fill("#new-user-password", "first-password-1")
    page.fill("#new-user-password2", "first-password-1")
    page.check(f"#new-user-scope-picker input[data-group='crossing'][value='{crossing['id']}']")
    page.click("#new-user-submit")
    page.wait_for_selector(f".admin-page[data-user='{name}']")  # its own page
    u = user_by_name(ui, name)
    assert (u["role"], u["crossing_ids"], u["districts"], u["active"]) == ("analyst", [crossing["id"]], [], True)
    assert crossing["name"] in page.locator("#user-summary").inner_text()

    # change: role, evidence access, deactivate
    page.select_option("#user-role", "reviewer")
    page.uncheck(f"#user-scope-picker input[data-group='crossing'][value='{crossing['id']}']")
    page.uncheck("#user-active")
    page.click("#user-save")
    page.wait_for_function("document.getElementById('user-summary')?.textContent.includes('停用')")
    u = user_by_name(ui, name)
    assert (u["role"], u["crossing_ids"], u["active"]) == ("reviewer", [], False)
    assert "全部路口" in page.locator("#user-summary").inner_text()
    audit = ui.get("admin", "/api/audit", params={"object_id": name, "action": "user_update"})["data"]
    assert audit and audit[0]["payload"] == {"role": "reviewer", "crossing_ids": [], "active": False}
    page.check("#user-active")
    page.click("#user-save")
    page.wait_for_function("document.getElementById('user-summary')?.textContent.includes('启用')")

    # password reset: the new one logs in, the old one no longer does
    page.fill("#user-password", "second-password-2")
    page.fill("#user-password2", "second-password-2")
    page.click("#user-password-submit")
    page.wait_for_function("document.getElementById('user-password')?.value === ''")

    def login(pw: str) -> httpx.Response:
        return httpx.post(f"{ui.base_url}/api/auth/login", json={"username": name, "password": pw})

    assert login("second-password-2").status_code == 200
    assert login("first-password-1").status_code == 401
    screenshot(page, "admin-user-detail")


def test_api_key_is_shown_once_and_revoked(page_as, ui, screenshot):
    analyst = user_by_name(ui, "analyst")
    page = page_as("admin", f"users/{analyst['id']}")
    page.wait_for_selector("#keys-table tbody tr")
    key_name = f"ui-key-{uuid.uuid4().hex[:6]}"
    page.fill("#key-name", key_name)
    page.click("#key-create")
    page.wait_for_selector("#key-created:not([hidden]) #key-secret")
    secret = page.input_value("#key-secret")
    me = httpx.get(f"{ui.base_url}/api/auth/me", headers={"X-API-Key": secret})
    assert me.status_code == 200 and me.json()["username"] == "analyst"  # the key works
    row = page.locator("#keys-table tbody tr", has_text=key_name)
    row.wait_for()
    prefix = row.get_attribute("data-prefix")
    assert prefix in secret and secret not in row.inner_text()
    screenshot(page, "admin-api-key-created")
    page.click("#key-done")
    assert page.locator("#key-secret").count() == 0
    page.reload()
    page.wait_for_selector("#keys-table tbody tr")
    assert secret not in page.content()  # shown once: never again

    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.locator("#keys-table tbody tr", has_text=key_name).locator(".key-revoke").click()
    page.wait_for_function(
        f"[...document.querySelectorAll('#keys-table tbody tr')].some(r => r.textContent.includes("
        f"{key_name!r}) && r.querySelector('.key-state').textContent.startsWith('已吊销'))"
    )
    assert dialogs and key_name in dialogs[0]
    assert httpx.get(f"{ui.base_url}/api/auth/me", headers={"X-API-Key": secret}).status_code == 401
    keys = ui.get("admin", f"/api/users/{analyst['id']}/api-keys")["data"]
    assert next(k for k in keys if k["name"] == key_name)["revoked_at"] is not None


def audit_page(page_as, route="audit", viewport=(1920, 1080)):
    page = page_as("admin", route, viewport=viewport)
    page.wait_for_selector("#audit-chain")
    page.wait_for_selector("#audit-table")
    return page


def test_audit_log_filters_and_verifies_the_chain(page_as, ui, screenshot):
    ui.request(
        "admin",
        "POST",
        "/api/users",
        json={"username": f"ui-audit-{uuid.uuid4().hex[:6]}", "password": "audit-password-1", "role": "operator"},
    )
    page = audit_page(page_as)
    verify = ui.get("admin", "/api/audit/verify")
    assert verify["ok"] is True
    chain = page.locator("#audit-chain")
    assert chain.get_attribute("data-ok") == "true"
    assert f"全部 {verify['entries']:,} 条" in chain.inner_text()
    total = ui.get("admin", "/api/audit", params={"limit": 1})["count"]
    assert page.get_attribute("#audit-list", "data-count") == str(total)
    screenshot(page, "admin-audit")

    page.fill("#audit-f-action", "user_create")
    page.click("#audit-apply")
    page.wait_for_function("location.hash.includes('action=user_create')")
    page.wait_for_selector("#audit-table tbody tr[data-action]")
    api = ui.get("admin", "/api/audit", params={"action": "user_create", "limit": 50})
    assert page.get_attribute("#audit-list", "data-count") == str(api["count"])
    shown = page.eval_on_selector_all("#audit-table tbody tr", "rs => rs.map(r => [r.dataset.id, r.dataset.action])")
    assert shown == [[str(e["id"]), "user_create"] for e in api["data"]]
    assert page.locator("#audit-table tbody tr").first.locator("td").nth(3).inner_text() == "创建用户"


def test_a_tampered_audit_row_shows_the_broken_chain(page_as, ui, screenshot):
    """Edit one entry in the database (as a DBA could): the page names it; put it back after."""
    entry = ui.get("admin", "/api/audit", params={"limit": 1})["data"][0]
    with sqlite3.connect(ui.db_path) as c:
        c.execute("UPDATE audit_log SET actor = ? WHERE id = ?", ("mallory", entry["id"]))
    try:
        page = audit_page(page_as)
        chain = page.locator("#audit-chain")
        assert chain.get_attribute("data-ok") == "false"
        assert f"#{entry['id']}" in chain.inner_text() and "审计链已断裂" in chain.inner_text()
        assert page.locator(f"#audit-table tr[data-id='{entry['id']}']").get_attribute("class") == "audit-bad"
        screenshot(page, "admin-audit-broken")
    finally:
        with sqlite3.connect(ui.db_path) as c:
            c.execute("UPDATE audit_log SET actor = ? WHERE id = ?", (entry["actor"], entry["id"]))
    assert ui.get("admin", "/api/audit/verify")["ok"] is True


@pytest.mark.parametrize("role", ["operator", "reviewer", "analyst"])
def test_admin_pages_are_for_admins_only(role, page_as):
    page = page_as(role, "users")
    page.wait_for_selector("#page h1")
    assert page.locator("#page h1").inner_text() == FORBIDDEN
    routes = page.eval_on_selector_all("#nav a", "as => as.map(a => a.dataset.route)")
    assert "users" not in routes and "audit" not in routes
    page.evaluate("location.hash = '#/audit'")
    page.wait_for_function(f"document.querySelector('#page h1')?.textContent === {FORBIDDEN!r}")


def test_admin_sees_the_admin_pages_in_the_nav(page_as):
    page = page_as("admin", "users")
    page.wait_for_selector("#users-table")
    routes = page.eval_on_selector_all("#nav a", "as => as.map(a => a.dataset.route)")
    assert routes[-2:] == ["users", "audit"]
