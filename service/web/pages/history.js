// Search and review history (#/history) for traffic police: find events by id, crossing, type,
// road-user class, review status, reviewer and date; the default list is 已审核 (every decided
// event, last decided first). Opening one shows its composite picture, facts and review history;
// a supervisor (admin) can send a decision back to the queue (退回重审, with a reason; audited).
// Filters live in the hash (#/history?status=reviewed&reviewed_by=…), so a search can be shared.

import {
  ApiError, api, el, eventTypes, fmtDate, fmtNumber, hasT, lang, me, navigate, nextDay, registerPage, t, toast,
  zonedDayStart,
} from "../app.js";
import { BatchSelection } from "./history_batch.js";
import { named, shownConfidence } from "./review/detail.js";
import { workloadPanel } from "./review_desk.js";

const PAGE = 50;
const CLASSES = ["motorcycle", "bicycle", "car", "bus", "truck", "person"];
const STATUSES = ["reviewed", "all", "pending", "confirmed", "dismissed", "needs_info"];
const FIELDS = ["uid", "crossing_id", "type", "class_name", "status", "reviewed_by", "from", "to"];

const classLabel = (c) => (hasT(`common.class.${c}`) ? t(`common.class.${c}`) : c);

/** The filters of the hash (status defaults to "reviewed": the 已审核 list). */
export function readFilters(query) {
  const f = Object.fromEntries(FIELDS.map((k) => [k, (query.get(k) || "").trim()]).filter(([, v]) => v));
  if (!STATUSES.includes(f.status)) f.status = "reviewed";
  return f;
}

/** The /api/events query of `f` (days are whole days in the shown zone; decided = not pending). */
export function apiQuery(f, offset = 0) {
  const status = f.status === "reviewed" ? { review_status_not: "pending" }
    : f.status === "all" ? {} : { review_status: f.status };
  return {
    crossing_id: f.crossing_id, type: f.type, class_name: f.class_name, reviewed_by: f.reviewed_by, ...status,
    from: f.from ? zonedDayStart(f.from) : undefined, to: f.to ? zonedDayStart(nextDay(f.to)) : undefined,
    sort: f.status === "pending" ? "-occurred_at" : "-reviewed_at", limit: PAGE, offset,
  };
}

function filterForm(f, crossings, types) {
  const sel = (id, options, value, all = true) => {
    const s = el("select", { id }, ...(all ? [el("option", { value: "" }, t("common.all"))] : []),
      ...options.map(([v, text]) => el("option", { value: v }, text)));
    s.value = value || "";
    return s;
  };
  const input = (id, value, attrs = {}) => el("input", { id, value: value || "", autocomplete: "off", ...attrs });
  const fields = {
    uid: input("hs-uid", f.uid, { maxlength: 32, minlength: 4, size: 20 }),
    crossing_id: sel("hs-crossing", crossings.map((c) => [c.id, c.name]), f.crossing_id),
    type: sel("hs-type", types, f.type),
    class_name: sel("hs-class", CLASSES.map((x) => [x, classLabel(x)]), f.class_name),
    status: sel("hs-status", STATUSES.map((x) => [x, t(`history.status.${x}`)]), f.status, false),
    reviewed_by: input("hs-reviewer", f.reviewed_by, { maxlength: 64, size: 10 }),
    from: input("hs-from", f.from, { type: "date" }),
    to: input("hs-to", f.to, { type: "date" }),
  };
  const labels = { uid: "history.uid", crossing_id: "common.crossing", type: "common.type", class_name: "common.class",
    status: "common.status", reviewed_by: "history.reviewer", from: "common.from", to: "common.to" };
  const err = el("p", { class: "error", id: "hs-error", role: "alert" });
  const form = el("form", { class: "audit-filters", id: "history-filters", "aria-label": t("history.filters") },
    ...FIELDS.map((k) => el("label", { for: fields[k].id }, t(labels[k]), fields[k])),
    el("button", { type: "submit", class: "primary", id: "hs-search" }, t("history.search")),
    el("button", { type: "button", id: "hs-clear", onclick: () => navigate("#/history") }, t("admin.audit.clear")), err);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = Object.fromEntries(FIELDS.map((k) => [k, fields[k].value.trim()]).filter(([, v]) => v));
    if (next.from && next.to && next.from > next.to) {
      err.textContent = t("review.badRange");
      return;
    }
    navigate(`#/history?${new URLSearchParams(next)}`);
  });
  return form;
}

