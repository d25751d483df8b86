// The review queue's view (#/review): its state, the page skeleton (filters, stage, player,
// actions, help), the filters, and exports. The concepts live in mixins that share `this`:
// queue.js (cache, queue, prefetch, previous / next), decisions.js (confirm, dismiss, needs-info,
// reason picker, undo), media.js (stage, thumbnails, zoom, player), player.js (the clip's timeline
// with the violation's marker, the large player), detail.js (details and the plate panel),
// keyboard.js (shortcuts).

import { ApiError, api, download, el, eventTypes, fmtNumber, t, toast } from "../../app.js";
import { CLASSES, DEFAULT_FRAME_S, revoke } from "./common.js";
import { Decisions } from "./decisions.js";
import { Detail } from "./detail.js";
import { Keyboard } from "./keyboard.js";
import { Media } from "./media.js";
import { Player } from "./player.js";
import { Queue } from "./queue.js";

export class ReviewView {
  constructor(root, filters) {
    this.root = root;
    this.filters = filters;
    this.trail = [];       // uids shown, in order (previous / next walk this)
    this.pos = -1;
    this.cache = new Map(); // uid -> loaded event (LRU)
    this.prefetch = null;  // {after, promise of {loaded, remaining} | {empty: true}}
    this.total = null;     // pending events in the queue (all of it, not only after the shown one)
    this.reasons = [];
    this.confirmedHere = new Set();
    this.busy = false;
    this.picker = null;    // {action} while the reason picker is open
    this.mainKind = "composite";
    this.frameS = DEFAULT_FRAME_S;
    this.mark = null;      // the violation's time in the shown clip (s), null = unknown
    this.markDone = false; // the clip was opened at the mark
    this.onKey = (e) => this.key(e);
  }

  // ------------------------------------------------------------ skeleton

