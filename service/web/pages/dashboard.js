// Dashboard (#/dashboard) for the campaign office (创城办; analysts and admins): KPIs of a date
// range, the hotspot ranking, a map / schematic of crossings sized by rate, trend lines per type,
// a weekday × hour heatmap, per crossing a heatmap of where in the camera view violations happen
// (drawn over the crossing's snapshot), and CSV / XLSX exports.
//
// Every number comes from /api/stats/* with the same filter (range, crossing, type, status, and
// the UI's time zone for local buckets), so the page shows exactly what the exports contain.
// Charts are ECharts (npm, served at /static/vendor/echarts.min.js), loaded once as a classic
// script. Each section loads and fails on its own: one bad answer never blanks the whole page.
import {
  ApiError, DEFAULT_TZ, api, download, el, escapeHtml, eventTypes, fmtDay, fmtNumber, fmtPercent, lang, registerPage, t,
  timeZone, toast,
} from "../app.js";
import { geoOption, loadBasemap } from "./dashboard/basemap.js";
import { bulletinBar } from "./dashboard/bulletin.js";
import { rateNotes } from "./dashboard/rates.js";

const ECHARTS_URL = "/static/vendor/echarts.min.js";
const STATE_KEY = "cw.dashboard.filters";
const DEFAULT_DAYS = 30;
const WEEK_BUCKET_AFTER_DAYS = 120; // longer ranges trend by week (a daily line gets unreadable)
const SPATIAL_BINS = 16;
const CLASSES = ["car", "motorcycle", "bicycle", "bus", "truck", "person"];
const STATUSES = ["not_dismissed", "confirmed", "all"];
const EXPORT_REPORTS = ["hotspots", "counts", "weekday-hour", "events"];
const TYPE_COLORS = { red_light: "#c62828", wrong_way: "#1565c0", all: "#37474f" };
const HEAT_COLORS = ["#fff5cc", "#ffc46b", "#f57c00", "#c62828", "#6d0b0b"];
const FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif';

// ---------------------------------------------------------------- ECharts loading

let echartsPromise = null;

/** window.echarts, loading the vendored UMD build once per page load (a classic script: the npm
 * package's dist file is not an ES module). */
function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!echartsPromise) {
    echartsPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = ECHARTS_URL;
      s.async = true;
      s.onload = () => (window.echarts ? resolve(window.echarts) : reject(new Error("echarts did not load")));
      s.onerror = () => {
        echartsPromise = null;
        s.remove();
        reject(new Error(t("dashboard.echartsMissing")));
      };
      document.head.append(s);
    });
  }
  return echartsPromise;
}

// ---------------------------------------------------------------- dates in a time zone

/** "YYYY-MM-DD" of the instant `ms` as a calendar day in `tz`. */
export function dayIn(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date(ms));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** Milliseconds the wall clock of `tz` is ahead of UTC at instant `ms`. */
function tzOffsetMs(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(ms));
  const v = Object.fromEntries(parts.filter((p) => p.type !== "literal").map((p) => [p.type, Number(p.value)]));
  const wall = Date.UTC(v.year, v.month - 1, v.day, v.hour % 24, v.minute, v.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The instant (ISO, UTC) of 00:00 on calendar day `day` ("YYYY-MM-DD") in `tz`: the API wants
 * zone-aware times, and a day of the dashboard is a local day of the zone the UI shows. */
export function zonedMidnightIso(day, tz) {
  const [y, m, d] = day.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  let ms = guess - tzOffsetMs(guess, tz);
  ms = guess - tzOffsetMs(ms, tz); // second pass: the offset at the real instant (DST edges)
  return new Date(ms).toISOString();
}

/** `day` plus `n` calendar days. */
export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

// ---------------------------------------------------------------- filter state

/** The saved filters of this browser tab (kept across a language switch), or null. */
function loadState() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STATE_KEY) || "null");
    if (s && DAY_RE.test(s.from) && DAY_RE.test(s.to) && STATUSES.includes(s.status)) return s;
  } catch { /* ignore a corrupt entry */ }
  return null;
}

function saveState(state) {
  sessionStorage.setItem(STATE_KEY, JSON.stringify(state));
}

