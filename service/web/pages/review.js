// Review queue (#/review) for traffic police: pending events oldest first, one event fills the
// screen (composite, the three frames and close-ups, the clip player beside the signal state),
// decided by keyboard. The next event's detail and media are fetched while the current one is on
// screen, so a decision shows the next event at once (the UI test measures it, < 300 ms).
//
// Media (`/api/media/{uid}`) need the Authorization header, which <img>/<video> cannot send: each
// file is fetched with api(..., {raw: true}) into a Blob and shown through an object URL (clips
// are short evidence windows, ~1 MB; a blob also seeks and loops without further requests and is
// hashed by the server once, not once per Range request). Object URLs are revoked when an event
// leaves the small cache.

import {
  ApiError, api, download, el, fmtDate, fmtNumber, fmtPercent, hasT, lang, nextDay, registerPage, t, toast,
  zonedDayStart,
} from "../app.js";
import { showStage, undoToast } from "./review_desk.js";

const CLASSES = ["motorcycle", "bicycle", "car", "bus", "truck", "person"];
const TYPES = ["red_light", "wrong_way"];
// picture kinds in display order: the scene frames of red light, then of wrong way, then close-ups
const PICTURE_KINDS = ["composite", "frame_before", "frame_past", "frame_junction", "frame_start", "frame_middle",
  "frame_end", "closeup", "signal", "plate"];
const CACHE_SIZE = 6; // loaded events kept (object URLs); the rest are revoked
const SLOW_RATE = 0.25;
const DEFAULT_FRAME_S = 1 / 30;

// ---------------------------------------------------------------- loading

/** Fetch one evidence file as an object URL (null + the error when it cannot be served). */
async function fetchMedia(ev) {
  try {
    const res = await api(ev.url, { raw: true });
    return { url: URL.createObjectURL(await res.blob()), error: null };
  } catch (e) {
    return { url: null, error: e.message };
  }
}

/** An event's detail plus all its media as object URLs, the composite decoded (ready to paint). */
async function loadEvent(uid) {
  const detail = await api(`/api/events/${encodeURIComponent(uid)}`);
  const media = {};
  await Promise.all(detail.evidence.map(async (ev) => { media[ev.kind] = { ...(await fetchMedia(ev)), ev }; }));
  const main = media.composite || media[PICTURE_KINDS.find((k) => media[k])];
  if (main && main.url) {
    const img = new Image();
    img.src = main.url;
    try { await img.decode(); } catch { /* shown as broken; the decision still works */ }
  }
  return { uid, detail, media };
}

function revoke(loaded) {
  for (const m of Object.values(loaded.media)) if (m.url) URL.revokeObjectURL(m.url);
}

