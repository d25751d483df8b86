// The review queue's pictures and clip (a mixin of ReviewView: `this` is the view): the stage
// picture and its thumbnails, the enlarged picture (zoom), the clip player with frame stepping,
// slow motion and loop.

import { el, t } from "../../app.js";
import { DEFAULT_FRAME_S, PICTURE_KINDS, SLOW_RATE } from "./common.js";

export class Media {
  // ------------------------------------------------------------ stage and thumbnails

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
    this.armClip(l); // opens at the violation's moment once its metadata is loaded (player.js)
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

  // ------------------------------------------------------------ zoom

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

  // ------------------------------------------------------------ player

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
}
