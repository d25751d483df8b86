// The review queue's event details (a mixin of ReviewView: `this` is the view): signal state,
// facts, status and history, and the plate panel with the reviewer's correction.
//
// Lane, stop line and signal are shown by the names people gave them in the crossing file (the
// API's *_name; the config id is in the tooltip). The detector's confidence is shown only when it
// says something: below CONFIDENCE_SHOWN_BELOW (today's rules record 1.0 for every event, and a
// line reading "置信度 100%" on every event is noise).

import { ApiError, api, el, fmtDate, fmtNumber, fmtPercent, lang, t, toast } from "../../app.js";
import { showStage } from "../review_desk.js";
import { classLabel } from "./common.js";

export const CONFIDENCE_SHOWN_BELOW = 0.995; // below this it rounds to < 100 %: worth a look

/** A fact's value: the part's name, its config id as the tooltip when they differ. */
export function named(name, id) {
  if (!name && !id) return null;
  return name && id && name !== id ? el("span", { title: id, dataset: { id } }, name) : name || id;
}

/** The confidence to show, or null when it carries no information (unknown, or ~100 %). */
export function shownConfidence(c) {
  return typeof c === "number" && c < CONFIDENCE_SHOWN_BELOW ? fmtPercent(c, 0) : null;
}

export class Detail {
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
      ...fact("review.lane", named(d.lane_name, d.lane)),
      ...fact("review.stopLine", named(d.stop_line_name, d.stop_line)),
      ...fact("review.signalId", named(d.signal_name, d.signal_id)),
      ...fact("review.confidence", shownConfidence(d.confidence)),
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
}
