// Users (#/users) for administrators: every account with its role, data scope (districts /
// crossings), evidence access and state, and a form to create one. An account's own page
// (#/users/<id>: role, scope, active, password reset, API keys) is in ./users/detail.js.
// Everything goes through /api/users (admins only; each change is written to the audit log).

import { ApiError, api, el, fmtDate, fmtNumber, navigate, registerPage, t, toast } from "../app.js";
import { renderUserDetail } from "./users/detail.js";
import { ScopePicker, loadCrossings, passwordProblem, roleSelect, scopeText } from "./users/fields.js";

function userTable(users, names) {
  const yesNo = (b) => (b ? t("common.yes") : t("common.no"));
  return el("table", { class: "data-table", id: "users-table" },
    el("caption", {}, t("admin.users.count", { n: fmtNumber(users.length) })),
    el("thead", {}, el("tr", {}, ...["admin.users.username", "admin.users.role", "admin.scope.title",
      "admin.users.evidence", "admin.users.state", "admin.users.created", "crossings.actions"]
      .map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, ...users.map((u) => el("tr", { dataset: { user: u.username }, class: u.active ? null : "inactive" },
      el("th", { scope: "row" }, el("a", { href: `#/users/${u.id}` }, u.username)),
      el("td", { class: "user-role-cell" }, t(`common.role.${u.role}`)),
      el("td", { class: "user-scope" }, scopeText(u, names)),
      el("td", {}, u.role === "admin" || u.role === "reviewer" ? t("admin.users.evidenceByRole") : yesNo(u.evidence_access)),
      el("td", { class: "user-state" }, el("span", { class: `badge ${u.active ? "badge-confirmed" : "badge-dismissed"}` },
        t(u.active ? "admin.users.active" : "admin.users.inactive"))),
      el("td", {}, fmtDate(u.created_at)),
      el("td", {}, el("a", { href: `#/users/${u.id}`, class: "btn-like",
        "aria-label": t("admin.users.editNamed", { name: u.username }) }, t("admin.users.edit")))))));
}

function createForm(crossings, onCreated) {
  const name = el("input", { id: "new-user-name", required: true, maxlength: 64, autocomplete: "off",
    pattern: "[\\w.@\\-]+" });
  const pw = el("input", { id: "new-user-password", type: "password", required: true, autocomplete: "new-password" });
  const pw2 = el("input", { id: "new-user-password2", type: "password", required: true, autocomplete: "new-password" });
  const role = roleSelect("new-user-role", "reviewer");
  const evidence = el("input", { type: "checkbox", id: "new-user-evidence" });
  const scope = new ScopePicker(crossings, undefined, "new-user-scope");
  const err = el("p", { class: "error", id: "new-user-error", role: "alert" });
  const form = el("form", { class: "panel admin-form", id: "new-user-form", "aria-labelledby": "new-user-title" },
    el("h2", { id: "new-user-title" }, t("admin.users.create")),
    el("div", { class: "form-row" },
      el("label", { for: "new-user-name" }, t("admin.users.username"), name),
      el("label", { for: "new-user-role" }, t("admin.users.role"), role),
      el("label", { for: "new-user-password" }, t("admin.password.initial"), pw),
      el("label", { for: "new-user-password2" }, t("admin.password.repeatInitial"), pw2)),
    el("label", { class: "check", for: "new-user-evidence" }, evidence, t("admin.users.evidenceGrant")),
    scope.root, err,
    el("button", { type: "submit", class: "primary", id: "new-user-submit" }, t("admin.users.createButton")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = passwordProblem(pw.value, pw2.value);
    if (!name.value.trim()) err.textContent = t("admin.users.nameRequired");
    if (err.textContent) return;
    try {
      const u = await api("/api/users", { method: "POST", body: { username: name.value.trim(), password: pw.value,
        role: role.value, evidence_access: evidence.checked, ...scope.value() } });
      toast(t("admin.users.createdToast", { name: u.username }), "success");
      onCreated(u);
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 409 ? t("admin.users.taken", { name: name.value.trim() })
        : `${t("common.error")}: ${e.message}`;
    }
  });
  return form;
}

async function renderUsers(root) {
  const [users, crossings] = await Promise.all([api("/api/users"), loadCrossings()]);
  const names = new Map(crossings.map((c) => [c.id, c.name]));
  const list = el("section", { class: "panel", "aria-label": t("admin.users.title") }, userTable(users.data, names));
  root.append(el("div", { class: "admin-page" }, el("h1", {}, t("admin.users.title")),
    el("div", { class: "admin-layout" }, list,
      createForm(crossings, (u) => navigate(`#/users/${u.id}`)))));
}

registerPage("users", { title: "admin.users.title", roles: [], render: renderUsers });
registerPage("users/:id", { title: "admin.user.pageTitle", roles: [], render: renderUserDetail });
