// Form fields shared by the create form (users.js) and an account's page (detail.js): the role,
// the password check, and the data scope (which crossings the account sees): districts (辖区) and
// single crossings, picked from the crossings the server knows. Nothing picked = every crossing.

import { api, el, t } from "../../app.js";

export const ROLES = ["admin", "operator", "reviewer", "analyst"];
export const MIN_PASSWORD = 8; // service/accounts.py MIN_PASSWORD_LEN

/** The crossings (for scope pickers and names); [] when they cannot be read. */
export async function loadCrossings() {
  const out = await api("/api/crossings", { query: { limit: 500 } }).catch(() => ({ data: [] }));
  return out.data;
}

/** A role <select> (`value` preselected). */
export function roleSelect(id, value) {
  const sel = el("select", { id, required: true },
    ...ROLES.map((r) => el("option", { value: r }, t(`common.role.${r}`))));
  sel.value = value;
  return sel;
}

/** "" when `password` is acceptable, else what is wrong (the server checks again). */
export function passwordProblem(password, repeat) {
  if (password.length < MIN_PASSWORD) return t("admin.password.tooShort", { n: MIN_PASSWORD });
  if (password !== repeat) return t("admin.password.mismatch");
  return "";
}

/** The scope as people read it: "全部路口" or "辖区：A、B · 路口：x". */
export function scopeText(user, crossingNames = new Map()) {
  const parts = [];
  if (user.districts.length) parts.push(t("admin.scope.districtsList", { list: user.districts.join("、") }));
  if (user.crossing_ids.length) {
    parts.push(t("admin.scope.crossingsList", {
      list: user.crossing_ids.map((id) => crossingNames.get(id) || id).join("、") }));
  }
  return parts.length ? parts.join(" · ") : t("admin.scope.everything");
}

/** Two groups of check boxes (districts, crossings) for an account's scope. */
export class ScopePicker {
  /** `crossings`: [{id, name, district}]; `value`: {districts, crossing_ids} already granted;
   * `idPrefix` keeps element ids unique when two pickers share a page. */
  constructor(crossings, value = { districts: [], crossing_ids: [] }, idPrefix = "scope") {
    const districts = [...new Set(crossings.map((c) => c.district).filter(Boolean))].sort();
    // granted values the server no longer lists stay visible (and can be removed)
    for (const d of value.districts) if (!districts.includes(d)) districts.push(d);
    const known = new Set(crossings.map((c) => c.id));
    const rows = [...crossings, ...value.crossing_ids.filter((id) => !known.has(id)).map((id) => ({ id, name: id }))];
    const box = (group, v, label, checked, i) => el("label", { class: "check", for: `${idPrefix}-${group}-${i}` },
      el("input", { type: "checkbox", id: `${idPrefix}-${group}-${i}`, value: v, checked, dataset: { group } }),
      label);
    this.root = el("fieldset", { class: "scope-picker", id: `${idPrefix}-picker` },
      el("legend", {}, t("admin.scope.title")),
      el("p", { class: "muted hint" }, t("admin.scope.hint")),
      el("div", { class: "scope-cols" },
        el("div", { class: "scope-group", role: "group", "aria-label": t("admin.scope.districts") },
          el("h3", {}, t("admin.scope.districts")),
          ...(districts.length ? districts.map((d, i) => box("district", d, d, value.districts.includes(d), i))
            : [el("p", { class: "muted" }, t("admin.scope.noDistricts"))])),
        el("div", { class: "scope-group", role: "group", "aria-label": t("admin.scope.crossings") },
          el("h3", {}, t("admin.scope.crossings")),
          ...rows.map((c, i) => box("crossing", c.id, c.name, value.crossing_ids.includes(c.id), i)))));
  }

  /** {districts, crossing_ids} as checked now. */
  value() {
    const picked = (group) => [...this.root.querySelectorAll(`input[data-group='${group}']:checked`)]
      .map((x) => x.value);
    return { districts: picked("district"), crossing_ids: picked("crossing") };
  }
}
