// crosswatch web UI shell: API access, i18n, formatting, routing and the page registry.
// Plain ES module, no bundler. Pages live in ./pages/<name>.js, import what they need from here
// and call registerPage(); this module loads them all, then routes on the URL hash
// (#/login, #/review, #/history, #/dashboard, #/jobs, #/crossings, #/crossings/<id>, #/users, #/users/<id>, #/audit).
//
// Page contract: registerPage(route, {title, roles, render(root, params), nav})
//   route   "review", "crossings/:id" ... (":name" segments become params.name; the query part of
//           the hash, e.g. #/review?crossing=x, is in params.query as a URLSearchParams)
//   title   an i18n key (shown in the nav and the document title)
//   roles   roles that may open it (admin always may); null = public (the login page)
//   render  builds the page into `root` (may be async). It may return a function (or a promise of
//           one): called when the user leaves the page or the language changes (remove listeners,
//           timers, object URLs there). Pages re-render on a language switch.
//   nav     false: never a nav entry (a sub-page reached from another page, e.g. crossings/new)
// A page holding unsaved work calls setLeaveGuard(isDirty): leaving it (a link, the nav, back,
// a language or zone switch, logging out, closing or reloading the tab) then asks first.
// A page without ":" in its route, with roles and nav not false is a nav entry (order: NAV_ORDER, then others).

import zhCN from "./i18n/zh-CN.js";
import en from "./i18n/en.js";

const DICTS = { "zh-CN": zhCN, en };
const LANGS = ["zh-CN", "en"];
const TOKEN_KEY = "cw.token";
const LANG_KEY = "cw.lang";
const TZ_KEY = "cw.tz";
export const DEFAULT_TZ = "Asia/Shanghai";
const PAGE_MODULES = ["login", "review", "history", "dashboard", "jobs", "crossings", "users", "audit"];
const NAV_ORDER = ["review", "history", "dashboard", "jobs", "crossings", "users", "audit"];

// ---------------------------------------------------------------- i18n + formatting

/** The current UI language ("zh-CN" default, or "en"). */
export function lang() {
  const saved = localStorage.getItem(LANG_KEY);
  return LANGS.includes(saved) ? saved : "zh-CN";
}

/** Switch language, remember it and re-render the shell and the current page. */
export function setLang(code) {
  if (!LANGS.includes(code)) throw new Error(`unknown language ${code}`);
  if (code === lang() || !confirmLeave()) {
    renderShell(); // puts the switch back
    return;
  }
  localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code;
  renderShell();
  route();
}

/** Translate `key`; `{name}` placeholders are filled from `vars`. Falls back to Chinese, then
 * to the key itself (a visible key is a missing translation, never a crash). */
export function t(key, vars) {
  let s = DICTS[lang()][key];
  if (s === undefined) s = DICTS["zh-CN"][key];
  if (s === undefined) {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return s;
}

/** Whether `key` exists in the current (or fallback) dictionary: for optional labels such as
 * server codes that may be new. */
export function hasT(key) {
  return key in DICTS[lang()] || key in DICTS["zh-CN"];
}

/** The time zone dates are shown in: Asia/Shanghai unless the user picked the browser's own. */
export function timeZone() {
  const tz = localStorage.getItem(TZ_KEY);
  return tz === "local" ? Intl.DateTimeFormat().resolvedOptions().timeZone : DEFAULT_TZ;
}

/** "shanghai" (default) or "local" (the browser's zone). */
export function setTimeZone(choice) {
  if (!confirmLeave()) {
    renderShell(); // puts the selection back
    return;
  }
  if (choice === "local") localStorage.setItem(TZ_KEY, "local");
  else localStorage.removeItem(TZ_KEY);
  renderShell();
  route();
}

/** A date-time (ISO string, Date or epoch ms) in the current locale and time zone; "" for empty. */
export function fmtDate(iso, opts) {
  if (iso === null || iso === undefined || iso === "") return "";
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(lang(), {
    timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, ...opts,
  }).format(d);
}

/** A date only (no time), same locale and zone as fmtDate. */
export function fmtDay(iso) {
  return fmtDate(iso, { hour: undefined, minute: undefined, second: undefined });
}

/** The ISO instant at which calendar day `ymd` ("2026-03-02") begins in the shown time zone
 * (Asia/Shanghai has no DST: +08:00; "local": the browser's offset that day). For API date filters. */
export function zonedDayStart(ymd) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || "");
  if (!m) throw new Error(`not a date: ${ymd}`);
  if (localStorage.getItem(TZ_KEY) === "local") return new Date(+m[1], +m[2] - 1, +m[3]).toISOString();
  return `${ymd}T00:00:00+08:00`;
}

