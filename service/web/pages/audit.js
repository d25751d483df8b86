// The audit log (#/audit) for administrators: who did what to which object, newest first, with
// filters (actor, action, object type, object id) and pages of PAGE entries; and the result of
// verifying the whole hash chain (GET /api/audit/verify) — intact, or the first entry that does
// not verify and why (an edited or deleted row breaks the chain from there on).

import { api, el, fmtDate, fmtNumber, hasT, registerPage, t } from "../app.js";

const PAGE = 50;
const ACTIONS = ["user_create", "user_update", "api_key_create", "api_key_revoke", "login_failed", "review", "review_reopen",
  "case_package_export", "crossing_create", "crossing_update", "job_submit", "job_cancel"];
const OBJECT_TYPES = ["user", "event", "evidence", "case_package", "crossing", "job"];
const FILTERS = ["actor", "action", "object_type", "object_id"];

/** A code's label ("user_create" → 创建用户), the code itself when there is none (a new action). */
function label(kind, code) {
  const key = `admin.audit.${kind}.${code}`;
  return hasT(key) ? t(key) : code;
}

/** The payload as one short line ("role=reviewer · districts=[…]"), the full JSON in a tooltip. */
export function payloadText(payload) {
  return Object.entries(payload || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" · ");
}

function filterForm(values, onApply) {
  const input = (name, attrs = {}) => el("input", { id: `audit-f-${name}`, value: values[name] || "", maxlength: 64,
    autocomplete: "off", ...attrs });
  const typeSel = el("select", { id: "audit-f-object_type" }, el("option", { value: "" }, t("common.all")),
    ...OBJECT_TYPES.map((o) => el("option", { value: o }, label("object", o))));
  typeSel.value = values.object_type || "";
  const fields = {
    actor: input("actor"),
    action: input("action", { list: "audit-actions" }),
    object_type: typeSel,
    object_id: input("object_id"),
  };
  const form = el("form", { class: "audit-filters", id: "audit-filters", "aria-label": t("admin.audit.filters") },
    el("label", { for: "audit-f-actor" }, t("admin.audit.actor"), fields.actor),
    el("label", { for: "audit-f-action" }, t("admin.audit.action"), fields.action),
    el("datalist", { id: "audit-actions" }, ...ACTIONS.map((a) => el("option", { value: a }, label("action", a)))),
    el("label", { for: "audit-f-object_type" }, t("admin.audit.objectType"), fields.object_type),
    el("label", { for: "audit-f-object_id" }, t("admin.audit.objectId"), fields.object_id),
    el("button", { type: "submit", class: "primary", id: "audit-apply" }, t("common.apply")),
    el("button", { type: "button", id: "audit-clear", onclick: () => onApply({}) }, t("admin.audit.clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    onApply(Object.fromEntries(FILTERS.map((k) => [k, fields[k].value.trim()]).filter(([, v]) => v)));
  });
  return form;
}

function entriesTable(rows) {
  return el("table", { class: "data-table", id: "audit-table" },
    el("thead", {}, el("tr", {}, ...["admin.audit.id", "admin.audit.at", "admin.audit.actor", "admin.audit.action",
      "admin.audit.object", "admin.audit.payload", "admin.audit.hash"].map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, ...(rows.length ? rows.map((r) => el("tr", { dataset: { id: String(r.id), action: r.action } },
      el("td", { class: "num" }, String(r.id)),
      el("td", {}, el("time", { datetime: r.at }, fmtDate(r.at))),
      el("td", {}, r.actor),
      el("td", { title: r.action }, label("action", r.action)),
      el("td", {}, `${label("object", r.object_type)} ${r.object_id}`),
      el("td", { class: "audit-payload", title: JSON.stringify(r.payload) }, payloadText(r.payload)),
      el("td", {}, el("code", { title: r.hash }, r.hash.slice(0, 12)))))
      : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, t("admin.audit.none")))])));
}

/** The chain check's result as a status box (intact: green; broken: red with the first bad entry). */
function chainBox(report) {
  if (report.ok) {
    return el("div", { class: "chain chain-ok", id: "audit-chain", role: "status", dataset: { ok: "true" } },
      el("strong", {}, t("admin.audit.chainOk")), " ", t("admin.audit.chainOkText", { n: fmtNumber(report.entries) }));
  }
  return el("div", { class: "chain chain-bad", id: "audit-chain", role: "alert", dataset: { ok: "false" } },
    el("strong", {}, t("admin.audit.chainBad")), " ",
    t("admin.audit.chainBadText", { id: report.first_bad_id ?? "–", n: fmtNumber(report.entries),
      reason: report.reason || "" }));
}

function render(root, params) {
  const values = Object.fromEntries(FILTERS.map((k) => [k, params.query.get(k)]).filter(([, v]) => v));
  let offset = Math.max(0, Number(params.query.get("offset")) || 0);
  const chain = el("div", { id: "audit-chain-box" }, el("p", { class: "muted" }, t("admin.audit.verifying")));
  const list = el("div", { id: "audit-list", class: "table-wrap" });
  const pager = el("div", { class: "audit-pager", id: "audit-pager" });
  const go = (filters, at) => {
    const q = new URLSearchParams({ ...filters, ...(at ? { offset: String(at) } : {}) });
    location.hash = `#/audit${q.toString() ? `?${q}` : ""}`;
  };
  let report = null;
  const markBad = () => { // the first entry that does not verify, when it is on this page
    for (const tr of list.querySelectorAll("tr.audit-bad")) tr.classList.remove("audit-bad");
    if (report && !report.ok) list.querySelector(`tr[data-id='${report.first_bad_id}']`)?.classList.add("audit-bad");
  };
  const verify = async () => {
    chain.replaceChildren(el("p", { class: "muted" }, t("admin.audit.verifying")));
    report = await api("/api/audit/verify");
    chain.replaceChildren(chainBox(report));
    markBad();
  };
  const load = async () => {
    const out = await api("/api/audit", { query: { ...values, limit: PAGE, offset } });
    list.replaceChildren(entriesTable(out.data));
    markBad();
    list.dataset.count = String(out.count);
    const last = Math.min(offset + out.data.length, out.count);
    pager.replaceChildren(
      el("span", { id: "audit-range" }, t("admin.audit.range", { from: fmtNumber(out.count ? offset + 1 : 0),
        to: fmtNumber(last), n: fmtNumber(out.count) })),
      el("button", { type: "button", id: "audit-prev", disabled: offset === 0,
        onclick: () => go(values, Math.max(0, offset - PAGE)) }, t("admin.audit.newer")),
      el("button", { type: "button", id: "audit-next", disabled: last >= out.count,
        onclick: () => go(values, offset + PAGE) }, t("admin.audit.older")));
  };
  root.append(el("div", { class: "admin-page audit-page" },
    el("div", { class: "admin-head" }, el("h1", {}, t("admin.audit.title")),
      el("button", { type: "button", id: "audit-verify", onclick: () => verify() }, t("admin.audit.verify"))),
    chain, filterForm(values, (f) => go(f, 0)),
    el("section", { class: "panel", "aria-label": t("admin.audit.title") }, list, pager)));
  return Promise.all([verify(), load()]).then(() => undefined);
}

registerPage("audit", { title: "admin.audit.title", roles: [], render });