  async start() {
    this.build();
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.zoomFit);
    const [reasons, crossings, types] = await Promise.all([
      api("/api/reviews/reasons").catch(() => []),
      api("/api/crossings", { query: { limit: 500 } }).catch(() => ({ data: [] })),
      eventTypes().catch(() => []),
    ]);
    this.reasons = reasons;
    this.fillCrossings(crossings.data);
    this.fillTypes(types);
    await this.restart();
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey);
    window.removeEventListener("resize", this.zoomFit);
    this.destroyed = true;
    for (const l of this.cache.values()) revoke(l);
    this.cache.clear();
  }

  build() {
    const sel = (id, label, options, value) => el("label", { for: id }, label, el("select", {
      id, onchange: () => this.applyFilters(),
    }, el("option", { value: "" }, t("common.all")),
    ...options.map(([v, text]) => el("option", { value: v, selected: v === value }, text))));
    this.crossingSel = sel("rv-f-crossing", t("common.crossing"), [], this.filters.crossing_id);
    this.helpBtn = el("button", { type: "button", id: "review-help-btn", "aria-expanded": "false",
      "aria-controls": "review-help", onclick: () => this.toggleHelp() }, t("review.shortcuts"));
    this.help = el("aside", { class: "rv-help panel", id: "review-help", hidden: true,
      "aria-label": t("review.shortcuts") }, this.helpList());
    const filters = el("form", { class: "rv-filters", id: "review-filters", "aria-label": t("review.filters"),
      onsubmit: (e) => e.preventDefault() },
    this.crossingSel,
    this.typeSel = sel("rv-f-type", t("common.type"), [], this.filters.type),
    sel("rv-f-class", t("common.class"), CLASSES.map((x) => [x, t(`common.class.${x}`)]), this.filters.class_name),
    el("label", { for: "rv-f-from" }, t("common.from"), el("input", { id: "rv-f-from", type: "date",
      value: this.filters.from || "", onchange: () => this.applyFilters() })),
    el("label", { for: "rv-f-to" }, t("common.to"), el("input", { id: "rv-f-to", type: "date",
      value: this.filters.to || "", onchange: () => this.applyFilters() })),
    el("div", { class: "rv-queue-info" },
      el("span", { id: "review-remaining", "aria-live": "polite" }),
      el("button", { type: "button", id: "review-export-session", disabled: true,
        onclick: () => this.exportPackage([...this.confirmedHere]) }, t("review.exportSession", { n: 0 })),
      el("div", { class: "rv-help-anchor" }, this.helpBtn, this.help)));

    this.stageImg = el("img", { id: "review-composite", alt: "", class: "rv-stage-img",
      onclick: () => this.toggleZoom() });
    this.stageCaption = el("p", { class: "rv-stage-caption", id: "review-stage-caption" });
    this.thumbs = el("div", { class: "rv-thumbs", id: "review-thumbs", role: "group",
      "aria-label": t("review.pictures") });
    this.video = el("video", { id: "review-clip", muted: true, loop: true, playsinline: true, preload: "auto",
      "aria-label": t("review.clip"), controls: true });
    this.video.muted = true;
    this.video.addEventListener("loadedmetadata", () => this.onClipMeta());
    for (const ev of ["timeupdate", "seeked", "durationchange", "emptied"]) {
      this.video.addEventListener(ev, () => this.paintTimeline());
    }
    this.markBtn = el("button", { type: "button", class: "rv-timeline-mark", id: "review-mark", hidden: true,
      title: `${t("review.toMoment")} (M)`, "aria-label": t("review.toMoment"), onclick: () => this.toMark() });
    this.timeline = el("div", { class: "rv-timeline", id: "review-timeline", onclick: (e) => this.seekTimeline(e) },
      el("div", { class: "rv-timeline-fill", id: "review-timeline-fill" }),
      el("div", { class: "rv-timeline-head", id: "review-timeline-head" }), this.markBtn);
    this.clipTime = el("div", { class: "rv-clip-time", id: "review-clip-time" });
    this.player = el("div", { class: "rv-player-tools", role: "group", "aria-label": t("review.player") },
      this.btn("review-play", t("review.play"), "Space", () => this.playPause()),
      this.btn("review-step-back", t("review.stepBack"), ",", () => this.step(-1)),
      this.btn("review-step-fwd", t("review.stepForward"), ".", () => this.step(1)),
      this.btn("review-to-mark", t("review.toMoment"), "M", () => this.toMark()),
      this.toggle("review-slow", t("review.slow"), "S", () => this.slow()),
      this.toggle("review-loop", t("review.loop"), "L", () => this.loop(), true),
      this.toggle("review-large", t("review.large"), "V", () => this.toggleLarge()));
    this.playerBox = el("div", { class: "rv-player", id: "review-player", role: "group",
      "aria-label": t("review.clip") }, this.video, this.timeline, this.clipTime, this.player);
    this.signalBox = el("div", { class: "rv-signal", id: "review-signal", "aria-live": "polite" });
    this.facts = el("dl", { class: "rv-facts", id: "review-facts" });
    this.plateBox = el("section", { class: "rv-plate", id: "review-plate", "aria-label": t("review.plate") });
    this.statusLine = el("p", { class: "rv-status", id: "review-status" });
    this.history = el("ol", { class: "rv-history", id: "review-history", "aria-label": t("review.history") });
    this.actions = el("div", { class: "rv-actions", role: "group", "aria-label": t("review.decision") },
      this.btn("review-confirm", t("review.confirm"), "C", () => this.decide("confirm"), "ok"),
      this.btn("review-dismiss", t("review.dismiss"), "D", () => this.openPicker("dismiss"), "danger"),
      this.btn("review-needs-info", t("review.needsInfo"), "N", () => this.openPicker("needs_info"), "warn"),
      this.btn("review-prev", t("review.previous"), "K", () => this.previous()),
      this.btn("review-next", t("review.next"), "J", () => this.next()),
      this.btn("review-zoom-btn", t("review.zoom"), "Z", () => this.toggleZoom()),
      this.btn("review-export", t("review.exportOne"), "E", () => this.exportCurrent()),
      el("a", { id: "review-batch-link", class: "rv-batch-link", href: this.batchHref() }, t("review.batchLink")));
    this.emptyTitle = el("h2", { id: "review-empty-title" });
    this.emptyText = el("p", { class: "muted", id: "review-empty-text" });
    this.empty = el("section", { class: "rv-empty notice", id: "review-empty", hidden: true },
      this.emptyTitle, this.emptyText,
      el("button", { type: "button", id: "review-restart", onclick: () => this.restart() }, t("review.reload")));
    this.eventBox = el("div", { class: "rv-event", id: "review-event", hidden: true },
      el("section", { class: "rv-left", "aria-label": t("review.pictures") },
        el("div", { class: "rv-stage" }, this.stageImg), this.stageCaption, this.thumbs),
      el("section", { class: "rv-right", "aria-label": t("review.details") },
        this.playerBox,
        this.signalBox, this.plateBox, this.actions, this.statusLine, this.facts,
        el("h2", { class: "rv-h" }, t("review.history")), this.history));
    this.zoom = el("div", { class: "rv-zoom", id: "review-zoom", role: "dialog", "aria-modal": "true",
      "aria-label": t("review.zoom"), hidden: true, tabindex: "-1", onclick: () => this.toggleZoom() });
    this.zoomFit = () => this.fitZoom();
    this.pickerBox = el("div", { class: "rv-picker", id: "review-picker", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "review-picker-title", hidden: true });
    this.root.append(el("h1", { class: "sr-only" }, t("review.title")), filters, this.empty,
      this.eventBox, this.zoom, this.pickerBox);
  }

  /** The history list of this queue's pending events, where the clear false alarms are dismissed in batch. */
  batchHref() {
    const q = { status: "pending" };
    for (const k of ["crossing_id", "type", "class_name", "from", "to"]) if (this.filters[k]) q[k] = this.filters[k];
    return `#/history?${new URLSearchParams(q)}`;
  }

  btn(id, label, key, onclick, cls) {
    return el("button", { type: "button", id, class: cls, onclick, "aria-keyshortcuts": key === "Space" ? "Space" : key,
      title: `${label} (${key})` }, label, " ", el("kbd", { "aria-hidden": "true" }, key === "Space" ? "␣" : key));
  }

  toggle(id, label, key, onclick, pressed = false) {
    const b = this.btn(id, label, key, onclick);
    b.setAttribute("aria-pressed", String(pressed));
    return b;
  }

  helpList() {
    const rows = [["J / →", "review.next"], ["K / ←", "review.previous"], ["C / Enter", "review.confirm"],
      ["D", "review.dismiss"], ["N", "review.needsInfo"], ["1–9", "review.pickReason"], ["Z", "review.zoom"],
      ["Space", "review.play"], [", / .", "review.frameStep"], ["M", "review.toMoment"], ["V", "review.large"],
      ["S", "review.slow"], ["L", "review.loop"],
      ["E", "review.exportOne"], ["U", "review.desk.undo"], ["Esc", "common.close"]];
    return el("dl", { class: "rv-help-list" }, ...rows.flatMap(([k, key]) => [el("dt", {}, el("kbd", {}, k)),
      el("dd", {}, t(key))]));
  }

  toggleHelp() {
    this.help.hidden = !this.help.hidden;
    this.helpBtn.setAttribute("aria-expanded", String(!this.help.hidden));
  }

  fillCrossings(list) {
    const sel = this.crossingSel.querySelector("select");
    for (const c of list) {
      sel.append(el("option", { value: c.id, selected: c.id === this.filters.crossing_id }, c.name));
    }
  }

  /** The type filter's options: [code, label] pairs of `GET /api/meta` (app.js eventTypes). */
  fillTypes(types) {
    const sel = this.typeSel.querySelector("select");
    for (const [code, label] of types) {
      sel.append(el("option", { value: code, selected: code === this.filters.type }, label));
    }
  }

  applyFilters() {
    const v = (id) => document.getElementById(id).value;
    this.filters = { crossing_id: v("rv-f-crossing"), type: v("rv-f-type"), class_name: v("rv-f-class"),
      from: v("rv-f-from"), to: v("rv-f-to") };
    if (this.filters.from && this.filters.to && this.filters.from > this.filters.to) {
      toast(t("review.badRange"), "error");
      return;
    }
    const q = new URLSearchParams(Object.entries(this.filters).filter(([, x]) => x));
    history.replaceState(null, "", `#/review${q.toString() ? `?${q}` : ""}`);
    document.getElementById("review-batch-link").href = this.batchHref();
    this.restart();
  }

  // ------------------------------------------------------------ status, errors, export

  updateRemaining() {
    const box = document.getElementById("review-remaining");
    if (box) box.textContent = t("review.remaining", { n: fmtNumber(this.total ?? 0) });
  }

  updateSessionExport() {
    const b = document.getElementById("review-export-session");
    b.textContent = t("review.exportSession", { n: fmtNumber(this.confirmedHere.size) });
    b.disabled = this.confirmedHere.size === 0;
  }

  fail(e) {
    console.error(e);
    if (e instanceof ApiError && e.status === 401) return;
    toast(`${t("common.error")}: ${e.message}`, "error");
  }

  exportCurrent() {
    if (this.pos < 0) return;
    const l = this.cache.get(this.trail[this.pos]);
    if (!l || l.detail.review_status !== "confirmed") {
      toast(t("review.exportOnlyConfirmed"), "error");
      return;
    }
    this.exportPackage([l.uid]);
  }

  async exportPackage(uids) {
    if (!uids.length) return;
    try {
      const res = await api("/api/exports/case-package", { method: "POST", body: { event_uids: uids }, raw: true });
      const name = await download(res, "case-package.zip");
      toast(t("review.exported", { name }), "success");
    } catch (e) {
      this.fail(e);
    }
  }
}

for (const part of [Queue, Decisions, Media, Player, Detail, Keyboard]) {
  for (const name of Object.getOwnPropertyNames(part.prototype)) {
    if (name !== "constructor") Object.defineProperty(ReviewView.prototype, name, Object.getOwnPropertyDescriptor(part.prototype, name));
  }
}
