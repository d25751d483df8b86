// Pure helpers of the calibration editor: the crossing geometry (directions, centroids, the
// client-side check that mirrors the server's), the server's 422 text as a list of problems,
// new ids, and SVG element creation. No state, no DOM besides svgEl.

import { fmtNumber, t } from "../../app.js";

export const SVG_NS = "http://www.w3.org/2000/svg";
export const LAMP_COLOURS = ["red", "yellow", "green"];
export const LAMP_STROKE = { red: "#ff3b30", yellow: "#ffd60a", green: "#34c759" };
export const HANDLE_PX = 7;      // handle radius on screen
export const CLOSE_PX = 12;      // clicking this close to a lane's first point closes it
export const INHERIT = "__inherit__";
export const NONE = "__none__";

// ---------------------------------------------------------------- geometry (pure)

const round2 = (v) => Math.round(v * 100) / 100;

/** A unit vector across the line p→q, pointing up the picture (typical "into the junction"). */
export function across(p, q) {
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  const n = Math.hypot(dx, dy) || 1;
  let v = [-dy / n, dx / n];
  if (v[1] > 0 || (v[1] === 0 && v[0] < 0)) v = [-v[0], -v[1]];
  return [round2(v[0]), round2(v[1])];
}

export function centroid(poly) {
  const n = poly.length || 1;
  return [poly.reduce((s, p) => s + p[0], 0) / n, poly.reduce((s, p) => s + p[1], 0) / n];
}

export function unit(v) {
  const n = Math.hypot(v[0], v[1]);
  return n < 1e-9 ? null : [round2(v[0] / n), round2(v[1] / n)];
}

function polygonArea(pts) {
  let a = 0;
  pts.forEach((p, i) => {
    const q = pts[(i + 1) % pts.length];
    a += p[0] * q[1] - q[0] * p[1];
  });
  return Math.abs(a) / 2;
}

/** Geometry problems of `cfg` as [{path, msg}] (the server checks again, references included). */
export function checkGeometry(cfg) {
  const [w, h] = cfg.frame_size || [0, 0];
  const out = [];
  const inside = (path, pts) => {
    const bad = pts.find(([x, y]) => !(x >= 0 && x <= w && y >= 0 && y <= h));
    if (bad) out.push({ path, msg: t("crossings.err.outside", { x: fmtNumber(bad[0]), y: fmtNumber(bad[1]), w, h }) });
  };
  const ids = (kind, list) => {
    const seen = new Set();
    list.forEach((x, i) => {
      if (!x.id) out.push({ path: `${kind}[${i}].id`, msg: t("crossings.err.noId") });
      else if (seen.has(x.id)) out.push({ path: `${kind}[${i}].id`, msg: t("crossings.err.dupId", { id: x.id }) });
      seen.add(x.id);
    });
  };
  ids("signals", cfg.signals || []);
  ids("stop_lines", cfg.stop_lines || []);
  ids("lanes", cfg.lanes || []);
  (cfg.signals || []).forEach((s, i) => {
    if (!s.lamps || !s.lamps.red) out.push({ path: `signals[${i}].lamps.red`, msg: t("crossings.err.noRed") });
    for (const c of LAMP_COLOURS) {
      const b = s.lamps && s.lamps[c];
      if (!b) continue;
      if (!(b[2] > 0 && b[3] > 0)) out.push({ path: `signals[${i}].lamps.${c}`, msg: t("crossings.err.emptyBox") });
      inside(`signals[${i}].lamps.${c}`, [[b[0], b[1]], [b[0] + b[2], b[1] + b[3]]]);
    }
  });
  (cfg.stop_lines || []).forEach((sl, i) => {
    const [p, q] = sl.points;
    if (Math.hypot(q[0] - p[0], q[1] - p[1]) < 2) out.push({ path: `stop_lines[${i}].points`, msg: t("crossings.err.degenerate") });
    inside(`stop_lines[${i}].points`, sl.points);
    const e = sl.entering || [0, 0];
    const len = Math.hypot(q[0] - p[0], q[1] - p[1]) * Math.hypot(e[0], e[1]);
    if (Math.hypot(e[0], e[1]) < 1e-9) out.push({ path: `stop_lines[${i}].entering`, msg: t("crossings.err.zero") });
    else if (len > 0 && Math.abs((q[0] - p[0]) * e[0] + (q[1] - p[1]) * e[1]) / len > 0.985) {
      out.push({ path: `stop_lines[${i}].entering`, msg: t("crossings.err.along") });
    }
  });
  (cfg.lanes || []).forEach((ln, i) => {
    if (ln.polygon.length < 3) out.push({ path: `lanes[${i}].polygon`, msg: t("crossings.err.fewPoints") });
    else if (polygonArea(ln.polygon) < 1) out.push({ path: `lanes[${i}].polygon`, msg: t("crossings.err.zeroArea") });
    inside(`lanes[${i}].polygon`, ln.polygon);
    if (!ln.direction || Math.hypot(ln.direction[0], ln.direction[1]) < 1e-9) {
      out.push({ path: `lanes[${i}].direction`, msg: t("crossings.err.zero") });
    }
  });
  return out;
}

/** The server's 422 text ("crossing: invalid crossing file: lanes.0.polygon: ...; (top level): Value
 * error, stop_lines[0].signal: unknown signal 'x'") as [{path, msg}], one per problem. */
export function serverProblems(text) {
  const body = String(text).replace(/^.*?invalid crossing file:\s*/, "");
  return body.split(/;\s+/).filter(Boolean).map((part) => {
    const clean = part.replace(/^\(top level\):\s*/, "").replace(/^Value error,\s*/, "");
    const m = /^([\w.[\]]+):\s*(.*)$/.exec(clean);
    const path = m ? m[1].replace(/\.(\d+)(?=\.|$)/g, "[$1]") : t("crossings.server");
    return { path, msg: m ? m[2].replace(/^Value error,\s*/, "") : clean };
  });
}

export function nextId(prefix, list) {
  const taken = new Set(list.map((x) => x.id));
  let n = list.length + 1;
  while (taken.has(`${prefix}-${n}`)) n += 1;
  return `${prefix}-${n}`;
}

export function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  return node;
}
