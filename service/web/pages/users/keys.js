// An account's API keys (on #/users/<id>): the list (name, prefix, created, last used, revoked),
// creating one — its secret is shown once, right after creation, and never again (the server
// keeps only a hash) — and revoking one (asked first; a revoked key stops working at once).

import { api, el, fmtDate, t, toast } from "../../app.js";

export class KeysPanel {
  constructor(user) {
    this.user = user;
    this.name = el("input", { id: "key-name", maxlength: 100, autocomplete: "off", required: true });
    this.err = el("p", { class: "error", id: "key-error", role: "alert" });
    this.created = el("div", { id: "key-created", class: "key-created", hidden: true, role: "status" });
    this.tbody = el("tbody", {});
    const form = el("form", { class: "form-row", id: "key-form" },
      el("label", { for: "key-name" }, t("admin.keys.name"), this.name),
      el("button", { type: "submit", class: "primary", id: "key-create" }, t("admin.keys.create")));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.create(); });
    this.root = el("section", { class: "panel", id: "user-keys", "aria-labelledby": "user-keys-title" },
      el("h2", { id: "user-keys-title" }, t("admin.keys.title")),
      el("p", { class: "muted hint" }, t("admin.keys.hint")),
      form, this.err, this.created,
      el("table", { class: "data-table", id: "keys-table" },
        el("thead", {}, el("tr", {}, ...["admin.keys.name", "admin.keys.prefix", "admin.users.created",
          "admin.keys.lastUsed", "admin.users.state", "crossings.actions"].map((k) => el("th", { scope: "col" }, t(k))))),
        this.tbody));
  }

  async load() {
    const out = await api(`/api/users/${this.user.id}/api-keys`);
    this.tbody.replaceChildren(...(out.data.length ? out.data.map((k) => this.row(k))
      : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, t("admin.keys.none")))]));
  }

  row(k) {
    const revoked = Boolean(k.revoked_at);
    return el("tr", { dataset: { key: String(k.id), prefix: k.prefix }, class: revoked ? "inactive" : null },
      el("th", { scope: "row" }, k.name),
      el("td", {}, el("code", {}, `${k.prefix}…`)),
      el("td", {}, fmtDate(k.created_at)),
      el("td", {}, k.last_used_at ? fmtDate(k.last_used_at) : t("admin.keys.never")),
      el("td", { class: "key-state" }, revoked ? t("admin.keys.revokedAt", { at: fmtDate(k.revoked_at) })
        : t("admin.users.active")),
      el("td", {}, revoked ? "" : el("button", { type: "button", class: "danger btn-small key-revoke",
        "aria-label": t("admin.keys.revokeNamed", { name: k.name }), onclick: () => this.revoke(k) },
      t("admin.keys.revoke"))));
  }

  async create() {
    this.err.textContent = "";
    const name = this.name.value.trim();
    if (!name) {
      this.err.textContent = t("admin.keys.nameRequired");
      return;
    }
    try {
      const k = await api(`/api/users/${this.user.id}/api-keys`, { method: "POST", body: { name } });
      this.name.value = "";
      this.showOnce(k);
      await this.load();
    } catch (e) {
      this.fail(e);
    }
  }

  /** The new key's secret, this once: a read-only field to copy from, and a button that hides it. */
  showOnce(k) {
    const secret = el("input", { id: "key-secret", readonly: true, value: k.key, class: "key-secret",
      "aria-label": t("admin.keys.secret"), onfocus: (e) => e.target.select() });
    const copy = el("button", { type: "button", id: "key-copy", onclick: async () => {
      secret.select();
      try {
        await navigator.clipboard.writeText(k.key);
        toast(t("admin.keys.copied"), "success");
      } catch {
        toast(t("admin.keys.copyByHand"), "info"); // no clipboard access (http): selected for Ctrl+C
      }
    } }, t("admin.keys.copy"));
    const done = el("button", { type: "button", id: "key-done", onclick: () => {
      this.created.hidden = true;
      this.created.replaceChildren(); // the secret leaves the page
    } }, t("admin.keys.done"));
    this.created.replaceChildren(el("p", { class: "warn-text" }, t("admin.keys.shownOnce", { name: k.name })),
      el("div", { class: "form-row" }, secret, copy, done));
    this.created.hidden = false;
    secret.focus();
  }

  async revoke(k) {
    if (!window.confirm(t("admin.keys.revokeConfirm", { name: k.name, prefix: k.prefix }))) return;
    try {
      await api(`/api/users/${this.user.id}/api-keys/${k.id}`, { method: "DELETE" });
      toast(t("admin.keys.revoked", { name: k.name }), "success");
      await this.load();
    } catch (e) {
      this.fail(e);
    }
  }

  fail(e) {
    this.err.textContent = `${t("common.error")}: ${e.message}`;
  }
}