/** The default range: the DEFAULT_DAYS days ending on the day of the newest event (today when
 * there is none), so sample or archived data shows up without hunting for its dates. */
async function defaultState() {
  const tz = timeZone();
  let newest = Date.now();
  try {
    const page = await api("/api/events", { query: { limit: 1, sort: "-occurred_at" } });
    const at = page.data[0] && page.data[0].occurred_at;
    if (at) newest = new Date(at).getTime();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401) throw e; // 403 (scoped role): fall back to today
  }
  const to = dayIn(newest, tz);
  return { from: addDays(to, 1 - DEFAULT_DAYS), to, crossing: "", district: "", cls: "", type: "",
    status: "not_dismissed", spatial: "" };
}

/** The statistics query of `state`: [from 00:00, day after `to` 00:00) in the UI's zone. */
export function statsQuery(state) {
  const tz = timeZone();
  return {
    from: zonedMidnightIso(state.from, tz),
    to: zonedMidnightIso(addDays(state.to, 1), tz),
    crossing_id: state.crossing || undefined,
    district: state.district || undefined,
    type: state.type || undefined,
    class_name: state.cls || undefined,
    status: state.status,
    tz,
  };
}

/** Days in the (inclusive) range. */
function rangeDays(state) {
  return Math.round((Date.parse(`${state.to}T00:00:00Z`) - Date.parse(`${state.from}T00:00:00Z`)) / 86400000) + 1;
}

/** The same filter for the events export: the same status scope (统计口径), so it has exactly the
 * events the page counts, with times in the page's zone and labels in its language. */
function eventsQuery(state) {
  const q = statsQuery(state);
  return {
    from: q.from, to: q.to, crossing_id: q.crossing_id, district: q.district, type: q.type,
    class_name: q.class_name, status: q.status, tz: q.tz, lang: apiLang(),
  };
}

function apiLang() {
  return lang() === "en" ? "en" : "zh";
}

// ---------------------------------------------------------------- labels

function typeLabel(type) {
  return type === "all" ? t("dashboard.total") : t(`common.type.${type}`);
}

function crossingLabel(c) {
  return c.name || c.crossing_id || c.id;
}

/** A chart container: a described image for screen readers, the data table being the text form. */
function chartBox(id, labelKey, cls = "dash-chart") {
  return el("div", { id, class: cls, role: "img", "aria-label": t(labelKey) });
}

