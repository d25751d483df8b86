// The calibration editor's overlay (a mixin of Editor: `this` is the editor): lanes, stop lines
// with their entering arrows, lamp boxes, the selected item's handles and the shape being drawn,
// as SVG in frame coordinates (the SVG's viewBox is the crossing's frame_size).

import { HANDLE_PX, LAMP_COLOURS, LAMP_STROKE, centroid, svgEl, unit } from "./geometry.js";

export class Overlay {
  // ------------------------------------------------------------ drawing

  draw() {
    if (!this.cfg) return;
    const [w, h] = this.cfg.frame_size;
    this.svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    if (!this.snapshotUrl) this.canvas.style.setProperty("--aspect", String(w / h));
    const k = this.scale();
    const r = HANDLE_PX * k;
    const arrowLen = Math.min(w, h) / 8;
    const nodes = [];
    const isSel = (kind, i, colour) => this.sel && this.sel.kind === kind && this.sel.i === i
      && (kind !== "lamp" || this.sel.colour === colour);
    const handle = (x, y, kind, i, name, extra = {}) => svgEl("circle", { cx: x, cy: y, r, class: "cx-handle",
      "data-kind": kind, "data-i": i, "data-handle": name, ...extra });
    const arrow = (from, dir, cls, kind, i, selected) => {
      const u = unit(dir) || [0, -1];
      const tip = [from[0] + u[0] * arrowLen, from[1] + u[1] * arrowLen];
      const head = arrowLen / 3;
      const wing = (a) => [tip[0] - head * (u[0] * Math.cos(a) - u[1] * Math.sin(a)),
        tip[1] - head * (u[0] * Math.sin(a) + u[1] * Math.cos(a))];
      const [l1, l2] = [wing(0.5), wing(-0.5)];
      const g = svgEl("g", { class: cls });
      g.append(svgEl("polyline", { points: `${from.join(",")} ${tip.join(",")}`, "data-kind": kind, "data-i": i }),
        svgEl("polyline", { points: `${l1.join(",")} ${tip.join(",")} ${l2.join(",")}`, "data-kind": kind, "data-i": i }));
      if (selected) g.append(handle(tip[0], tip[1], kind, i, "arrow", { class: "cx-handle cx-handle-arrow" }));
      return g;
    };
    this.cfg.lanes.forEach((ln, i) => {
      const sel = isSel("lane", i);
      nodes.push(svgEl("polygon", { points: ln.polygon.map((p) => p.join(",")).join(" "),
        class: `cx-lane${sel ? " cx-selected" : ""}${ln.signal === null ? " cx-lane-exempt" : ""}`,
        "data-kind": "lane", "data-i": i, "data-handle": sel ? undefined : undefined }));
      nodes.push(arrow(centroid(ln.polygon), ln.direction, "cx-arrow cx-arrow-lane", "lane", i, sel));
      if (sel) ln.polygon.forEach((p, j) => nodes.push(handle(p[0], p[1], "lane", i, `v${j}`)));
    });
    this.cfg.stop_lines.forEach((sl, i) => {
      const sel = isSel("stop", i);
      const [p, q] = sl.points;
      nodes.push(svgEl("line", { x1: p[0], y1: p[1], x2: q[0], y2: q[1], class: `cx-stop${sel ? " cx-selected" : ""}`,
        "data-kind": "stop", "data-i": i }));
      nodes.push(arrow([(p[0] + q[0]) / 2, (p[1] + q[1]) / 2], sl.entering, "cx-arrow cx-arrow-stop", "stop", i, sel));
      if (sel) [p, q].forEach((pt, j) => nodes.push(handle(pt[0], pt[1], "stop", i, `p${j}`)));
    });
    this.cfg.signals.forEach((s, i) => {
      for (const c of LAMP_COLOURS) {
        const b = s.lamps && s.lamps[c];
        if (!b) continue;
        const sel = isSel("lamp", i, c);
        nodes.push(svgEl("rect", { x: b[0], y: b[1], width: b[2], height: b[3], stroke: LAMP_STROKE[c],
          class: `cx-lamp${sel ? " cx-selected" : ""}`, "data-kind": "lamp", "data-i": i, "data-colour": c,
          "data-handle": "body" }));
        if (sel) nodes.push(handle(b[0] + b[2], b[1] + b[3], "lamp", i, "corner", { "data-colour": c }));
      }
    });
    if (Array.isArray(this.draft) && this.draft.length) {
      const pts = [...this.draft, ...(this.cursor ? [this.cursor] : [])];
      nodes.push(svgEl("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "cx-draft" }));
      this.draft.forEach((p) => nodes.push(svgEl("circle", { cx: p[0], cy: p[1], r: r * 0.7, class: "cx-draft-pt" })));
    } else if (this.draft && this.draft.box) {
      const b = this.draft.box;
      nodes.push(svgEl("rect", { x: b[0], y: b[1], width: b[2], height: b[3], class: "cx-draft" }));
    }
    this.svg.replaceChildren(...nodes);
  }
}
