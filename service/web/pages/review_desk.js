// The review desk around a decision: the first reviewer's decision shown to the second reviewer
// (初审 / 复审, when SECOND_REVIEW is on), and the toast that offers 撤销 (undo) for UNDO_S seconds
// after a decision (POST /api/events/{uid}/review/undo: the same reviewer's latest decision only).
import { api, el, fmtDate, fmtNumber, lang, nextDay, t, zonedDayStart } from "../app.js";

export const UNDO_S = 8; // the server refuses after 10 s: the button goes a little earlier

/** The decision of stage 1 an event awaiting its second review carries (latest first-stage review),
 * or null when the event is not awaiting a second review. */
export function firstDecision(d) {
  if (d.review_status !== "pending" || d.review_stage !== 1) return null;
  const firsts = (d.reviews || []).filter((r) => r.stage === 1);
  return firsts.length ? firsts[firsts.length - 1] : null;
}

/** The 初审 panel shown to the second reviewer (decision, reason, comment, who and when), or an
 * empty, hidden box. Kept right after `anchor` (the status line). */
export function showStage(anchor, d) {
  let box = document.getElementById("review-first-decision");
  if (!box) {
    box = el("section", { id: "review-first-decision", class: "rv-first", "aria-live": "polite" });
    anchor.after(box);
  }
  const r = firstDecision(d);
  box.hidden = !r;
  anchor.dataset.stage = r ? "2" : String(d.review_stage || 0);
  if (!r) {
    box.replaceChildren();
    return;
  }
  const badge = anchor.querySelector(".badge");
  if (badge) badge.textContent = t("review.desk.awaitingSecond");
  const reason = r.reason ? (lang() === "en" ? r.reason.en : r.reason.zh) : null;
  box.replaceChildren(...[
    el("h2", { class: "rv-h" }, t("review.desk.secondTitle")),
    el("p", {}, el("strong", { class: "rv-first-action", dataset: { action: r.action } },
      t(`review.action.${r.action}`)), " · ", el("span", { class: "rv-first-user" }, r.username), " · ",
    el("time", { datetime: r.at }, fmtDate(r.at))),
    reason ? el("p", { class: "rv-first-reason" }, t("review.desk.reason", { text: reason })) : null,
    r.comment ? el("p", { class: "rv-first-comment" }, t("review.desk.comment", { text: r.comment })) : null,
    el("p", { class: "muted" }, t("review.desk.secondHint"))].filter(Boolean));
}

/** A toast with a 撤销 button live for UNDO_S seconds (with a countdown); `onUndo` runs once. */
export function undoToast(message, onUndo) {
  const box = document.getElementById("toasts");
  if (!box) return null;
  let left = UNDO_S;
  const count = el("span", { class: "undo-count" }, ` (${left})`);
  const button = el("button", { type: "button", class: "toast-undo", id: "review-undo" }, t("review.desk.undo"), count);
  const item = el("div", { class: "toast toast-success toast-with-action", role: "status" },
    el("span", {}, message), " ", button);
  const done = () => {
    clearInterval(timer);
    item.remove();
  };
  const timer = setInterval(() => {
    left -= 1;
    count.textContent = ` (${left})`;
    if (left <= 0) done();
  }, 1000);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await onUndo();
    } finally {
      done();
    }
  }, { once: true });
  box.append(item);
  return item;
}

/** 审核工作量: decisions per reviewer (初审 / 复审, by action) in the days `from`..`to` (inclusive,
 * "YYYY-MM-DD" in the shown zone; either may be missing) from /api/reviews/workload. */
export function workloadPanel({ from, to } = {}) {
  const box = el("section", { class: "panel history-workload", id: "history-workload",
    "aria-labelledby": "history-workload-title" }, el("h2", { id: "history-workload-title" },
    t("history.workload.title")), el("p", { class: "muted" }, t("common.loading")));
  const query = { from: from ? zonedDayStart(from) : undefined, to: to ? zonedDayStart(nextDay(to)) : undefined };
  api("/api/reviews/workload", { query }).then((w) => {
    const cols = ["user", "total", "first", "second", "confirm", "dismiss", "needs_info", "last"];
    const cell = (r, c) => ({
      user: r.username, total: fmtNumber(r.decisions), first: fmtNumber(r.first_stage),
      second: fmtNumber(r.second_stage), confirm: fmtNumber(r.by_action.confirm || 0),
      dismiss: fmtNumber(r.by_action.dismiss || 0), needs_info: fmtNumber(r.by_action.needs_info || 0),
      last: fmtDate(r.last_at) })[c];
    const body = w.rows.length
      ? el("table", { class: "data-table", id: "workload-table" },
        el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col", class: c === "user" ? null : "num" },
          t(`history.workload.${c}`))))),
        el("tbody", {}, ...w.rows.map((r) => el("tr", { dataset: { user: r.username } },
          ...cols.map((c) => el(c === "user" ? "th" : "td", { scope: c === "user" ? "row" : null,
            class: c === "user" ? null : "num", dataset: { col: c } }, cell(r, c)))))))
      : el("p", { class: "muted" }, t("history.workload.none"));
    box.replaceChildren(box.firstChild, body);
  }).catch((e) => {
    box.replaceChildren(box.firstChild, el("p", { class: "error", role: "alert" }, `${t("common.error")}: ${e.message}`));
  });
  return box;
}