function section(id, titleKey, ...children) {
  return el("section", { id, class: "panel dash-section", "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, t(titleKey)), ...children);
}

/** Replace a section's content by the error (its chart, if any, is disposed first by the caller). */
function showError(box, e) {
  box.replaceChildren(el("p", { class: "error", role: "alert" }, `${t("common.error")}: ${e.message}`));
}

// ---------------------------------------------------------------- KPIs

const KPIS = [
  { key: "violations", label: "dashboard.kpi.violations", value: (s) => fmtNumber(s.violations) },
  { key: "rate_per_1000", label: "dashboard.kpi.rate", value: (s) => fmtNumber(s.rate_per_1000, 2),
    hint: (s) => (s.rate_per_1000 === null ? t("dashboard.kpi.noExposure") : t("dashboard.kpi.rateHint")),
    notes: (s) => (s.rate_per_1000 === null ? [] : rateNotes(s.violations, s.road_users)) },
  { key: "confirmed_share", label: "dashboard.kpi.confirmedShare", value: (s) => fmtPercent(s.confirmed_share),
    hint: (s) => t("dashboard.kpi.confirmedHint", {
      confirmed: fmtNumber(s.by_status.confirmed), dismissed: fmtNumber(s.by_status.dismissed) }) },
  { key: "road_users", label: "dashboard.kpi.roadUsers", value: (s) => fmtNumber(s.road_users) },
  { key: "pending", label: "dashboard.kpi.pending", value: (s) => fmtNumber(s.pending) },
];

function renderKpis(box, summary, types) {
  box.replaceChildren(...KPIS.map((k) => el("div", { class: "kpi", dataset: { kpi: k.key } },
    el("div", { class: "kpi-label", id: `kpi-${k.key}-label` }, t(k.label)),
    el("div", { class: "kpi-value", "aria-labelledby": `kpi-${k.key}-label` }, k.value(summary)),
    k.notes ? el("div", { class: "kpi-notes rate-notes" }, ...k.notes(summary)) : null,
    k.hint ? el("div", { class: "kpi-hint" }, k.hint(summary)) : null)));
  const byType = types.map(([ty, label]) => `${label} ${fmtNumber(summary.by_type[ty] || 0)}`).join(" · ");
  box.append(el("p", { class: "kpi-foot muted" }, byType));
}

// ---------------------------------------------------------------- hotspot table

/** The hotspot table's columns: one per violation type of `types` ([code, label] pairs) after the total. */
const hotspotColumns = (types) => [
  { key: "rank", title: t("dashboard.col.rank"), num: true, value: (h) => fmtNumber(h.rank) },
  { key: "name", title: t("dashboard.col.crossing"), value: (h) => h.name },
  { key: "district", title: t("dashboard.col.district"), value: (h) => h.district || "–" },
  { key: "violations", title: t("dashboard.col.violations"), num: true, value: (h) => fmtNumber(h.violations) },
  ...types.map(([ty, label]) => ({ key: ty, title: label, num: true, value: (h) => fmtNumber(h.by_type[ty] || 0) })),
  { key: "road_users", title: t("dashboard.col.roadUsers"), num: true, value: (h) => fmtNumber(h.road_users) },
  { key: "rate_per_1000", title: t("dashboard.col.rate"), num: true, value: (h) => (h.rate_per_1000 === null ? "–"
    : [el("span", { class: "rate-value" }, fmtNumber(h.rate_per_1000, 2)),
      el("span", { class: "rate-notes" }, ...rateNotes(h.violations, h.road_users))]) },
];

function renderHotspots(box, hotspots, onPick, types) {
  const columns = hotspotColumns(types);
  if (!hotspots.length) {
    box.replaceChildren(el("p", { class: "muted" }, t("dashboard.noData")));
    return;
  }
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null },
    c.title)), el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, t("dashboard.spatial.title"))));
  const rows = hotspots.map((h) => el("tr", { dataset: { crossing: h.crossing_id } },
    ...columns.map((c) => el(c.key === "name" ? "th" : "td", {
      class: c.num ? "num" : null, dataset: { col: c.key }, scope: c.key === "name" ? "row" : null }, c.value(h))),
    el("td", {}, el("button", { type: "button", class: "btn-small", onclick: () => onPick(h.crossing_id),
      "aria-label": t("dashboard.showSpatialFor", { name: h.name }) }, t("dashboard.showSpatial")))));
  box.replaceChildren(el("table", { class: "data-table", id: "hotspot-table" },
    el("caption", { class: "visually-hidden" }, t("dashboard.hotspots.title")),
    el("thead", {}, head), el("tbody", {}, ...rows)));
}

// ---------------------------------------------------------------- charts

/** Options shared by every chart: the CJK font and no animation (charts redraw on each filter). */
function baseOption() {
  return { textStyle: { fontFamily: FONT }, animation: false, aria: { enabled: true } };
}

/** Symbol size (px) for `value` of `max`: area proportional to the value, 14..56 px. */
export function symbolSize(value, max) {
  if (!max || value === null || value === undefined) return 14;
  return Math.round(14 + 42 * Math.sqrt(Math.max(0, value) / max));
}

/** Points of the crossing map: every crossing of the scope with its hotspot row (if any). When
 * every crossing has coordinates they sit at lon/lat; otherwise on a schematic grid in ranking
 * order (a map with half the crossings missing would mislead). Size = rate per 1,000 when any
 * rate is known, else violations. */
export function mapPoints(crossings, hotspots) {
  const byId = new Map(hotspots.map((h) => [h.crossing_id, h]));
  const ordered = [...crossings].sort((a, b) => {
    const ra = byId.get(a.id)?.rank ?? Infinity;
    const rb = byId.get(b.id)?.rank ?? Infinity;
    return ra - rb || a.id.localeCompare(b.id);
  });
  const geo = ordered.length > 0 && ordered.every((c) => c.lat !== null && c.lon !== null);
  const byRate = hotspots.some((h) => h.rate_per_1000 !== null);
  const metric = (h) => (h ? (byRate ? h.rate_per_1000 : h.violations) : null);
  const max = Math.max(0, ...ordered.map((c) => metric(byId.get(c.id)) || 0));
  const cols = Math.max(1, Math.ceil(Math.sqrt(ordered.length)));
  const points = ordered.map((c, i) => {
    const h = byId.get(c.id);
    return {
      id: c.id, name: c.name, h, value: metric(h),
      x: geo ? c.lon : i % cols, y: geo ? c.lat : -Math.floor(i / cols),
      size: symbolSize(metric(h), max),
    };
  });
  return { geo, byRate, points };
}