/** Filters of the queue from the hash query (crossing, type, class, from, to as YYYY-MM-DD). */
function readFilters(query) {
  const f = {};
  for (const k of ["crossing_id", "type", "class_name", "from", "to"]) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** The API query of the filters (days become instants in the shown time zone). */
function apiFilters(f) {
  return {
    crossing_id: f.crossing_id, type: f.type, class_name: f.class_name,
    from: f.from ? zonedDayStart(f.from) : undefined,
    to: f.to ? zonedDayStart(nextDay(f.to)) : undefined,
  };
}

// ---------------------------------------------------------------- page

function render(root, params) {
  const view = new ReviewView(root, readFilters(params.query));
  view.start();
  return () => view.destroy();
}

class ReviewView {
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
    this.onKey = (e) => this.key(e);
  }

  // ------------------------------------------------------------ skeleton

  async start() {
    this.build();
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.zoomFit);
    const [reasons, crossings] = await Promise.all([
      api("/api/reviews/reasons").catch(() => []),
      api("/api/crossings", { query: { limit: 500 } }).catch(() => ({ data: [] })),
    ]);
    this.reasons = reasons;
    this.fillCrossings(crossings.data);
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
    sel("rv-f-type", t("common.type"), TYPES.map((x) => [x, t(`common.type.${x}`)]), this.filters.type),
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
    this.player = el("div", { class: "rv-player-tools", role: "group", "aria-label": t("review.player") },
      this.btn("review-play", t("review.play"), "Space", () => this.playPause()),
      this.btn("review-step-back", t("review.stepBack"), ",", () => this.step(-1)),
      this.btn("review-step-fwd", t("review.stepForward"), ".", () => this.step(1)),
      this.toggle("review-slow", t("review.slow"), "S", () => this.slow()),
      this.toggle("review-loop", t("review.loop"), "L", () => this.loop(), true));
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
      this.btn("review-export", t("review.exportOne"), "E", () => this.exportCurrent()));
    this.emptyTitle = el("h2", { id: "review-empty-title" });
    this.emptyText = el("p", { class: "muted", id: "review-empty-text" });
    this.empty = el("section", { class: "rv-empty notice", id: "review-empty", hidden: true },
      this.emptyTitle, this.emptyText,
      el("button", { type: "button", id: "review-restart", onclick: () => this.restart() }, t("review.reload")));
    this.eventBox = el("div", { class: "rv-event", id: "review-event", hidden: true },
      el("section", { class: "rv-left", "aria-label": t("review.pictures") },
        el("div", { class: "rv-stage" }, this.stageImg), this.stageCaption, this.thumbs),
      el("section", { class: "rv-right", "aria-label": t("review.details") },
        el("div", { class: "rv-player" }, this.video, this.player),
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
      ["Space", "review.play"], [", / .", "review.frameStep"], ["S", "review.slow"], ["L", "review.loop"],
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
    this.restart();
  }

  // ------------------------------------------------------------ queue

  async queueNext(after) {
    const out = await api("/api/events/next", { query: { ...apiFilters(this.filters), after } });
    if (!out.event) return { empty: true, remaining: 0 };
    return { loaded: await this.load(out.event.uid), remaining: out.remaining };
  }

  /** A loaded event from the cache or the server (cache keeps the CACHE_SIZE most recent). */
  async load(uid, { fresh = false } = {}) {
    let l = this.cache.get(uid);
    if (l && fresh) {
      l.detail = await api(`/api/events/${encodeURIComponent(uid)}`);
    } else if (!l) {
      l = await loadEvent(uid);
      if (this.destroyed) { revoke(l); return l; }
      this.cache.set(uid, l);
    }
    this.cache.delete(uid);
    this.cache.set(uid, l);
    while (this.cache.size > CACHE_SIZE) {
      const [oldUid, old] = this.cache.entries().next().value;
      if (oldUid === this.trail[this.pos]) break;
      this.cache.delete(oldUid);
      revoke(old);
    }
    return l;
  }

  /** Start the queue again from its oldest event (filters changed, or reload). */
  async restart() {
    this.trail = [];
    this.pos = -1;
    this.prefetch = null;
    this.busy = true;
    try {
      const r = await this.queueNext(undefined);
      this.total = r.remaining; // from the start of the queue: all of it
      this.showResult(r);
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  showResult(r) {
    if (r.empty) {
      this.showEmpty();
      return;
    }
    this.trail = this.trail.slice(0, this.pos + 1);
    this.trail.push(r.loaded.uid);
    this.pos = this.trail.length - 1;
    this.show(r.loaded);
  }

  /** Prefetch what "next" will show: the following trail entry, or the queue after this event. */
  startPrefetch() {
    const cur = this.trail[this.pos];
    if (this.pos < this.trail.length - 1) {
      const uid = this.trail[this.pos + 1];
      this.prefetch = { after: cur, promise: this.load(uid).then((loaded) => ({ loaded, trail: true })) };
    } else {
      this.prefetch = { after: cur, promise: this.queueNext(cur) };
    }
    const pf = this.prefetch;
    delete this.eventBox.dataset.prefetched;
    pf.promise.then((r) => { // mark it for tests and for debugging ("" = the queue ends here)
      if (this.prefetch === pf) this.eventBox.dataset.prefetched = r.loaded ? r.loaded.uid : "";
    }, () => { if (this.prefetch === pf) this.prefetch = null; });
  }

  async next() {
    if (this.busy || this.pos < 0 || this.atEnd) return;
    this.busy = true;
    try {
      const cur = this.trail[this.pos];
      const pf = this.prefetch && this.prefetch.after === cur ? this.prefetch.promise : null;
      let r = pf ? await pf.catch(() => null) : null;
      if (!r) {
        r = this.pos < this.trail.length - 1
          ? { loaded: await this.load(this.trail[this.pos + 1]), trail: true } : await this.queueNext(cur);
      }
      if (r.trail) {
        this.pos += 1;
        this.show(r.loaded);
        this.refresh(r.loaded);
      } else {
        this.showResult(r);
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  async previous() {
    if (this.busy || this.pos < 0 || (this.pos === 0 && !this.atEnd)) return;
    this.busy = true;
    try {
      if (!this.atEnd) this.pos -= 1; // from the "queue empty" screen, back to the last event
      const l = await this.load(this.trail[this.pos]);
      this.show(l);
      this.refresh(l);
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** Re-read an event shown again (someone may have reviewed it meanwhile); repaint if current. */
  async refresh(l) {
    try {
      l.detail = await api(`/api/events/${encodeURIComponent(l.uid)}`);
      if (this.trail[this.pos] === l.uid) this.fillDetail(l);
    } catch { /* keep what is shown */ }
  }

  // ------------------------------------------------------------ decisions

  async decide(action, reasonCode, comment) {
    if (this.busy || this.pos < 0) return;
    const l = this.cache.get(this.trail[this.pos]);
    this.busy = true;
    let ok = false;
    try {
      const body = { action };
      if (reasonCode) body.reason_code = reasonCode;
      if (comment) body.comment = comment;
      const was = l.detail.review_status;
      const out = await api(`/api/events/${encodeURIComponent(l.uid)}/review`, { method: "POST", body });
      l.detail = out.event;
      // it leaves this reviewer's queue when decided, or (second review on) confirmed at stage 1 by them
      const left = out.event.review_status !== "pending"
        || (out.event.review_stage === 1 && out.event.reviewed_by === out.review.username);
      if (was === "pending" && left && this.total) this.total -= 1;
      if (out.event.review_status === "confirmed") this.confirmedHere.add(l.uid);
      else this.confirmedHere.delete(l.uid);
      this.updateSessionExport();
      ok = true;
      const undo = { l, reviewId: out.review.id, was, left, confirmedBefore: was === "confirmed" };
      this.undoItem = undoToast(t("review.decided", { action: t(`review.action.${action}`) }), () => this.undo(undo));
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
    if (ok) {
      this.fillDetail(l);
      await this.next();
    }
  }

  /** Undo a decision of this session from its toast: the event comes back, as it was before. */
  async undo({ l, reviewId, left }) {
    try {
      l.detail = await api(`/api/events/${encodeURIComponent(l.uid)}/review/undo`, { method: "POST",
        body: { review_id: reviewId } });
    } catch (e) {
      toast(`${t("review.desk.undoFailed")}: ${e.message}`, "error");
      return;
    }
    if (left && this.total !== undefined && this.total !== null) this.total += 1;
    if (l.detail.review_status === "confirmed") this.confirmedHere.add(l.uid);
    else this.confirmedHere.delete(l.uid);
    this.updateSessionExport();
    const i = this.trail.lastIndexOf(l.uid);
    if (i >= 0) this.pos = i;
    else {
      this.trail.push(l.uid);
      this.pos = this.trail.length - 1;
    }
    this.show(l);
    toast(t("review.desk.undone"), "info");
  }

  openPicker(action) {
    if (this.busy || this.pos < 0) return;
    this.picker = { action };
    const comment = el("textarea", { id: "review-comment", rows: 2, maxlength: 2000 });
    const list = el("ol", { class: "rv-reasons" }, ...this.reasons.map((r, i) => el("li", {},
      el("button", { type: "button", class: "rv-reason", dataset: { code: r.code },
        onclick: () => this.pick(i) }, el("kbd", {}, String(i + 1)), " ", reasonLabel(r)))));
    this.pickerBox.replaceChildren(el("div", { class: "panel" },
      el("h2", { id: "review-picker-title" }, t(action === "dismiss" ? "review.dismissWhy" : "review.needsInfoWhy")),
      list,
      el("label", { for: "review-comment" }, t("review.comment"), comment),
      el("p", { class: "error", id: "review-picker-error", role: "alert" }),
      el("button", { type: "button", onclick: () => this.closePicker() }, t("common.cancel"), " ",
        el("kbd", {}, "Esc"))));
    this.pickerBox.hidden = false;
    list.querySelector("button")?.focus();
  }

  closePicker() {
    this.picker = null;
    this.pickerBox.hidden = true;
    this.pickerBox.replaceChildren();
    this.root.focus?.();
  }

  pick(index) {
    const r = this.reasons[index];
    if (!r || !this.picker) return;
    const comment = document.getElementById("review-comment").value.trim();
    if (r.comment_required && !comment) {
      document.getElementById("review-picker-error").textContent = t("review.commentRequired");
      document.getElementById("review-comment").focus();
      return;
    }
    const { action } = this.picker;
    this.closePicker();
    this.decide(action, r.code, comment || undefined);
  }

  // ------------------------------------------------------------ painting

  /** The end of the queue. Reached by walking (J past the last event), the events skipped are
   * still pending: ask the server how many the whole queue holds, and say so (not "cleared"). */
  async showEmpty() {
    this.atEnd = true;
    this.eventBox.hidden = true;
    this.prefetch = null;
    if (this.trail.length) {
      try {
        const out = await api("/api/events/next", { query: apiFilters(this.filters) });
        this.total = out.remaining;
      } catch (e) {
        this.fail(e);
      }
    } else {
      this.total = 0;
    }
    if (!this.atEnd || this.destroyed) return; // moved back (K) meanwhile
    const left = this.total > 0;
    this.emptyTitle.textContent = t(left ? "review.endTitle" : "review.emptyTitle");
    this.emptyText.textContent = left ? t("review.endText", { n: fmtNumber(this.total) }) : t("review.emptyText");
    document.getElementById("review-restart").textContent = t(left ? "review.fromStart" : "review.reload");
    this.empty.dataset.left = String(this.total);
    this.empty.hidden = false;
    this.updateRemaining();
  }

  show(l) {
    this.atEnd = false;
    this.empty.hidden = true;
    this.eventBox.hidden = false;
    this.mainKind = l.media.composite ? "composite" : PICTURE_KINDS.find((k) => l.media[k]) || "composite";
    this.paintStage(l);
    this.stageImg.dataset.uid = l.uid;
    this.fillThumbs(l);
    this.fillClip(l);
    this.fillDetail(l);
    this.updateRemaining();
    this.startPrefetch();
  }

  paintStage(l) {
    const m = l.media[this.mainKind];
    this.stageImg.src = m && m.url ? m.url : "";
    this.stageImg.alt = t(`review.kind.${this.mainKind}`);
    this.stageCaption.textContent = m && m.error ? `${t(`review.kind.${this.mainKind}`)}: ${m.error}`
      : t(`review.kind.${this.mainKind}`);
    this.stageCaption.classList.toggle("error", Boolean(m && m.error));
    if (!this.zoom.hidden) this.paintZoom(l);
    for (const b of this.thumbs.querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.kind === this.mainKind));
    }
  }

  fillThumbs(l) {
    this.thumbs.replaceChildren(...PICTURE_KINDS.filter((k) => l.media[k]).map((k) => {
      const m = l.media[k];
      return el("button", { type: "button", class: "rv-thumb", dataset: { kind: k },
        "aria-pressed": String(k === this.mainKind), onclick: () => { this.mainKind = k; this.paintStage(l); } },
      m.url ? el("img", { src: m.url, alt: "" }) : el("span", { class: "error" }, "✕"),
      el("span", { class: "rv-thumb-label" }, t(`review.kind.${k}`)));
    }));
  }

  fillClip(l) {
    const m = l.media.clip;
    this.video.pause();
    if (m && m.url) {
      this.video.src = m.url;
      this.video.loop = document.getElementById("review-loop").getAttribute("aria-pressed") === "true";
      this.video.playbackRate = this.isSlow() ? SLOW_RATE : 1;
      this.frameS = DEFAULT_FRAME_S;
      this.learnFrameRate();
    } else {
      this.video.removeAttribute("src");
      this.video.load();
    }
  }

  fillDetail(l) {
    const d = l.detail;
    const sig = d.signal_state ? d.signal_state.toLowerCase() : null;
    this.signalBox.replaceChildren(
      el("span", { class: `rv-lamp rv-lamp-${sig || "none"}`, "aria-hidden": "true" }),
      el("div", {}, el("div", { class: "rv-signal-state", id: "review-signal-state" },
        sig ? t(`common.signal.${sig}`) : t("review.noSignal")),
      el("div", { class: "rv-since", id: "review-since-red" }, d.since_red_s === null || d.since_red_s === undefined
        ? "" : t("review.sinceRed", { s: fmtNumber(d.since_red_s, 2) }))),
      el("div", { class: "rv-type" }, el("strong", {}, t(`common.type.${d.type}`)), el("br"),
        classLabel(d.class_name)));
    const fact = (k, v) => (v === null || v === undefined || v === "" ? [] : [el("dt", {}, t(k)), el("dd", {}, v)]);
    this.facts.replaceChildren(
      ...fact("common.crossing", d.crossing_name),
      ...fact("review.district", d.district),
      ...fact("review.occurredAt", fmtDate(d.occurred_at)),
      ...fact("review.videoTime", d.run ? `${d.run.video} · ${fmtNumber(d.t, 2)} s` : `${fmtNumber(d.t, 2)} s`),
      ...fact("review.lane", d.lane),
      ...fact("review.stopLine", d.stop_line),
      ...fact("review.signalId", d.signal_id),
      ...fact("review.confidence", d.confidence === null ? null : fmtPercent(d.confidence, 0)),
      ...fact("review.eventId", d.uid));
    this.fillPlate(l);
    const who = d.reviewed_by ? t("review.reviewedBy", { user: d.reviewed_by, at: fmtDate(d.reviewed_at) }) : "";
    this.statusLine.replaceChildren(el("span", { class: `badge badge-${d.review_status}` },
      t(`common.status.${d.review_status}`)), " ", who);
    showStage(this.statusLine, d);
    this.history.replaceChildren(...(d.reviews.length ? d.reviews.map((r) => el("li", {},
      el("time", { datetime: r.at }, fmtDate(r.at)), " · ", r.username, " · ", t(`review.action.${r.action}`),
      r.reason ? ` · ${lang() === "en" ? r.reason.en : r.reason.zh}` : "", r.comment ? ` · “${r.comment}”` : "",
      r.stage > 1 ? ` · ${t("review.stage2")}` : ""))
      : [el("li", { class: "muted" }, t("review.noHistory"))]));
    document.getElementById("review-export").disabled = d.review_status !== "confirmed";
  }

  /** Plate (or 未识别), colour, confidence, violation code; the reviewer's correction beside the machine reading. */
  fillPlate(l) {
    const d = l.detail;
    const meta = [];
    if (d.plate_colour) meta.push(t(`review.plateColour.${d.plate_colour}`));
    if (d.plate_confidence !== null && d.plate_confidence !== undefined && d.plate_text) {
      meta.push(t("review.plateConfidence", { p: fmtPercent(d.plate_confidence, 0) }));
    }
    if (d.plate_corrected) {
      meta.push(t("review.plateMachine", { plate: d.plate_text || t("review.plateNotRead") }));
      meta.push(t("review.plateCorrectedBy", { user: d.plate_corrected_by || "", at: fmtDate(d.plate_corrected_at) }));
    } else if (!d.plate_text && d.plate_reason) {
      meta.push(d.plate_reason);
    }
    const input = el("input", { id: "review-plate-input", type: "text", maxlength: "32", autocomplete: "off",
      spellcheck: "false", "aria-label": t("review.plateEdit"), placeholder: t("review.platePlaceholder"),
      value: d.plate || "" });
    const save = el("button", { type: "submit", id: "review-plate-save" }, t("review.plateSave"));
    const form = el("form", { class: "rv-plate-form", onsubmit: (e) => { e.preventDefault(); this.savePlate(l, input.value); } },
      input, save);
    const code = d.violation_code
      ? `${d.violation_code}${d.violation_full_code ? ` (${d.violation_full_code})` : ""} ${d.violation_description || ""}`
      : t("review.noCode");
    this.plateBox.replaceChildren(
      el("div", { class: "rv-plate-text", id: "review-plate-text" }, d.plate || t("review.plateNotRead")),
      el("div", { class: "rv-plate-meta muted", id: "review-plate-meta" }, meta.join(" · ")),
      el("div", { class: "rv-code", id: "review-code" }, `${t("review.code")}: ${code}`),
      d.legal_basis ? el("div", { class: "rv-basis muted", id: "review-basis" }, d.legal_basis) : "",
      d.anti_forgery_code ? el("div", { class: "rv-afc muted", id: "review-afc" },
        `${t("review.antiForgery")}: ${d.anti_forgery_code}`) : "",
      form);
  }

  async savePlate(l, value) {
    try {
      l.detail = await api(`/api/events/${encodeURIComponent(l.uid)}/plate`, { method: "PUT", body: { plate: value } });
      this.fillDetail(l);
      toast(t("review.plateSaved", { plate: l.detail.plate }), "ok");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        toast(`${t("review.plateRefused")}: ${e.message}`, "error");
        return;
      }
      this.fail(e);
    }
  }

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

  // ------------------------------------------------------------ zoom, player, export

  toggleZoom() {
    if (this.pos < 0) return;
    if (this.zoom.hidden) {
      this.zoom.hidden = false; // shown first: fitting needs the overlay's size
      this.paintZoom(this.cache.get(this.trail[this.pos]));
      this.zoom.focus();
    } else {
      this.zoom.hidden = true;
      this.zoom.replaceChildren();
    }
  }

  /** The picture at least at its own size (a wide composite scrolls, from its left edge) and
   * small crops (close-up, signal) enlarged to fill the screen. */
  paintZoom(l) {
    const m = l && l.media[this.mainKind];
    const img = el("img", { id: "review-zoom-img", alt: t(`review.kind.${this.mainKind}`), dataset: { kind: this.mainKind } });
    img.addEventListener("load", this.zoomFit);
    img.src = m && m.url ? m.url : "";
    this.zoom.replaceChildren(img);
    this.zoom.scrollTo(0, 0);
    if (img.complete) this.fitZoom(); // a cached picture may have loaded before the listener ran
  }

  fitZoom() {
    const img = this.zoom.querySelector("img");
    if (!img || !img.naturalWidth) return;
    const scale = Math.max(1, Math.min(this.zoom.clientWidth / img.naturalWidth,
      this.zoom.clientHeight / img.naturalHeight));
    img.style.width = `${Math.floor(img.naturalWidth * scale)}px`;
    img.classList.toggle("rv-zoom-enlarged", scale > 1);
  }

  playPause() {
    if (!this.video.src) return;
    if (this.video.paused) this.video.play().catch(() => {});
    else this.video.pause();
  }

  /** Learn the clip's frame duration from the decoder's frame times (rVFC) for frame stepping. */
  learnFrameRate() {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    let last = null;
    const seen = [];
    const onFrame = (_now, meta) => {
      if (last !== null && meta.mediaTime > last) seen.push(meta.mediaTime - last);
      last = meta.mediaTime;
      if (seen.length >= 3) this.frameS = Math.min(...seen);
      else if (!this.destroyed) this.video.requestVideoFrameCallback(onFrame);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  step(dir) {
    if (!this.video.src) return;
    this.video.pause();
    const end = Number.isFinite(this.video.duration) ? this.video.duration : Infinity;
    this.video.currentTime = Math.min(end, Math.max(0, this.video.currentTime + dir * this.frameS));
  }

  isSlow() {
    return document.getElementById("review-slow").getAttribute("aria-pressed") === "true";
  }

  slow() {
    const on = !this.isSlow();
    document.getElementById("review-slow").setAttribute("aria-pressed", String(on));
    this.video.playbackRate = on ? SLOW_RATE : 1;
  }

  loop() {
    const b = document.getElementById("review-loop");
    const on = b.getAttribute("aria-pressed") !== "true";
    b.setAttribute("aria-pressed", String(on));
    this.video.loop = on;
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

  // ------------------------------------------------------------ keyboard

  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target instanceof HTMLElement
      && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
    if (this.picker) {
      if (e.key === "Escape") { e.preventDefault(); this.closePicker(); return; }
      if (!typing && /^[1-9]$/.test(e.key)) { e.preventDefault(); this.pick(Number(e.key) - 1); }
      return;
    }
    if (e.key === "Escape") {
      if (!this.zoom.hidden) { e.preventDefault(); this.toggleZoom(); }
      else if (!this.help.hidden) this.toggleHelp();
      return;
    }
    if (!this.zoom.hidden) { // arrows, space ... scroll the enlarged picture; Z closes it
      if (e.key.toLowerCase() === "z") { e.preventDefault(); this.toggleZoom(); }
      return;
    }
    if (typing) return;
    const onButton = target instanceof HTMLElement && (target.tagName === "BUTTON" || target.tagName === "A");
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const actions = {
      j: () => this.next(), ArrowRight: () => this.next(),
      k: () => this.previous(), ArrowLeft: () => this.previous(),
      c: () => this.decide("confirm"), Enter: () => this.decide("confirm"),
      d: () => this.openPicker("dismiss"), n: () => this.openPicker("needs_info"),
      z: () => this.toggleZoom(), " ": () => this.playPause(),
      ",": () => this.step(-1), ".": () => this.step(1),
      s: () => this.slow(), l: () => this.loop(), e: () => this.exportCurrent(), "?": () => this.toggleHelp(),
      u: () => this.undoItem?.isConnected && this.undoItem.querySelector("button:not(:disabled)")?.click(),
    };
    if (!(k in actions)) return;
    if (onButton && (k === "Enter" || k === " ")) return; // let the focused button do its own thing
    if (target === this.video && (k === " " || k === "ArrowLeft" || k === "ArrowRight")) e.preventDefault();
    e.preventDefault();
    actions[k]();
  }
}

function reasonLabel(r) {
  return lang() === "en" ? r.en : r.zh;
}

function classLabel(name) {
  const key = `common.class.${name}`;
  return hasT(key) ? t(key) : name;
}

registerPage("review", { title: "review.title", roles: ["reviewer"], render });
