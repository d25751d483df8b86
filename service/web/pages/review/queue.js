// The review queue's walk (a mixin of ReviewView: `this` is the view): the event cache, the
// server's queue (next pending after an event), the trail of events shown (previous / next), the
// prefetch of what "next" will show, and showing an event or the end of the queue.

import { api, fmtNumber, t } from "../../app.js";
import { CACHE_SIZE, PICTURE_KINDS, apiFilters, loadEvent, revoke } from "./common.js";

export class Queue {
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

  // ------------------------------------------------------------ showing

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
}
