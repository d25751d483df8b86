// One account (#/users/<id>, administrators): role, data scope, evidence access, active, a
// password reset, and its API keys (./keys.js). Changes are sent as one PATCH /api/users/{id} with
// only what changed (the audit log records exactly that). Admins cannot demote or deactivate their
// own account here (they would lock themselves out of this page).

import { ApiError, api, el, fmtDate, me, t, toast } from "../../app.js";
import { ScopePicker, loadCrossings, passwordProblem, roleSelect, scopeText } from "./fields.js";
import { KeysPanel } from "./keys.js";

/** The same values, in any order. */
function sameList(a, b) {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function accountForm(user, crossings, self, onSaved) {
  const role = roleSelect("user-role", user.role);
  const active = el("input", { type: "checkbox", id: "user-active", checked: user.active });
  const evidence = el("input", { type: "checkbox", id: "user-evidence", checked: user.evidence_access });
  if (self) { role.disabled = true; active.disabled = true; }
  const scope = new ScopePicker(crossings, user, "user-scope");
  const err = el("p", { class: "error", id: "user-error", role: "alert" });
  const form = el("form", { class: "panel admin-form", id: "user-form", "aria-labelledby": "user-form-title" },
    el("h2", { id: "user-form-title" }, t("admin.user.account")),
    el("div", { class: "form-row" },
      el("label", { for: "user-role" }, t("admin.users.role"), role),
      el("label", { class: "check", for: "user-active" }, active, t("admin.users.activeLabel")),
      el("label", { class: "check", for: "user-evidence" }, evidence, t("admin.users.evidenceGrant"))),
    self ? el("p", { class: "muted hint", id: "user-self-hint" }, t("admin.user.selfHint")) : null,
    scope.root, err,
    el("button", { type: "submit", class: "primary", id: "user-save" }, t("common.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const v = scope.value();
    const patch = {};
    if (role.value !== user.role) patch.role = role.value;
    if (active.checked !== user.active) patch.active = active.checked;
    if (evidence.checked !== user.evidence_access) patch.evidence_access = evidence.checked;
    if (!sameList(v.districts, user.districts)) patch.districts = v.districts;
    if (!sameList(v.crossing_ids, user.crossing_ids)) patch.crossing_ids = v.crossing_ids;
    if (!Object.keys(patch).length) {
      toast(t("admin.user.nothingChanged"));
      return;
    }
    try {
      const out = await api(`/api/users/${user.id}`, { method: "PATCH", body: patch });
      toast(t("admin.user.saved", { name: out.username }), "success");
      onSaved(out);
    } catch (e) {
      err.textContent = `${t("common.error")}: ${e.message}`;
    }
  });
  return form;
}

function passwordForm(user) {
  const pw = el("input", { type: "password", id: "user-password", autocomplete: "new-password" });
  const pw2 = el("input", { type: "password", id: "user-password2", autocomplete: "new-password" });
  const msg = el("p", { class: "error", id: "user-password-error", role: "alert" });
  const form = el("form", { class: "panel admin-form", id: "user-password-form",
    "aria-labelledby": "user-password-title" },
  el("h2", { id: "user-password-title" }, t("admin.password.reset")),
  el("p", { class: "muted hint" }, t("admin.password.resetHint")),
  el("div", { class: "form-row" },
    el("label", { for: "user-password" }, t("admin.password.new"), pw),
    el("label", { for: "user-password2" }, t("admin.password.repeat"), pw2)),
  msg, el("button", { type: "submit", id: "user-password-submit" }, t("admin.password.resetButton")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = passwordProblem(pw.value, pw2.value);
    if (msg.textContent) return;
    try {
      await api(`/api/users/${user.id}`, { method: "PATCH", body: { password: pw.value } });
      pw.value = "";
      pw2.value = "";
      toast(t("admin.password.done", { name: user.username }), "success");
    } catch (e) {
      msg.textContent = `${t("common.error")}: ${e.message}`;
    }
  });
  return form;
}

export async function renderUserDetail(root, { id }) {
  const [users, crossings, self] = await Promise.all([api("/api/users"), loadCrossings(), me()]);
  const user = users.data.find((u) => String(u.id) === id);
  if (!user) {
    root.append(el("section", { class: "notice" }, el("h1", {}, t("common.notFound")),
      el("a", { href: "#/users" }, `← ${t("admin.user.back")}`)));
    return;
  }
  const names = new Map(crossings.map((c) => [c.id, c.name]));
  const summary = el("p", { class: "muted", id: "user-summary" });
  const showSummary = (u) => {
    summary.textContent = t("admin.user.summary", { role: t(`common.role.${u.role}`), scope: scopeText(u, names),
      state: t(u.active ? "admin.users.active" : "admin.users.inactive"), at: fmtDate(u.created_at) });
  };
  showSummary(user);
  const isSelf = self && self.username === user.username;
  const keys = new KeysPanel(user);
  root.append(el("div", { class: "admin-page", dataset: { user: user.username } },
    el("div", { class: "admin-head" }, el("a", { href: "#/users", id: "user-back" }, `← ${t("admin.user.back")}`),
      el("h1", {}, t("admin.user.title", { name: user.username })), summary),
    el("div", { class: "admin-layout" },
      accountForm(user, crossings, isSelf, (u) => { Object.assign(user, u); showSummary(u); }),
      el("div", { class: "admin-side" }, passwordForm(user), keys.root))));
  try {
    await keys.load();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) keys.fail(e);
  }
}
