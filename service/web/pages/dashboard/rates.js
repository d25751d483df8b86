// Rates per 1,000 road users with their uncertainty: a Wilson score interval beside the rate, and
// 样本不足 (too few road users) when the exposure is small, so 3 violations among 7 road users
// never reads as a firm 428.57‰.
import { el, fmtNumber, t } from "../../app.js";

export const MIN_SAMPLE = 100; // fewer road users than this: the rate is flagged (same as the bulletin)
const Z95 = 1.959964;

/** The 95 % Wilson score interval of k successes in n trials, as [low, high] proportions; null
 * when n is 0 or unknown. k above n (more violations than counted road users) is clamped to n. */
export function wilson(k, n, z = Z95) {
  if (!n || n <= 0 || k === null || k === undefined) return null;
  const p = Math.min(Math.max(k, 0), n) / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Whether a rate built on `roadUsers` is too thin to read on its own. */
export function smallSample(roadUsers) {
  return roadUsers !== null && roadUsers !== undefined && roadUsers < MIN_SAMPLE;
}

/** "95% CI 158–750‰" of `violations` among `roadUsers`, or "" when unknown. */
export function intervalText(violations, roadUsers) {
  const ci = wilson(violations, roadUsers);
  if (!ci) return "";
  return t("dashboard.rate.ci", { lo: fmtNumber(ci[0] * 1000, ci[0] * 1000 < 10 ? 1 : 0),
    hi: fmtNumber(ci[1] * 1000, ci[1] * 1000 < 10 ? 1 : 0) });
}

/** The rate's caveats as elements: the interval, and a 样本不足 badge for a small sample. */
export function rateNotes(violations, roadUsers) {
  const ci = intervalText(violations, roadUsers);
  return [
    ci ? el("span", { class: "rate-ci", title: t("dashboard.rate.ciHint") }, ci) : null,
    smallSample(roadUsers) ? el("span", { class: "badge badge-warn rate-small", title: t("dashboard.rate.smallHint",
      { n: fmtNumber(MIN_SAMPLE) }) }, t("dashboard.rate.small")) : null,
  ].filter(Boolean);
}
