// Batch work for the clear cases on the history list (#/history, Frigate-style multi-select):
// tick several events still waiting for their first decision and dismiss them with ONE reason
// (POST /api/events/review-batch). Only dismissal: a confirmation leads to a penalty and is
// made on the review page, one event at a time, after looking at it. An event decided meanwhile
// (or awaiting its second review) is refused by the server for that event and said so here.

import { api, el, fmtNumber, lang, t, toast } from "../app.js";

export const MAX_BATCH = 100; // the server's limit (a page of the list is 50)

/** An event the batch may dismiss: pending, no decision yet (not one awaiting its second review). */
export function batchable(e) {
  return e.review_status === "pending" && (e.review_stage || 0) === 0;
}

/** The selection of one list page: the row checkboxes, the "all" box and the bar with the reason. */
export class BatchSelection {
  constructor(reasons, onDone) {
    this.reasons = reasons;
    this.onDone = onDone;
    this.selected = new Set();
    this.boxes = new Map(); // uid -> checkbox
    this.all = el("input", { type: "checkbox", id: "history-select-all", "aria-label": t("history.batch.all"),
      onchange: () => this.setAll(this.all.checked) });
    this.count = el("span", { id: "history-batch-count", "aria-live": "polite" });
    this.reason = el("select", { id: "history-batch-reason", onchange: () => this.update() },
      el("option", { value: "" }, t("history.batch.pickReason")),
      ...reasons.map((r) => el("option", { value: r.code }, lang() === "en" ? r.en : r.zh)));
    this.comment = el("input", { id: "history-batch-comment", maxlength: 2000, autocomplete: "off", size: 24,
      oninput: () => this.update() });
    this.submit = el("button", { type: "submit", class: "danger", id: "history-batch-dismiss", disabled: true });
    this.error = el("p", { class: "error", id: "history-batch-error", role: "alert" });
    this.result = el("ul", { class: "history-batch-result", id: "history-batch-result" });
    this.bar = el("form", { class: "history-batch", id: "history-batch", "aria-label": t("history.batch.title"),
      onsubmit: (e) => { e.preventDefault(); this.send(); } },
    el("strong", {}, t("history.batch.title")), this.count,
    el("label", { for: "history-batch-reason" }, t("review.dismissWhy"), this.reason),
    el("label", { for: "history-batch-comment" }, t("history.batch.comment"), this.comment),
    this.submit, el("p", { class: "muted history-batch-note" }, t("history.batch.note")), this.error, this.result);
    this.update();
  }

  /** A new list page: nothing selected, no boxes yet (the last batch's refusals stay shown). */
  reset() {
    this.boxes.clear();
    this.selected.clear();
    this.update();
  }

  /** After the page's rows are made: the bar only where there is something to select or to report. */
  refresh() {
    this.bar.hidden = this.boxes.size === 0 && !this.result.childElementCount;
    this.update();
  }

  /** The checkbox of a row (null for an event the batch may not take). */
  box(e) {
    if (!batchable(e)) return null;
    const b = el("input", { type: "checkbox", class: "history-pick", dataset: { uid: e.uid },
      "aria-label": t("history.batch.pick", { id: e.uid.slice(0, 8) }),
      onchange: () => { this.toggle(e.uid, b.checked); } });
    this.boxes.set(e.uid, b);
    return b;
  }

  toggle(uid, on) {
    if (on) this.selected.add(uid);
    else this.selected.delete(uid);
    this.update();
  }

  setAll(on) {
    for (const [uid, b] of this.boxes) {
      b.checked = on;
      this.toggle(uid, on);
    }
  }

  reasonOf(code) {
    return this.reasons.find((r) => r.code === code);
  }

  update() {
    const n = this.selected.size;
    this.count.textContent = t("history.batch.selected", { n: fmtNumber(n) });
    this.submit.textContent = t("history.batch.dismiss", { n: fmtNumber(n) });
    const r = this.reasonOf(this.reason.value);
    const needsComment = Boolean(r && r.comment_required && !this.comment.value.trim());
    this.submit.disabled = n === 0 || n > MAX_BATCH || !r || needsComment;
    this.error.textContent = n > MAX_BATCH ? t("history.batch.tooMany", { n: fmtNumber(MAX_BATCH) })
      : needsComment ? t("review.commentRequired") : "";
    this.all.checked = this.boxes.size > 0 && n === this.boxes.size;
    this.all.indeterminate = n > 0 && n < this.boxes.size;
    this.bar.dataset.selected = String(n);
  }

  async send() {
    if (this.submit.disabled) return;
    const body = { uids: [...this.selected], action: "dismiss", reason_code: this.reason.value };
    const comment = this.comment.value.trim();
    if (comment) body.comment = comment;
    this.submit.disabled = true;
    let out;
    try {
      out = await api("/api/events/review-batch", { method: "POST", body });
    } catch (e) {
      this.error.textContent = `${t("common.error")}: ${e.message}`;
      this.update();
      return;
    }
    const left = out.results.filter((x) => x.outcome !== "dismissed");
    toast(t("history.batch.done", { n: fmtNumber(out.dismissed) }), left.length ? "info" : "success");
    this.reason.value = "";
    this.comment.value = "";
    this.result.replaceChildren(...left.map((x) => el("li", { dataset: { uid: x.uid, outcome: x.outcome } },
      el("code", {}, x.uid.slice(0, 8)), " · ", t(`history.batch.outcome.${x.outcome}`),
      x.detail ? ` · ${x.detail}` : "")));
    this.bar.dataset.done = String(out.dismissed);
    await this.onDone();
  }
}