/** The crossing map's option: over the deployment's basemap (`basemap`, from loadBasemap) when
 * there is one and every crossing has coordinates; else the lon/lat sketch (value axes), or the
 * schematic grid when some crossing has no coordinates. */
export function mapOption(crossings, hotspots, basemap = null) {
  const { geo, byRate, points } = mapPoints(crossings, hotspots);
  const fmt = (p) => {
    const h = p.h;
    const rate = h ? fmtNumber(h.rate_per_1000, 2) : "–";
    const n = h ? fmtNumber(h.violations) : fmtNumber(0);
    // ECharts renders a formatter's string as HTML: every piece of text is escaped (the crossing
    // name is whatever an operator typed)
    return [p.name, `${t("dashboard.col.rate")}: ${rate}`, `${t("dashboard.col.violations")}: ${n}`]
      .map(escapeHtml).join("<br>");
  };
  const title = { text: geo ? t(basemap ? "dashboard.map.basemap" : "dashboard.map.geo") : t("dashboard.map.schematic"),
    subtext: byRate ? t("dashboard.map.sizeRate") : t("dashboard.map.sizeViolations"),
    left: 8, top: 4, textStyle: { fontSize: 13, fontWeight: "normal" }, subtextStyle: { color: "#4b5565" } };
  const tooltip = { trigger: "item", formatter: (p) => (p.data && p.data.point ? fmt(p.data.point) : escapeHtml(p.name || "")) };
  const itemStyle = (p) => ({ color: p.value ? "#c62828" : "#90a4ae", opacity: 0.8, borderColor: "#fff", borderWidth: 1 });
  const label = {
    show: true, position: "bottom", width: 180, overflow: "truncate", fontSize: 11, color: "#1a2230",
    formatter: (p) => `${p.data.name}\n${p.data.point.value === null ? "–"
      : fmtNumber(p.data.point.value, byRate ? 2 : 0)}`,
  };
  if (geo && basemap) return geoOption(points, { base: baseOption(), title, tooltip, itemStyle, label });
  // geo: lon/lat scaled to the points; schematic: one cell per crossing, the points centred in
  // them (fixed ranges, so labels are never pushed off the edge)
  const cols = Math.max(1, ...points.map((p) => p.x + 1));
  const rows = Math.max(1, ...points.map((p) => 1 - p.y));
  const axis = (name, lo, hi) => (geo
    ? { type: "value", scale: true, name, axisLabel: { formatter: (v) => fmtNumber(v, 3) } }
    : { type: "value", show: false, min: lo, max: hi });
  return {
    ...baseOption(),
    title,
    grid: { left: geo ? 60 : 30, right: 30, top: 60, bottom: geo ? 40 : 30, containLabel: false },
    tooltip,
    xAxis: axis(t("dashboard.map.lon"), -0.5, cols - 0.5),
    yAxis: axis(t("dashboard.map.lat"), 0.3 - rows, 0.5),
    series: [{
      type: "scatter",
      data: points.map((p) => ({ value: [p.x, p.y], symbolSize: p.size, name: p.name, point: p, itemStyle: itemStyle(p) })),
      label,
    }],
  };
}

