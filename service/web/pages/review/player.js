// The review queue's clip timeline and large player (a mixin of ReviewView: `this` is the view).
//
// The API tells where the violation is inside the clip (`event_at_s` of the clip's evidence
// record, from the clip's own first-frame time). The clip opens at that moment, a marker shows it
// on a timeline bar under the video (click the bar to seek, click the marker or press M to go
// back to it), and V opens the same <video> large (an overlay over the page; V or Esc closes it).
// Without a known moment there is no marker and the clip opens at its start.

import { fmtNumber, t } from "../../app.js";

export class Player {
  /** The violation's time in the current clip (seconds), or null when the clip does not say. */
  clipMark(l) {
    const m = l && l.media.clip;
    const at = m && m.ev ? m.ev.event_at_s : null;
    return typeof at === "number" && Number.isFinite(at) ? at : null;
  }

  /** New clip: remember its mark and open it there once the clip's duration is known. */
  armClip(l) {
    this.mark = this.clipMark(l);
    this.markDone = false;
    this.paintTimeline();
  }

  onClipMeta() {
    if (this.mark !== null && !this.markDone) {
      this.markDone = true;
      this.video.currentTime = Math.min(this.mark, Number.isFinite(this.video.duration) ? this.video.duration : this.mark);
    }
    this.paintTimeline();
  }

  /** Marker, played part and play head from the clip's time; the label says both times. */
  paintTimeline() {
    const d = Number.isFinite(this.video.duration) && this.video.duration > 0 ? this.video.duration : null;
    const now = this.video.currentTime || 0;
    const pct = (x) => `${Math.max(0, Math.min(100, (100 * x) / d))}%`;
    const fill = document.getElementById("review-timeline-fill");
    const head = document.getElementById("review-timeline-head");
    if (!fill || !head) return;
    fill.style.width = d ? pct(now) : "0%";
    head.style.left = d ? pct(now) : "0%";
    this.markBtn.hidden = this.mark === null || !d;
    if (this.mark !== null && d) {
      this.markBtn.style.left = pct(this.mark);
      this.markBtn.dataset.at = String(this.mark);
    }
    const parts = [`${fmtNumber(now, 2)} / ${d ? fmtNumber(d, 2) : "–"} s`];
    parts.push(this.mark === null ? t("review.momentUnknown") : t("review.moment", { s: fmtNumber(this.mark, 2) }));
    this.clipTime.textContent = parts.join(" · ");
  }

  /** Click on the bar: seek to that place (paused, to look at it). */
  seekTimeline(e) {
    if (e.target === this.markBtn || !this.video.src) return;
    const d = this.video.duration;
    if (!Number.isFinite(d) || d <= 0) return;
    const r = this.timeline.getBoundingClientRect();
    this.video.pause();
    this.video.currentTime = Math.max(0, Math.min(d, ((e.clientX - r.left) / r.width) * d));
  }

  /** M: back to the moment of the violation (paused there). */
  toMark() {
    if (this.mark === null || !this.video.src) return;
    this.video.pause();
    this.video.currentTime = this.mark;
  }

  isLarge() {
    return this.playerBox.classList.contains("rv-player-large");
  }

  /** V: the clip large over the page, at the moment of the violation; V / Esc puts it back. */
  toggleLarge() {
    if (this.pos < 0 && !this.isLarge()) return;
    const large = !this.isLarge();
    this.playerBox.classList.toggle("rv-player-large", large);
    this.playerBox.setAttribute("role", large ? "dialog" : "group");
    if (large) this.playerBox.setAttribute("aria-modal", "true");
    else this.playerBox.removeAttribute("aria-modal");
    document.getElementById("review-large").setAttribute("aria-pressed", String(large));
    if (large) this.toMark();
    this.paintTimeline();
  }
}
