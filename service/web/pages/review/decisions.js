// Decisions of the review queue (a mixin of ReviewView: `this` is the view): confirm, dismiss and
// needs-info with the reason picker, and undoing a decision from its toast.

import { api, el, t, toast } from "../../app.js";
import { undoToast } from "../review_desk.js";
import { reasonLabel } from "./common.js";

export class Decisions {
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
}