/** The calendar day after `ymd` (for exclusive "to" bounds). */
export function nextDay(ymd) {
  const d = new Date(`${ymd}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** A number in the current locale (`digits` = fraction digits, default up to 2). */
export function fmtNumber(n, digits) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  const o = digits === undefined ? { maximumFractionDigits: 2 }
    : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  return new Intl.NumberFormat(lang(), o).format(Number(n));
}

/** A share (0..1) as a percentage in the current locale. */
export function fmtPercent(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(Number(x))) return "–";
  return new Intl.NumberFormat(lang(), {
    style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(Number(x));
}

// ---------------------------------------------------------------- API

/** An error answer of the API: `status` and the server's `detail` (string or validation list). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(detail) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** One readable line from a FastAPI `detail` (validation errors name their field). */
  static describe(detail) {
    if (detail === null || detail === undefined) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((e) => {
        const loc = (e.loc || []).filter((p) => p !== "body").join(".");
        return loc ? `${loc}: ${e.msg}` : e.msg;
      }).join("; ");
    }
    return JSON.stringify(detail);
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function buildUrl(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
  }
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

/** Call the API with the session's token. `body`: object (sent as JSON), FormData, Blob or string.
 * `raw`: return the Response (blobs, downloads) instead of parsed JSON. A 401 ends the session and
 * goes to the login page; any other error status throws ApiError with the server's detail. */
export async function api(path, { method = "GET", body, query, raw = false, headers = {}, signal } = {}) {
  const h = { Accept: "application/json", ...headers };
  const tok = token();
  if (tok) h.Authorization = `Bearer ${tok}`;
  let payload = body;
  if (body !== undefined && body !== null && !(body instanceof FormData) && !(body instanceof Blob)
      && typeof body !== "string") {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(buildUrl(path, query), { method, headers: h, body: payload, signal });
  if (res.status === 401 && path !== "/api/auth/login") {
    endSession();
    navigate(`#/login?next=${encodeURIComponent(location.hash || "")}`);
    throw new ApiError(401, t("common.sessionExpired"));
  }
  if (!res.ok) {
    let detail = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j && j.detail !== undefined) detail = j.detail;
    } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

/** Save a Response (CSV, XLSX, ZIP ...) as a file download. */
export async function download(res, fallbackName) {
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1] || m[2]) : fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

// ---------------------------------------------------------------- session

let mePromise = null;

/** The logged-in user ({username, role, districts, crossing_ids, evidence_access}), cached per
 * session; null when not logged in. */
export function me() {
  if (!token()) return Promise.resolve(null);
  if (!mePromise) {
    mePromise = api("/api/auth/me").catch((e) => {
      mePromise = null;
      if (e instanceof ApiError && e.status === 401) return null;
      throw e;
    });
  }
  return mePromise;
}

let metaPromise = null;

/** The code lists of `GET /api/meta` ({event_types, review_statuses, …}: each a list of {code, zh,
 * en} in the vocabulary's order), fetched once per session. */
export function meta() {
  if (!metaPromise) {
    metaPromise = api("/api/meta").catch((e) => {
      metaPromise = null;
      throw e;
    });
  }
  return metaPromise;
}

/** The violation types of `GET /api/meta` as [code, label] pairs in the vocabulary's order (the
 * label: the UI's own `common.type.<code>` text, else the vocabulary's in the current language). */
export async function eventTypes() {
  const { event_types: types } = await meta();
  return types.map((c) => [c.code, hasT(`common.type.${c.code}`) ? t(`common.type.${c.code}`)
    : lang() === "en" ? c.en : c.zh]);
}

/** Log in with username + password; stores the token. Throws ApiError (401 wrong password, 429). */
export async function login(username, password) {
  const out = await api("/api/auth/login", { method: "POST", body: { username, password } });
  sessionStorage.setItem(TOKEN_KEY, out.access_token);
  mePromise = null;
  await me();
  renderShell();
  return out;
}

function endSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  mePromise = null;
  metaPromise = null;
}

export function logout() {
  if (!confirmLeave()) return;
  leaveGuard = null;
  endSession();
  renderShell();
  navigate("#/login");
}

/** Whether `role` may open a page that admits `roles` (admin may open everything). */
export function allowed(roles, role) {
  if (roles === null || roles === undefined) return true;
  return role === "admin" || roles.includes(role);
}

// ---------------------------------------------------------------- DOM helpers

/** Create an element: el("button", {class: "x", onclick: f, "aria-label": "..."}, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** `s` with HTML's special characters escaped: for the few places that must hand a library an
 *  HTML string (ECharts tooltip formatters). Everything else builds DOM nodes with el(), whose
 *  text children are text nodes, never markup. */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Show a short message in the live region; kind: "info" | "success" | "error". */
export function toast(msg, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, msg);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// ---------------------------------------------------------------- routing

const pages = new Map(); // route -> {route, parts, title, roles, render}
let cleanup = null;
let routeSeq = 0;
let leaveGuard = null; // () => true while the shown page holds unsaved work
let shownHash = null;  // the hash the shown page was rendered for

/** Register `isDirty` (a function: true while the page holds unsaved work) for the shown page;
 * cleared when the page is left. Null removes it. */
export function setLeaveGuard(isDirty) {
  leaveGuard = typeof isDirty === "function" ? isDirty : null;
}

/** Whether the shown page may be left: nothing unsaved, or the user agreed to drop it. */
export function confirmLeave() {
  if (!leaveGuard || !leaveGuard()) return true;
  return window.confirm(t("common.leaveUnsaved"));
}

export function registerPage(route, { title, roles = [], render, nav = true }) {
  if (typeof render !== "function") throw new Error(`page ${route}: render must be a function`);
  pages.set(route, { route, parts: route.split("/"), title, roles, render, nav });
  if (started) renderShell();
}

/** Go to a hash route ("#/review"); re-renders even when it is the current one. */
export function navigate(hash) {
  const h = hash.startsWith("#") ? hash : `#${hash}`;
  if (location.hash === h) route();
  else location.hash = h;
}

function parseHash() {
  const raw = (location.hash || "").replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  return { path: decodeURIComponent(path || ""), query: new URLSearchParams(qs || "") };
}

function match(path) {
  const segs = path.split("/");
  for (const p of pages.values()) {
    if (p.parts.length !== segs.length) continue;
    const params = {};
    let ok = true;
    p.parts.forEach((part, i) => {
      if (part.startsWith(":")) params[part.slice(1)] = segs[i];
      else if (part !== segs[i]) ok = false;
    });
    if (ok) return { page: p, params };
  }
  return null;
}

/** Pages shown in the nav for `role`, in NAV_ORDER. */
export function navPages(role) {
  const list = [...pages.values()].filter((p) => p.roles !== null && p.nav && !p.route.includes(":")
    && allowed(p.roles, role));
  const rank = (p) => (NAV_ORDER.includes(p.route) ? NAV_ORDER.indexOf(p.route) : NAV_ORDER.length);
  return list.sort((a, b) => rank(a) - rank(b));
}

function runCleanup() {
  leaveGuard = null;
  if (typeof cleanup === "function") {
    try { cleanup(); } catch (e) { console.error(e); }
  }
  cleanup = null;
}

