// The calibration editor's drawing tools (a mixin of Editor: `this` is the editor): pointer
// positions in frame pixels, selecting and dragging handles, and adding a stop line (two clicks),
// a lane (clicks, closed on its first point, Enter or a double click) or a lamp box (a drag).

import { toast, t } from "../../app.js";
import { CLOSE_PX, across, centroid, nextId, unit } from "./geometry.js";

export class PointerTools {
  // ------------------------------------------------------------ pointer

  /** The pointer position in frame pixels (clamped to the frame). */
  framePoint(e) {
    const m = this.svg.getScreenCTM();
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    const [w, h] = this.cfg.frame_size;
    return [Math.min(w, Math.max(0, Math.round(p.x))), Math.min(h, Math.max(0, Math.round(p.y)))];
  }

  /** Frame pixels per screen pixel (for handle sizes and click tolerances). */
  scale() {
    const r = this.svg.getBoundingClientRect();
    return r.width ? this.cfg.frame_size[0] / r.width : 1;
  }

  down(e) {
    if (!this.cfg || e.button !== 0) return;
    const p = this.framePoint(e);
    const target = e.target;
    if (this.tool === "select") {
      const handle = target.dataset && target.dataset.handle;
      const kind = target.dataset && target.dataset.kind;
      if (kind) {
        this.sel = { kind, i: Number(target.dataset.i), colour: target.dataset.colour };
        if (handle) {
          this.drag = { handle, start: p, orig: JSON.parse(JSON.stringify(this.item())) };
          this.svg.setPointerCapture(e.pointerId);
        }
      } else {
        this.sel = null;
      }
      this.refresh();
      return;
    }
    e.preventDefault();
    if (this.tool === "stop") {
      this.draft = [...(this.draft || []), p];
      if (this.draft.length === 2) this.addStopLine(this.draft);
      else this.draw();
    } else if (this.tool === "lane") {
      const d = this.draft || [];
      const first = d[0];
      if (d.length >= 3 && Math.hypot(p[0] - first[0], p[1] - first[1]) <= CLOSE_PX * this.scale()) this.finishLane();
      else { this.draft = [...d, p]; this.draw(); }
    } else if (this.tool === "lamp") {
      this.draft = { box: [p[0], p[1], 0, 0], from: p };
      this.svg.setPointerCapture(e.pointerId);
    }
  }

  move(e) {
    if (!this.cfg) return;
    const p = this.framePoint(e);
    this.cursor = p;
    if (this.drag) {
      this.applyDrag(p);
      this.setDirty(true);
      this.draw();
      return;
    }
    if (this.tool === "lamp" && this.draft && this.draft.box) {
      const [x0, y0] = this.draft.from;
      this.draft.box = [Math.min(x0, p[0]), Math.min(y0, p[1]), Math.abs(p[0] - x0), Math.abs(p[1] - y0)];
      this.draw();
    } else if (Array.isArray(this.draft) && this.draft.length) {
      this.draw();
    }
  }

  up(e) {
    if (this.drag) {
      this.drag = null;
      this.svg.releasePointerCapture?.(e.pointerId);
      this.changed();
      return;
    }
    if (this.tool === "lamp" && this.draft && this.draft.box) {
      const box = this.draft.box;
      this.draft = null;
      if (box[2] >= 2 && box[3] >= 2) this.addLamp(box);
      else this.draw();
    }
  }

  applyDrag(p) {
    const { handle, start, orig } = this.drag;
    const it = this.item();
    const dx = p[0] - start[0];
    const dy = p[1] - start[1];
    if (this.sel.kind === "stop") {
      if (handle === "p0" || handle === "p1") it.points[handle === "p0" ? 0 : 1] = p;
      else if (handle === "arrow") {
        const mid = [(it.points[0][0] + it.points[1][0]) / 2, (it.points[0][1] + it.points[1][1]) / 2];
        it.entering = unit([p[0] - mid[0], p[1] - mid[1]]) || it.entering;
      }
    } else if (this.sel.kind === "lane") {
      if (handle.startsWith("v")) it.polygon[Number(handle.slice(1))] = p;
      else if (handle === "arrow") it.direction = unit([p[0] - centroid(it.polygon)[0], p[1] - centroid(it.polygon)[1]]) || it.direction;
    } else if (this.sel.kind === "lamp") {
      const [w, h] = this.cfg.frame_size;
      const box = this.cfg.signals[this.sel.i].lamps[this.sel.colour];
      if (handle === "body") {
        box[0] = Math.min(w - orig[2], Math.max(0, orig[0] + dx));
        box[1] = Math.min(h - orig[3], Math.max(0, orig[1] + dy));
      } else if (handle === "corner") {
        box[2] = Math.max(1, p[0] - box[0]);
        box[3] = Math.max(1, p[1] - box[1]);
      }
    }
  }


  addStopLine([p, q]) {
    const sl = { id: nextId("stop", this.cfg.stop_lines), points: [p, q], entering: across(p, q),
      signal: this.cfg.signals.length ? this.cfg.signals[0].id : null };
    this.cfg.stop_lines.push(sl);
    this.draft = null;
    this.sel = { kind: "stop", i: this.cfg.stop_lines.length - 1 };
    this.changed();
    toast(t("crossings.addedStop", { id: sl.id }), "success");
  }

  finishLane() {
    if (this.tool !== "lane" || !Array.isArray(this.draft)) return;
    if (this.draft.length < 3) {
      this.showErrors([{ path: "lanes", msg: t("crossings.err.fewPoints") }]);
      return;
    }
    const poly = this.draft;
    const lane = { id: nextId("lane", this.cfg.lanes), polygon: poly, direction: [0, -1] };
    this.cfg.lanes.push(lane); // no `signal` key: inherits the stop line's
    this.draft = null;
    this.sel = { kind: "lane", i: this.cfg.lanes.length - 1 };
    this.changed();
  }

  addLamp(box) {
    let sigId = this.lampSignal.value;
    let sig = this.cfg.signals.find((s) => s.id === sigId);
    if (!sig) {
      sigId = nextId("signal", this.cfg.signals);
      sig = { id: sigId, lamps: {} };
      this.cfg.signals.push(sig);
    }
    const colour = this.lampColour.value;
    sig.lamps[colour] = box.map(Math.round);
    this.sel = { kind: "lamp", i: this.cfg.signals.indexOf(sig), colour };
    this.fillLampSignals();
    this.lampSignal.value = sigId;
    this.changed();
  }
}