function trendOption(trend) {
  const cats = (trend.series[0] ? trend.series[0].current : []).map((p) => fmtDay(p.bucket_start));
  const shown = trend.series.filter((s) => s.type === "all" || s.total > 0 || s.previous_total > 0);
  const all = trend.series.find((s) => s.type === "all");
  const change = (s) => (s.change_pct === null ? ""
    : ` (${s.change_pct > 0 ? "+" : ""}${fmtNumber(s.change_pct, 1)}%)`);
  const series = shown.map((s) => ({
    type: "line", name: `${typeLabel(s.type)}${change(s)}`, data: s.current.map((p) => p.count),
    smooth: false, showSymbol: cats.length <= 45, lineStyle: { width: s.type === "all" ? 3 : 2 },
    itemStyle: { color: TYPE_COLORS[s.type] || "#6a1b9a" },
  }));
  if (all) {
    series.push({ type: "line", name: t("dashboard.trend.previous"), data: all.previous.map((p) => p.count),
      showSymbol: false, lineStyle: { type: "dashed", width: 1.5 }, itemStyle: { color: "#78909c" } });
  }
  return {
    ...baseOption(),
    tooltip: { trigger: "axis", valueFormatter: (v) => fmtNumber(v) },
    legend: { top: 0, type: "scroll" },
    grid: { left: 48, right: 20, top: 40, bottom: 36 },
    xAxis: { type: "category", data: cats, boundaryGap: false },
    yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmtNumber(v) } },
    series,
  };
}

