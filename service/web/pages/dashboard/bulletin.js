// The 创城简报 (campaign bulletin) bar of the dashboard: a period (the week or month of the
// dashboard's end day, or the dashboard's own range), the dashboard's scope (district, crossing,
// type, class, 统计口径), PDF or DOCX, internal or public edition; downloads
// /api/reports/bulletin, whose numbers are those of /api/stats/* for the same filter.
import { api, download, el, t, toast } from "../../app.js";

export const PERIODS = ["week", "month", "custom"];

function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** The [from, to] days (both included) of `period` for a dashboard range ending on `state.to`:
 * week = Monday–Sunday of that day, month = its calendar month, custom = the dashboard's range. */
export function periodDays(period, state) {
  if (period === "week") {
    const [y, m, d] = state.to.split("-").map(Number);
    const monday = addDays(state.to, -((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7));
    return { from: monday, to: addDays(monday, 6) };
  }
  if (period === "month") {
    const [y, m] = state.to.split("-").map(Number);
    const first = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-01`;
    const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
    return { from: first, to: last };
  }
  return { from: state.from, to: state.to };
}

/** The bulletin bar; `getState` gives the dashboard's filter state, `queryOf(state)` its
 * /api/stats query (zone-aware bounds, scope filters). */
export function bulletinBar(getState, queryOf) {
  const period = el("select", { id: "dash-bulletin-period" },
    ...PERIODS.map((p) => el("option", { value: p }, t(`dashboard.bulletin.period.${p}`))));
  const format = el("select", { id: "dash-bulletin-format" },
    el("option", { value: "pdf" }, "PDF"), el("option", { value: "docx" }, "Word (DOCX)"));
  const pub = el("input", { type: "checkbox", id: "dash-bulletin-public" });
  const days = el("span", { class: "dash-bulletin-days", id: "dash-bulletin-days" });
  const showDays = () => {
    const d = periodDays(period.value, getState());
    days.textContent = t("dashboard.bulletin.days", { from: d.from, to: d.to });
  };
  period.addEventListener("change", showDays);
  const button = el("button", { type: "button", id: "dash-bulletin", class: "primary", onclick: async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    try {
      const state = getState();
      const query = { ...queryOf({ ...state, ...periodDays(period.value, state) }), format: format.value,
        public: pub.checked ? "true" : undefined };
      const res = await api("/api/reports/bulletin", { query, raw: true });
      const name = await download(res, `crosswatch-bulletin.${format.value}`);
      toast(t("dashboard.export.done", { name }), "success");
    } catch (e) {
      toast(`${t("dashboard.bulletin.failed")}: ${e.message}`, "error");
    } finally {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
    }
  } }, t("dashboard.bulletin.make"));
  const bar = el("div", { class: "dash-bulletin", role: "group", "aria-label": t("dashboard.bulletin.title") },
    el("span", { class: "dash-bulletin-title" }, t("dashboard.bulletin.title")),
    el("label", { for: "dash-bulletin-period" }, t("dashboard.bulletin.periodLabel"), period, days),
    el("label", { for: "dash-bulletin-format" }, t("dashboard.bulletin.format"), format),
    el("label", { for: "dash-bulletin-public", class: "check" }, pub, t("dashboard.bulletin.public")),
    button);
  bar.refresh = showDays;
  showDays();
  return bar;
}