async function route() {
  if (shownHash !== null && location.hash !== shownHash && !confirmLeave()) {
    // stay: put the URL back without another hashchange (the page and its work are untouched)
    history.replaceState(null, "", shownHash || location.pathname + location.search);
    markNav(parseHash().path);
    return;
  }
  shownHash = location.hash;
  const seq = ++routeSeq;
  const root = document.getElementById("page");
  const { path, query } = parseHash();
  const user = await me().catch(() => null);
  if (seq !== routeSeq) return;
  if (!path || (path === "login" && user)) {
    const first = user ? navPages(user.role)[0] : null;
    navigate(first ? `#/${first.route}` : "#/login");
    return;
  }
  const found = match(path);
  runCleanup();
  root.replaceChildren();
  markNav(path);
  if (!found) {
    document.title = `${t("common.notFound")} · crosswatch`;
    root.append(el("section", { class: "notice" }, el("h1", {}, t("common.notFound"))));
    return;
  }
  const { page, params } = found;
  if (page.roles !== null && !user) {
    navigate(`#/login?next=${encodeURIComponent(`#/${path}`)}`);
    return;
  }
  if (!allowed(page.roles, user && user.role)) {
    document.title = `${t("common.forbidden")} · crosswatch`;
    root.append(el("section", { class: "notice" }, el("h1", {}, t("common.forbidden"))));
    return;
  }
  document.title = `${t(page.title)} · crosswatch`;
  try {
    const out = await page.render(root, { ...params, query });
    if (seq !== routeSeq) { // the user moved on while rendering
      if (typeof out === "function") out();
      return;
    }
    cleanup = out;
    // after a navigation, focus goes to the new page (screen readers announce it; keys reach it)
    // unless the page has focused one of its own controls (e.g. the login form's user name)
    if (!root.contains(document.activeElement)) root.focus({ preventScroll: true });
  } catch (e) {
    console.error(e);
    if (seq !== routeSeq) return;
    root.append(el("p", { class: "error", role: "alert" }, `${t("common.error")}: ${e.message}`));
  }
}

// ---------------------------------------------------------------- shell (header)

let started = false;

function markNav(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    const on = path === a.dataset.route || path.startsWith(`${a.dataset.route}/`);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

/** Header: nav links for the user's role, language switch, user menu. */
async function renderShell() {
  const user = await me().catch(() => null);
  document.documentElement.lang = lang();
  document.getElementById("brand-name").textContent = t("common.appName");
  const skip = document.getElementById("skip-link");
  skip.textContent = t("common.skipToContent");
  if (!skip.dataset.wired) { // no inline handler in index.html: the Content-Security-Policy forbids inline script
    skip.dataset.wired = "1";
    skip.addEventListener("click", (ev) => { ev.preventDefault(); document.getElementById("page").focus(); });
  }
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("common.mainNav"));
  nav.replaceChildren(...(user ? navPages(user.role) : []).map((p) => el("a", {
    href: `#/${p.route}`, dataset: { route: p.route },
  }, t(p.title))));
  const langBox = document.getElementById("lang-switch");
  langBox.setAttribute("aria-label", t("common.language"));
  langBox.replaceChildren(...LANGS.map((code) => el("button", {
    type: "button", lang: code, "aria-pressed": String(code === lang()), dataset: { lang: code },
    onclick: () => setLang(code),
  }, code === "zh-CN" ? "中文" : "English")));
  const menu = document.getElementById("user-menu");
  if (!user) {
    menu.replaceChildren();
  } else {
    const tzSel = el("select", { id: "tz-select", "aria-label": t("common.timeZone"),
      onchange: (e) => setTimeZone(e.target.value) },
    el("option", { value: "shanghai" }, t("common.tzShanghai")),
    el("option", { value: "local" }, t("common.tzLocal")));
    tzSel.value = localStorage.getItem(TZ_KEY) === "local" ? "local" : "shanghai";
    menu.replaceChildren(
      el("span", { class: "user-name", id: "user-name" }, user.username,
        el("span", { class: "user-role" }, ` · ${t(`common.role.${user.role}`)}`)),
      tzSel,
      el("button", { type: "button", id: "logout", class: "btn-link", onclick: logout }, t("common.logout")),
    );
  }
  markNav(parseHash().path);
}

async function start() {
  document.documentElement.lang = lang();
  const results = await Promise.allSettled(PAGE_MODULES.map((n) => import(`./pages/${n}.js`)));
  results.forEach((r, i) => {
    if (r.status === "rejected") console.error(`page module ${PAGE_MODULES[i]} failed to load`, r.reason);
  });
  started = true;
  window.addEventListener("hashchange", route);
  window.addEventListener("beforeunload", (e) => { // closing or reloading the tab
    if (leaveGuard && leaveGuard()) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  await renderShell();
  await route();
  document.body.dataset.ready = "1"; // tests wait for this
}

if (typeof window !== "undefined" && document.getElementById("page")) start();