function weekdayHourOption(wh) {
  const days = wh.weekdays.map((w) => (lang() === "en" ? w.en : w.zh));
  const hours = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, "0")}`);
  const data = [];
  wh.matrix.forEach((row, d) => row.forEach((n, h) => { if (n > 0) data.push([h, d, n]); })); // empty hours stay blank
  const max = Math.max(1, ...wh.matrix.flat());
  return {
    ...baseOption(),
    tooltip: { formatter: (p) => escapeHtml(`${days[p.value[1]]} ${hours[p.value[0]]}:00 — ${fmtNumber(p.value[2])}`) },
    grid: { left: 70, right: 20, top: 10, bottom: 92 },
    xAxis: { type: "category", data: hours, name: t("dashboard.hour"), nameLocation: "middle", nameGap: 26,
      splitArea: { show: true } },
    yAxis: { type: "category", data: days, inverse: true, splitArea: { show: true } },
    visualMap: { min: 1, max, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120,
      inRange: { color: HEAT_COLORS }, formatter: (v) => fmtNumber(v, 0) },
    series: [{ type: "heatmap", data, label: { show: true, fontSize: 10, formatter: (p) => fmtNumber(p.value[2]) },
      emphasis: { itemStyle: { borderColor: "#1a2230", borderWidth: 1 } } }],
  };
}

/** The spatial grid as a heatmap filling the whole box (drawn over the snapshot): no axes, no
 * margins, empty cells transparent so the road shows through. */
function spatialOption(sp) {
  const idx = Array.from({ length: sp.bins }, (_, i) => i);
  const data = [];
  sp.grid.forEach((row, y) => row.forEach((n, x) => { if (n > 0) data.push([x, y, n]); }));
  const max = Math.max(1, ...sp.grid.flat());
  return {
    ...baseOption(),
    tooltip: { formatter: (p) => escapeHtml(t("dashboard.spatial.cell", { n: fmtNumber(p.value[2]) })) },
    grid: { left: 0, right: 0, top: 0, bottom: 0 },
    xAxis: { type: "category", data: idx, show: false },
    yAxis: { type: "category", data: idx, show: false, inverse: true },
    visualMap: { show: false, min: 1, max, inRange: { color: HEAT_COLORS.slice(1), opacity: [0.6, 0.85] } },
    series: [{ type: "heatmap", data, itemStyle: { borderColor: "rgba(255,255,255,.5)", borderWidth: 0.5 } }],
  };
}

/** Beside the spatial heatmap: its colour scale (1 … the busiest cell) and the geometry versions
 * the events were detected with (positions of every version are normalised to the current view). */
function renderSpatialLegend(box, sp) {
  const max = Math.max(0, ...sp.grid.flat());
  box.replaceChildren(
    el("h3", {}, t("dashboard.spatial.legend")),
    el("div", { class: "legend-ramp",
      style: `background: linear-gradient(to right, ${HEAT_COLORS.slice(1).join(", ")})` }),
    el("div", { class: "legend-ends" }, el("span", {}, fmtNumber(max ? 1 : 0)), el("span", {}, fmtNumber(max))),
    el("h3", {}, t("dashboard.spatial.versions")),
    el("ul", { class: "legend-versions" }, ...sp.versions.map((v) => el("li", {}, t("dashboard.spatial.version", {
      version: v.version, w: v.frame_size[0], h: v.frame_size[1], n: fmtNumber(v.events) })))),
    ...(sp.versions.length ? [] : [el("p", { class: "muted" }, t("dashboard.noData"))]),
    el("p", { class: "muted" }, t("dashboard.spatial.explain")));
}

// ---------------------------------------------------------------- exports

async function runExport(state, report, format) {
  const path = report === "events" ? `/api/exports/events.${format}` : `/api/exports/stats.${format}`;
  const query = report === "events" ? eventsQuery(state)
    : { ...statsQuery(state), report, bucket: rangeDays(state) > WEEK_BUCKET_AFTER_DAYS ? "week" : "day",
      lang: apiLang() };
  const res = await api(path, { query, raw: true });
  const name = await download(res, `crosswatch-${report}.${format}`);
  toast(t("dashboard.export.done", { name }), "success");
}

// ---------------------------------------------------------------- page

function filterForm(state, crossings, types, onApply) {
  const from = el("input", { type: "date", id: "dash-from", value: state.from, required: true });
  const to = el("input", { type: "date", id: "dash-to", value: state.to, required: true });
  const crossing = el("select", { id: "dash-crossing" }, el("option", { value: "" }, t("common.all")),
    ...crossings.map((c) => el("option", { value: c.id }, crossingLabel(c))));
  crossing.value = state.crossing;
  const type = el("select", { id: "dash-type" }, el("option", { value: "" }, t("common.all")),
    ...types.map(([ty, label]) => el("option", { value: ty }, label)));
  type.value = state.type;
  const districts = [...new Set(crossings.map((c) => c.district).filter(Boolean))].sort((a, b) => a.localeCompare(b));
  const district = el("select", { id: "dash-district" }, el("option", { value: "" }, t("common.all")),
    ...districts.map((d) => el("option", { value: d }, d)));
  district.value = districts.includes(state.district) ? state.district : "";
  const cls = el("select", { id: "dash-class" }, el("option", { value: "" }, t("common.all")),
    ...CLASSES.map((c) => el("option", { value: c }, t(`common.class.${c}`))));
  cls.value = CLASSES.includes(state.cls) ? state.cls : "";
  const status = el("select", { id: "dash-status" },
    ...STATUSES.map((s) => el("option", { value: s }, t(`dashboard.status.${s}`))));
  status.value = state.status;
  const err = el("p", { class: "error", id: "dash-filter-error", role: "alert" });
  const form = el("form", { class: "dash-filters", id: "dash-filters", "aria-label": t("dashboard.filters") },
    el("label", { for: "dash-from" }, t("common.from"), from),
    el("label", { for: "dash-to" }, t("common.to"), to),
    el("label", { for: "dash-district" }, t("dashboard.district"), district),
    el("label", { for: "dash-crossing" }, t("common.crossing"), crossing),
    el("label", { for: "dash-type" }, t("common.type"), type),
    el("label", { for: "dash-class" }, t("dashboard.class"), cls),
    el("label", { for: "dash-status" }, t("dashboard.statusFilter"), status),
    el("button", { type: "submit", class: "primary", id: "dash-apply" }, t("common.apply")),
    err);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    err.textContent = "";
    if (!DAY_RE.test(from.value) || !DAY_RE.test(to.value)) {
      err.textContent = t("dashboard.badDate");
      return;
    }
    if (from.value > to.value) {
      err.textContent = t("dashboard.fromAfterTo");
      return;
    }
    onApply({ ...state, from: from.value, to: to.value, crossing: crossing.value, district: district.value,
      cls: cls.value, type: type.value, status: status.value });
  });
  return form;
}

function exportBar(getState) {
  const report = el("select", { id: "dash-export-report" },
    ...EXPORT_REPORTS.map((r) => el("option", { value: r }, t(`dashboard.export.${r}`))));
  const button = (format) => el("button", { type: "button", id: `dash-export-${format}`, onclick: async (ev) => {
    ev.currentTarget.disabled = true;
    const btn = ev.currentTarget;
    try {
      await runExport(getState(), report.value, format);
    } catch (e) {
      toast(`${t("dashboard.export.failed")}: ${e.message}`, "error");
    } finally {
      btn.disabled = false;
    }
  } }, t(`dashboard.export.${format}`));
  return el("div", { class: "dash-export", role: "group", "aria-label": t("dashboard.export.title") },
    el("label", { for: "dash-export-report" }, t("dashboard.export.title"), report), button("csv"), button("xlsx"));
}

/** The page: filters and exports on top, then KPIs, ranking + map, trend + weekday×hour, and the
 * spatial heatmap. Returns the cleanup (charts, object URLs, listeners). */
async function render(root) {
  const charts = new Map(); // element id -> chart instance
  const urls = [];
  let alive = true;
  let seq = 0;
  const [crossingsPage, types] = await Promise.all([api("/api/crossings", { query: { limit: 500 } }), eventTypes()]);
  const crossings = crossingsPage.data;
  let state = loadState() || await defaultState();
  const echarts = loadECharts();

  const kpis = el("div", { class: "kpis", id: "dash-kpis", "aria-live": "polite" }, t("common.loading"));
  const hotspotBox = el("div", { id: "dash-hotspots-box", class: "table-wrap" }, t("common.loading"));
  const mapBox = chartBox("dash-map", "dashboard.map.title", "dash-chart dash-chart-tall");
  const trendBox = chartBox("dash-trend", "dashboard.trend.title");
  const whBox = chartBox("dash-weekday-hour", "dashboard.weekdayHour.title");
  const spatialSelect = el("select", { id: "dash-spatial-crossing" },
    ...crossings.map((c) => el("option", { value: c.id }, crossingLabel(c))));
  const spatialFig = el("div", { class: "spatial-figure", id: "dash-spatial-figure" });
  const spatialNote = el("p", { class: "muted", id: "dash-spatial-note" });
  const spatialLegend = el("aside", { class: "spatial-legend", id: "dash-spatial-legend",
    "aria-label": t("dashboard.spatial.legend") });
  const rangeNote = el("p", { class: "muted dash-range", id: "dash-range" });

  const draw = async (box, option) => {
    const lib = await echarts;
    if (!alive) return;
    let chart = charts.get(box.id);
    if (!chart || chart.getDom() !== box) {
      chart = lib.init(box, null, { renderer: "canvas", locale: lang() === "en" ? "EN" : "ZH" });
      charts.set(box.id, chart);
    }
    chart.setOption(option, true);
  };

  const chartError = (box, e) => {
    charts.get(box.id)?.dispose();
    charts.delete(box.id);
    showError(box, e);
  };

  const pickSpatial = (id) => {
    spatialSelect.value = id;
    state = { ...state, spatial: id };
    saveState(state);
    loadSpatial(seq).catch(() => {});
    document.getElementById("dash-spatial").scrollIntoView({ behavior: "smooth", block: "start" });
  };

  async function loadSpatial(mySeq) {
    const id = spatialSelect.value;
    if (!id) {
      spatialFig.replaceChildren(el("p", { class: "muted" }, t("dashboard.noCrossings")));
      return;
    }
    spatialNote.textContent = t("common.loading");
    const query = { ...statsQuery(state), crossing_id: id, bins: SPATIAL_BINS };
    const [sp, snap] = await Promise.all([
      api("/api/stats/spatial", { query }),
      api(`/api/crossings/${encodeURIComponent(id)}/snapshot`, { raw: true }).then((r) => r.blob()).catch(() => null),
    ]);
    if (!alive || mySeq !== seq || spatialSelect.value !== id) return;
    const [w, h] = sp.frame_size[0] > 0 ? sp.frame_size : [16, 9];
    const overlay = el("div", { id: "dash-spatial-chart", class: "spatial-overlay", role: "img",
      "aria-label": t("dashboard.spatial.aria", { n: fmtNumber(sp.total) }) });
    const children = [];
    if (snap) {
      const url = URL.createObjectURL(snap);
      urls.push(url);
      const name = spatialSelect.selectedOptions[0].text;
      children.push(el("img", { src: url, alt: t("dashboard.spatial.snapshotAlt", { name }), id: "dash-spatial-img" }));
    } else {
      children.push(el("div", { class: "spatial-nosnap" }, t("dashboard.spatial.noSnapshot")));
    }
    spatialFig.style.aspectRatio = `${w} / ${h}`;
    spatialFig.style.setProperty("--ar", String(w / h)); // caps the width so the whole view fits the screen
    spatialFig.replaceChildren(...children, overlay);
    const max = Math.max(0, ...sp.grid.flat());
    renderSpatialLegend(spatialLegend, sp);
    spatialNote.textContent = t("dashboard.spatial.note", { total: fmtNumber(sp.total), max: fmtNumber(max),
      bins: sp.bins });
    charts.get("dash-spatial-chart")?.dispose();
    charts.delete("dash-spatial-chart");
    await draw(overlay, spatialOption(sp));
  }

  async function refresh() {
    const mySeq = ++seq;
    saveState(state);
    const q = statsQuery(state);
    rangeNote.textContent = t("dashboard.rangeNote", {
      from: fmtDay(q.from), to: fmtDay(zonedMidnightIso(state.to, q.tz)), days: fmtNumber(rangeDays(state)),
      tz: q.tz === DEFAULT_TZ ? t("common.tzShanghai") : q.tz });
    const bucket = rangeDays(state) > WEEK_BUCKET_AFTER_DAYS ? "week" : "day";
    const jobs = [
      api("/api/stats/summary", { query: q }).then((s) => { if (mySeq === seq) renderKpis(kpis, s, types); })
        .catch((e) => showError(kpis, e)),
      api("/api/stats/hotspots", { query: { ...q, limit: 500 } }).then(async (page) => {
        if (mySeq !== seq) return;
        renderHotspots(hotspotBox, page.data, pickSpatial, types);
        const shown = crossings.filter((c) => (!state.crossing || c.id === state.crossing)
          && (!state.district || c.district === state.district));
        const base = await loadBasemap(echarts).catch(() => null); // no basemap: the sketch
        if (mySeq !== seq) return;
        mapBox.dataset.basemap = base ? base.name : "";
        await draw(mapBox, mapOption(shown, page.data, base));
        if (!state.spatial && page.data[0] && mySeq === seq) spatialSelect.value = page.data[0].crossing_id;
      }).catch((e) => { showError(hotspotBox, e); chartError(mapBox, e); }),
      api("/api/stats/trend", { query: { ...q, bucket } })
        .then((tr) => mySeq === seq && draw(trendBox, trendOption(tr)))
        .catch((e) => chartError(trendBox, e)),
      api("/api/stats/weekday-hour", { query: q }).then((wh) => mySeq === seq && draw(whBox, weekdayHourOption(wh)))
        .catch((e) => chartError(whBox, e)),
    ];
    await Promise.all(jobs.slice(0, 2));
    await loadSpatial(mySeq).catch((e) => { spatialNote.textContent = ""; showError(spatialFig, e); });
    await Promise.all(jobs);
    if (mySeq === seq && alive) root.querySelector(".dashboard").dataset.loaded = String(mySeq);
  }

  if (state.spatial && crossings.some((c) => c.id === state.spatial)) spatialSelect.value = state.spatial;
  spatialSelect.addEventListener("change", () => pickSpatial(spatialSelect.value));

  const bulletin = bulletinBar(() => state, statsQuery);
  root.append(el("div", { class: "dashboard" },
    el("div", { class: "dash-head" }, el("h1", {}, t("dashboard.title")),
      filterForm(state, crossings, types, (next) => { state = next; bulletin.refresh(); refresh(); }), bulletin,
      exportBar(() => state)),
    rangeNote,
    section("dash-kpi-section", "dashboard.kpi.title", kpis),
    el("div", { class: "dash-row" },
      section("dash-hotspots", "dashboard.hotspots.title", hotspotBox),
      section("dash-map-section", "dashboard.map.title", mapBox)),
    el("div", { class: "dash-row" },
      section("dash-trend-section", "dashboard.trend.title", trendBox),
      section("dash-wh-section", "dashboard.weekdayHour.title", whBox)),
    section("dash-spatial", "dashboard.spatial.title",
      el("label", { for: "dash-spatial-crossing" }, t("common.crossing"), spatialSelect), spatialNote,
      el("div", { class: "spatial-row" }, spatialFig, spatialLegend))));

  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  refresh();
  return () => {
    alive = false;
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.dispose());
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}

registerPage("dashboard", { title: "dashboard.title", roles: ["analyst"], render });