/** The list; with `batch`, a first column of checkboxes for the events a batch may dismiss. */
function resultsTable(rows, onOpen, batch) {
  const head = ["review.occurredAt", "common.crossing", "common.type", "common.class", "common.status",
    "history.reviewer", "history.reviewedAt", "review.eventId"];
  batch.reset();
  const boxes = rows.map((e) => batch.box(e));
  const picks = boxes.some(Boolean);
  const table = el("table", { class: "data-table", id: "history-table" },
    el("thead", {}, el("tr", {}, ...(picks ? [el("th", { scope: "col", class: "history-pick-col" }, batch.all)] : []),
      ...head.map((k) => el("th", { scope: "col" }, t(k))), el("th", { scope: "col" },
        el("span", { class: "visually-hidden" }, t("history.open"))))),
    el("tbody", {}, ...(rows.length ? rows.map((e, i) => el("tr", { dataset: { uid: e.uid, status: e.review_status } },
      ...(picks ? [el("td", { class: "history-pick-col" }, boxes[i] || "")] : []),
      el("td", {}, fmtDate(e.occurred_at)), el("td", {}, e.crossing_name),
      el("td", {}, t(`common.type.${e.type}`)), el("td", {}, classLabel(e.class_name)),
      el("td", {}, el("span", { class: `badge badge-${e.review_status}` }, t(`common.status.${e.review_status}`))),
      el("td", {}, e.reviewed_by || "–"), el("td", {}, fmtDate(e.reviewed_at)),
      el("td", {}, el("code", { title: e.uid }, e.uid.slice(0, 8))),
      el("td", {}, el("button", { type: "button", class: "btn-small hs-open",
        "aria-label": t("history.openNamed", { id: e.uid.slice(0, 8) }), onclick: () => onOpen(e.uid) },
      t("history.open")))))
      : [el("tr", {}, el("td", { colspan: 9, class: "muted" }, t("history.none")))])));
  batch.refresh();
  return table;
}

async function render(root, params) {
  const f = readFilters(params.query);
  const offset = Math.max(0, Number(params.query.get("offset")) || 0);
  const [crossings, types, user, reasons] = await Promise.all([
    api("/api/crossings", { query: { limit: 500 } }).then((x) => x.data).catch(() => []),
    eventTypes().catch(() => []), me(), api("/api/reviews/reasons").catch(() => [])]);
  const list = el("div", { id: "history-list", class: "table-wrap" }, el("p", { class: "muted" }, t("common.loading")));
  const pager = el("div", { class: "audit-pager", id: "history-pager" });
  const detail = new EventPanel(user, () => load());
  const open = (uid) => detail.open(uid);
  const batch = new BatchSelection(reasons, () => load());
  const go = (at) => navigate(`#/history?${new URLSearchParams({ ...f, ...(at ? { offset: String(at) } : {}) })}`);
  async function load() {
    if (f.uid && f.uid.length < 32) { // the start of an id (the list shows 8 characters)
      const out = await api("/api/events", { query: { uid_prefix: f.uid, limit: PAGE } });
      list.replaceChildren(resultsTable(out.data, open, batch));
      list.dataset.count = String(out.count);
      pager.replaceChildren();
      return out.count === 1 ? out.data[0].uid : null;
    }
    if (f.uid) { // a whole id: exactly that event (404 = not found in the caller's scope)
      try {
        const e = await api(`/api/events/${encodeURIComponent(f.uid)}`);
        list.replaceChildren(resultsTable([e], open, batch));
        list.dataset.count = "1";
        pager.replaceChildren();
        return e.uid;
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
        list.replaceChildren(resultsTable([], open, batch));
        list.dataset.count = "0";
      }
      pager.replaceChildren();
      return null;
    }
    const out = await api("/api/events", { query: apiQuery(f, offset) });
    list.replaceChildren(resultsTable(out.data, open, batch));
    list.dataset.count = String(out.count);
    const last = Math.min(offset + out.data.length, out.count);
    pager.replaceChildren(
      el("span", { id: "history-range" }, t("admin.audit.range", { from: fmtNumber(out.count ? offset + 1 : 0),
        to: fmtNumber(last), n: fmtNumber(out.count) })),
      el("button", { type: "button", id: "history-prev", disabled: offset === 0,
        onclick: () => go(Math.max(0, offset - PAGE)) }, t("history.prevPage")),
      el("button", { type: "button", id: "history-next", disabled: last >= out.count,
        onclick: () => go(offset + PAGE) }, t("history.nextPage")));
    return null;
  }
  root.append(el("div", { class: "admin-page history-page" },
    el("h1", {}, t("history.title")), filterForm(f, crossings, types),
    el("div", { class: "history-layout" },
      el("section", { class: "panel", "aria-label": t("history.results") }, batch.bar, list, pager), detail.root),
    workloadPanel(f)));
  const found = await load(); // the one event an id (or the start of one) found, opened beside the list
  if (found) await detail.open(found);
  return () => detail.destroy();
}

/** One event opened from the list: picture, facts, history, and the supervisor's 退回重审. */
class EventPanel {
  constructor(user, onChanged) {
    this.user = user;
    this.onChanged = onChanged;
    this.url = null;
    this.root = el("section", { class: "panel history-detail", id: "history-detail", hidden: true,
      "aria-labelledby": "history-detail-title" });
  }

  destroy() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }

  async open(uid) {
    const d = await api(`/api/events/${encodeURIComponent(uid)}`);
    this.destroy();
    const pic = d.evidence.find((x) => x.kind === "composite") || d.evidence.find((x) => x.kind.startsWith("frame"));
    const img = el("img", { id: "history-picture", alt: t("review.kind.composite"), class: "history-picture" });
    if (pic) {
      api(pic.url, { raw: true }).then((r) => r.blob()).then((b) => {
        this.url = URL.createObjectURL(b);
        img.src = this.url;
      }).catch(() => img.remove());
    }
    const fact = (k, v) => (v ? [el("dt", {}, t(k)), el("dd", {}, v)] : []);
    const history = el("ol", { class: "rv-history", id: "history-reviews" }, ...(d.reviews.length
      ? d.reviews.map((r) => el("li", {}, el("time", { datetime: r.at }, fmtDate(r.at)), " · ", r.username, " · ",
        t(`review.action.${r.action}`), r.reason ? ` · ${lang() === "en" ? r.reason.en : r.reason.zh}` : "",
        r.comment ? ` · “${r.comment}”` : "", r.stage > 1 ? ` · ${t("review.stage2")}` : ""))
      : [el("li", { class: "muted" }, t("review.noHistory"))]));
    const reopened = d.review_status === "pending" && d.reviews.length > 0;
    this.root.replaceChildren(...[
      el("h2", { id: "history-detail-title" }, `${t(`common.type.${d.type}`)} · ${d.crossing_name}`),
      pic ? img : null,
      el("dl", { class: "rv-facts" },
        ...fact("review.occurredAt", fmtDate(d.occurred_at)), ...fact("common.class", classLabel(d.class_name)),
        ...fact("review.lane", named(d.lane_name, d.lane)), ...fact("review.stopLine", named(d.stop_line_name, d.stop_line)),
        ...fact("review.signalId", named(d.signal_name, d.signal_id)),
        ...fact("review.confidence", shownConfidence(d.confidence)),
        ...fact("common.status", t(`common.status.${d.review_status}`)),
        ...fact("history.reviewer", d.reviewed_by ? `${d.reviewed_by} · ${fmtDate(d.reviewed_at)}` : ""),
        ...fact("review.eventId", d.uid)),
      reopened ? el("p", { class: "warn-text", id: "history-reopened" }, t("history.reopenedNote")) : null,
      el("h3", {}, t("review.history")), history,
      this.reopenBox(d)].filter(Boolean));
    this.root.dataset.uid = d.uid;
    this.root.hidden = false;
  }

  /** 退回重审 for a supervisor (admin) on a decided event: a reason is required. */
  reopenBox(d) {
    if (!this.user || this.user.role !== "admin" || (d.review_status === "pending" && d.review_stage === 0)) return null;
    const comment = el("textarea", { id: "history-reopen-comment", rows: 2, maxlength: 2000 });
    const err = el("p", { class: "error", id: "history-reopen-error", role: "alert" });
    const send = async () => {
      err.textContent = "";
      if (!comment.value.trim()) {
        err.textContent = t("history.reopenWhy");
        comment.focus();
        return;
      }
      try {
        await api(`/api/events/${encodeURIComponent(d.uid)}/reopen`, { method: "POST",
          body: { comment: comment.value.trim() } });
        toast(t("history.reopened"), "success");
        await this.onChanged();
        await this.open(d.uid);
      } catch (e) {
        err.textContent = `${t("common.error")}: ${e.message}`;
      }
    };
    return el("div", { class: "history-reopen", id: "history-reopen" },
      el("label", { for: "history-reopen-comment" }, t("history.reopenLabel"), comment), err,
      el("button", { type: "button", class: "warn", id: "history-reopen-submit", onclick: send }, t("history.reopen")));
  }
}

registerPage("history", { title: "history.title", roles: ["reviewer"], render });
