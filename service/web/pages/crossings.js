// Crossings (#/crossings) and the calibration editor (#/crossings/<id>) for operators.
//
// The editor draws the crossing's geometry over a frame of its video (the snapshot) in an SVG
// whose viewBox is the crossing's `frame_size`, stretched over the picture exactly as the pipeline
// rescales a config to a video: screen → frame coordinates is the SVG's own inverse transform.
// The YAML stays the source format: the editor loads a version's YAML (js-yaml keeps "lane.signal
// absent" = inherit the stop line's, apart from `signal: null` = not signalised), edits that object,
// and saves it with PUT /api/crossings/{id}/geometry (a changed config = a new version). The server
// validates and answers 422 naming the field; the editor checks geometry first for quick feedback.

import jsyaml from "/static/vendor/js-yaml.mjs";
import {
  ApiError, api, download, el, fmtDate, fmtNumber, me, navigate, registerPage, t, toast,
} from "../app.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const LAMP_COLOURS = ["red", "yellow", "green"];
const LAMP_STROKE = { red: "#ff3b30", yellow: "#ffd60a", green: "#34c759" };
const HANDLE_PX = 7;      // handle radius on screen
const CLOSE_PX = 12;      // clicking this close to a lane's first point closes it
const INHERIT = "__inherit__";
const NONE = "__none__";

// ---------------------------------------------------------------- geometry (pure)

const round1 = (v) => Math.round(v * 10) / 10;
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

function unit(v) {
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

function nextId(prefix, list) {
  const taken = new Set(list.map((x) => x.id));
  let n = list.length + 1;
  while (taken.has(`${prefix}-${n}`)) n += 1;
  return `${prefix}-${n}`;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  return node;
}

// ---------------------------------------------------------------- list

async function renderList(root) {
  const [list, user] = await Promise.all([api("/api/crossings", { query: { limit: 500 } }), me()]);
  const rows = list.data.map((c) => el("tr", {},
    el("td", {}, el("a", { href: `#/crossings/${encodeURIComponent(c.id)}` }, c.name)),
    el("td", {}, el("code", {}, c.id)),
    el("td", {}, c.district || ""),
    el("td", { class: "num" }, c.version === null ? "–" : `v${c.version}`),
    el("td", { class: "num" }, fmtNumber(c.events)),
    el("td", {}, fmtDate(c.last_processed_at)),
    el("td", {}, el("a", { href: `#/crossings/${encodeURIComponent(c.id)}`, class: "btn-like" },
      t("crossings.edit")))));
  const table = el("table", { class: "data-table", id: "crossings-table" },
    el("caption", {}, t("crossings.count", { n: fmtNumber(list.count) })),
    el("thead", {}, el("tr", {}, ...["crossings.name", "crossings.id", "crossings.district", "crossings.version",
      "crossings.events", "crossings.lastProcessed", "crossings.actions"].map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, ...rows));
  root.append(el("h1", {}, t("crossings.title")), table);
  if (user && (user.role === "operator" || user.role === "admin")) root.append(importNewPanel());
}

/** Register a new crossing from its YAML file (POST /api/crossings). */
function importNewPanel() {
  const text = el("textarea", { id: "crossing-new-yaml", rows: 10, spellcheck: "false", class: "yaml-text" });
  const file = el("input", { type: "file", id: "crossing-new-file", accept: ".yaml,.yml,text/yaml" });
  const err = el("p", { class: "error", id: "crossing-new-error", role: "alert" });
  file.addEventListener("change", async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  const submit = el("button", { type: "button", class: "primary", id: "crossing-new-submit", onclick: async () => {
    err.textContent = "";
    try {
      const out = await api("/api/crossings", { method: "POST", body: { yaml: text.value } });
      toast(t("crossings.created", { id: out.crossing_id }), "success");
      navigate(`#/crossings/${encodeURIComponent(out.crossing_id)}`);
    } catch (e) {
      err.textContent = e.message;
    }
  } }, t("crossings.register"));
  return el("details", { class: "panel cx-new" }, el("summary", {}, t("crossings.newFromYaml")),
    el("label", { for: "crossing-new-file" }, t("crossings.yamlFile"), file),
    el("label", { for: "crossing-new-yaml" }, t("crossings.yamlText"), text), err, submit);
}

// ---------------------------------------------------------------- editor

function renderEditor(root, { id }) {
  const ed = new Editor(root, decodeURIComponent(id));
  ed.start();
  return () => ed.destroy();
}

class Editor {
  constructor(root, id) {
    this.root = root;
    this.id = id;
    this.cfg = null;
    this.detail = null;
    this.tool = "select";
    this.sel = null;          // {kind: "stop"|"lane"|"lamp", i, colour?}
    this.draft = null;        // points being drawn, or {box} for a lamp
    this.drag = null;
    this.dirty = false;
    this.snapshotUrl = null;
    this.onKey = (e) => this.key(e);
    this.onResize = () => this.draw();
  }

  async start() {
    this.root.append(el("p", { class: "muted", id: "cx-loading" }, t("common.loading")));
    let detail;
    try {
      detail = await api(`/api/crossings/${encodeURIComponent(this.id)}`);
    } catch (e) {
      this.root.replaceChildren(el("section", { class: "notice" }, el("h1", {}, t("common.notFound")),
        el("p", {}, e.message), el("a", { href: "#/crossings" }, t("crossings.back"))));
      return;
    }
    this.detail = detail;
    this.root.replaceChildren();
    this.build();
    await this.loadSnapshot();
    this.loadYaml(detail.yaml, detail.version);
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.onResize);
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey);
    window.removeEventListener("resize", this.onResize);
    if (this.snapshotUrl) URL.revokeObjectURL(this.snapshotUrl);
  }

  // ------------------------------------------------------------ model in / out

  /** Load a YAML text into the editor (from a stored version or an import). */
  loadYaml(text, version) {
    let cfg;
    try {
      cfg = jsyaml.load(text);
    } catch (e) {
      this.showErrors([{ path: "yaml", msg: e.message }]);
      return false;
    }
    if (!cfg || typeof cfg !== "object" || Array.isArray(cfg)) {
      this.showErrors([{ path: "yaml", msg: t("crossings.err.notMapping") }]);
      return false;
    }
    if (cfg.id !== this.id) {
      this.showErrors([{ path: "id", msg: t("crossings.err.otherId", { id: String(cfg.id), want: this.id }) }]);
      return false;
    }
    cfg.signals = cfg.signals || [];
    cfg.stop_lines = cfg.stop_lines || [];
    cfg.lanes = cfg.lanes || [];
    this.cfg = cfg;
    this.loadedVersion = version;
    this.sel = null;
    this.draft = null;
    this.setDirty(version === null);
    this.showErrors([]);
    this.fillMeta();
    this.refresh();
    return true;
  }

  setDirty(on) {
    this.dirty = on;
    const s = document.getElementById("cx-state");
    if (!s) return;
    s.textContent = on ? t("crossings.unsaved")
      : t("crossings.showingVersion", { v: this.loadedVersion, current: this.loadedVersion === this.detail.version
        ? t("crossings.current") : "" });
    s.classList.toggle("warn-text", on);
  }

  changed() {
    this.setDirty(true);
    this.refresh();
  }

  refresh() {
    this.draw();
    this.fillList();
    this.fillProps();
  }

  // ------------------------------------------------------------ skeleton

  build() {
    const d = this.detail;
    const toolBtn = (tool, label) => el("button", { type: "button", id: `cx-tool-${tool}`, dataset: { tool },
      "aria-pressed": String(tool === this.tool), onclick: () => this.setTool(tool) }, label);
    this.img = el("img", { id: "cx-snapshot", alt: t("crossings.snapshotAlt", { name: d.name }) });
    this.svg = svgEl("svg", { id: "cx-overlay", role: "img", "aria-label": t("crossings.overlay"),
      preserveAspectRatio: "none" });
    this.svg.addEventListener("pointerdown", (e) => this.down(e));
    this.svg.addEventListener("pointermove", (e) => this.move(e));
    this.svg.addEventListener("pointerup", (e) => this.up(e));
    this.svg.addEventListener("dblclick", (e) => { e.preventDefault(); this.finishLane(); });
    this.canvas = el("div", { class: "cx-canvas", id: "cx-canvas" }, this.img, this.svg);
    this.lampSignal = el("select", { id: "cx-lamp-signal" });
    this.lampColour = el("select", { id: "cx-lamp-colour" },
      ...LAMP_COLOURS.map((c) => el("option", { value: c }, t(`crossings.lamp.${c}`))));
    this.lampOpts = el("div", { class: "cx-lamp-opts", hidden: true },
      el("label", { for: "cx-lamp-signal" }, t("crossings.signal"), this.lampSignal),
      el("label", { for: "cx-lamp-colour" }, t("crossings.lampColour"), this.lampColour));
    this.hint = el("p", { class: "cx-hint muted", id: "cx-hint", "aria-live": "polite" });
    this.errors = el("div", { class: "cx-errors", id: "cx-errors", role: "alert" });
    this.list = el("div", { class: "cx-list", id: "cx-list" });
    this.props = el("div", { class: "cx-props", id: "cx-props" });
    this.meta = el("div", { class: "cx-meta" });
    const versions = el("select", { id: "cx-version", "aria-label": t("crossings.versions"),
      onchange: (e) => this.loadVersion(Number(e.target.value)) },
    ...d.versions.map((v) => el("option", { value: v.version, selected: v.current },
      `v${v.version} · ${fmtDate(v.created_at)}${v.current ? ` · ${t("crossings.current")}` : ""}`)));
    this.yamlBox = el("textarea", { id: "cx-yaml", rows: 14, spellcheck: "false", class: "yaml-text",
      "aria-label": t("crossings.yamlText") });
    const yamlFile = el("input", { type: "file", id: "cx-yaml-file", accept: ".yaml,.yml,text/yaml",
      "aria-label": t("crossings.yamlFile") });
    yamlFile.addEventListener("change", async () => { if (yamlFile.files[0]) this.yamlBox.value = await yamlFile.files[0].text(); });
    // filled as it opens (synchronously, in the click: a "toggle" event comes later and could
    // overwrite what was typed meanwhile)
    const yamlPanel = el("details", { class: "cx-yaml", id: "cx-yaml-panel" },
      el("summary", { onclick: () => { if (!yamlPanel.open) this.yamlBox.value = this.dumpYaml(); } },
        t("crossings.yamlTitle")),
    el("p", { class: "muted" }, t("crossings.yamlHelp")), yamlFile, this.yamlBox,
    el("div", { class: "cx-row" },
      el("button", { type: "button", id: "cx-yaml-load", onclick: () => {
        if (this.loadYaml(this.yamlBox.value, null)) toast(t("crossings.yamlLoaded"), "success");
      } }, t("crossings.yamlLoad")),
      el("button", { type: "button", id: "cx-yaml-refresh", onclick: () => { this.yamlBox.value = this.dumpYaml(); } },
        t("crossings.yamlShow"))));
    this.root.append(
      el("div", { class: "cx-head" },
        el("a", { href: "#/crossings" }, `← ${t("crossings.back")}`),
        el("h1", {}, t("crossings.editorTitle", { name: d.name })),
        el("code", {}, d.id), versions, el("span", { id: "cx-state", class: "cx-state" })),
      el("div", { class: "cx-editor" },
        el("section", { class: "cx-left", "aria-label": t("crossings.overlay") },
          el("div", { class: "cx-tools", role: "toolbar", "aria-label": t("crossings.tools") },
            toolBtn("select", t("crossings.tool.select")), toolBtn("stop", t("crossings.tool.stop")),
            toolBtn("lane", t("crossings.tool.lane")), toolBtn("lamp", t("crossings.tool.lamp")), this.lampOpts),
          this.canvas, this.hint),
        el("section", { class: "cx-right", "aria-label": t("crossings.properties") },
          el("div", { class: "cx-row cx-actions" },
            el("button", { type: "button", id: "cx-check", onclick: () => this.check(true) }, t("crossings.check")),
            el("button", { type: "button", class: "primary", id: "cx-save", onclick: () => this.save() },
              t("crossings.save")),
            el("button", { type: "button", id: "cx-export", onclick: () => this.exportYaml() }, t("crossings.exportYaml")),
            el("button", { type: "button", id: "cx-revert", onclick: () => this.loadVersion(this.detail.version) },
              t("crossings.revert"))),
          this.errors, this.meta, this.list, this.props, yamlPanel)));
    this.setTool("select");
  }

  async loadSnapshot() {
    try {
      const res = await api(`/api/crossings/${encodeURIComponent(this.id)}/snapshot`, { raw: true });
      this.snapshotUrl = URL.createObjectURL(await res.blob());
      this.img.src = this.snapshotUrl;
      await this.img.decode().catch(() => {});
      if (this.img.naturalHeight) this.canvas.style.setProperty("--aspect", String(this.img.naturalWidth / this.img.naturalHeight));
    } catch (e) {
      this.img.removeAttribute("src");
      this.canvas.classList.add("cx-no-snapshot");
      this.hint.textContent = t("crossings.noSnapshot", { msg: e.message });
    }
  }

  async loadVersion(n) {
    if (this.dirty && !window.confirm(t("crossings.discard"))) return;
    try {
      const v = await api(`/api/crossings/${encodeURIComponent(this.id)}/versions/${n}`);
      this.loadYaml(v.yaml, v.version);
      document.getElementById("cx-version").value = String(v.version);
    } catch (e) {
      toast(e.message, "error");
    }
  }

  fillMeta() {
    const c = this.cfg;
    const input = (id, key, label, type = "text") => el("label", { for: id }, label, el("input", {
      id, type, value: c[key] ?? "", step: type === "number" ? "0.1" : undefined, onchange: (e) => {
        const v = e.target.value.trim();
        if (type === "number") c[key] = v === "" ? undefined : Number(v);
        else if (v === "" && key !== "name") delete c[key];
        else c[key] = v;
        this.changed();
      } }));
    this.meta.replaceChildren(el("h2", {}, t("crossings.meta")), el("div", { class: "cx-row" },
      input("cx-name", "name", t("crossings.name")), input("cx-district", "district", t("crossings.district")),
      input("cx-grace", "grace_s", t("crossings.grace"), "number")),
    el("p", { class: "muted" }, t("crossings.frameSize", { w: c.frame_size[0], h: c.frame_size[1] })));
  }

  // ------------------------------------------------------------ tools

  setTool(tool) {
    this.tool = tool;
    this.draft = null;
    for (const b of this.root.querySelectorAll(".cx-tools button[data-tool]")) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    }
    this.lampOpts.hidden = tool !== "lamp";
    if (tool === "lamp") this.fillLampSignals();
    this.hint.textContent = t(`crossings.hint.${tool}`);
    this.svg.dataset.tool = tool;
    if (this.cfg) this.draw();
  }

  fillLampSignals() {
    const keep = this.lampSignal.value;
    this.lampSignal.replaceChildren(...this.cfg.signals.map((s) => el("option", { value: s.id }, s.id)),
      el("option", { value: NONE }, t("crossings.newSignal")));
    if ([...this.lampSignal.options].some((o) => o.value === keep)) this.lampSignal.value = keep;
  }

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

  /** The selected object (a stop line, a lane, or a lamp box [x, y, w, h]). */
  item() {
    if (!this.sel) return null;
    if (this.sel.kind === "stop") return this.cfg.stop_lines[this.sel.i];
    if (this.sel.kind === "lane") return this.cfg.lanes[this.sel.i];
    return this.cfg.signals[this.sel.i].lamps[this.sel.colour];
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

  deleteSelected() {
    if (!this.sel) return;
    if (this.sel.kind === "stop") this.cfg.stop_lines.splice(this.sel.i, 1);
    else if (this.sel.kind === "lane") this.cfg.lanes.splice(this.sel.i, 1);
    else delete this.cfg.signals[this.sel.i].lamps[this.sel.colour];
    this.sel = null;
    this.changed();
  }

  key(e) {
    const tag = e.target && e.target.tagName;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") { this.draft = null; this.draw(); }
    else if (e.key === "Enter" && this.tool === "lane") { e.preventDefault(); this.finishLane(); }
    else if ((e.key === "Delete" || e.key === "Backspace") && this.sel) { e.preventDefault(); this.deleteSelected(); }
  }

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

  // ------------------------------------------------------------ side panel

  fillList() {
    const item = (kind, i, label, colour) => el("li", {}, el("button", { type: "button", class: "cx-item",
      "aria-pressed": String(Boolean(this.sel && this.sel.kind === kind && this.sel.i === i
        && (kind !== "lamp" || this.sel.colour === colour))),
      dataset: { kind, i, colour: colour || "" },
      onclick: () => { this.sel = { kind, i, colour }; this.setTool("select"); this.refresh(); } }, label));
    const lamps = [];
    this.cfg.signals.forEach((s, i) => LAMP_COLOURS.forEach((c) => {
      if (s.lamps && s.lamps[c]) lamps.push(item("lamp", i, `${s.id} · ${t(`crossings.lamp.${c}`)}`, c));
    }));
    this.list.replaceChildren(
      el("h2", {}, t("crossings.stopLines"), " ", el("span", { class: "muted" }, `(${this.cfg.stop_lines.length})`)),
      el("ul", { id: "cx-list-stop" }, ...this.cfg.stop_lines.map((sl, i) => item("stop", i, sl.id))),
      el("h2", {}, t("crossings.lanes"), " ", el("span", { class: "muted" }, `(${this.cfg.lanes.length})`)),
      el("ul", { id: "cx-list-lane" }, ...this.cfg.lanes.map((ln, i) => item("lane", i, ln.id))),
      el("h2", {}, t("crossings.signals")),
      el("ul", { id: "cx-list-lamp" }, ...lamps),
      el("div", { class: "cx-row" }, ...this.cfg.signals.map((s, i) => el("label", { for: `cx-signal-${i}` },
        t("crossings.signalId"), el("input", { id: `cx-signal-${i}`, value: s.id, onchange: (e) => this.renameSignal(i, e.target.value.trim()) })))));
  }

  renameSignal(i, id) {
    const old = this.cfg.signals[i].id;
    if (!id || id === old) return;
    this.cfg.signals[i].id = id;
    for (const sl of this.cfg.stop_lines) if (sl.signal === old) sl.signal = id;
    for (const ln of this.cfg.lanes) if (ln.signal === old) ln.signal = id;
    this.changed();
  }

  fillProps() {
    const it = this.item();
    if (!it) {
      this.props.replaceChildren(el("p", { class: "muted" }, t("crossings.nothingSelected")));
      return;
    }
    const num = (id, label, get, set) => el("label", { for: id }, label, el("input", { id, type: "number", step: "any",
      value: get(), onchange: (e) => { const v = Number(e.target.value); if (Number.isFinite(v)) { set(v); this.changed(); } } }));
    const idInput = (obj) => el("label", { for: "cx-prop-id" }, t("crossings.itemId"), el("input", { id: "cx-prop-id",
      value: obj.id, onchange: (e) => { obj.id = e.target.value.trim(); this.changed(); } }));
    const signalSelect = (obj, withInherit) => {
      const cur = !("signal" in obj) ? INHERIT : obj.signal === null ? NONE : obj.signal;
      return el("label", { for: "cx-prop-signal" }, t("crossings.governingSignal"), el("select", {
        id: "cx-prop-signal", onchange: (e) => {
          const v = e.target.value;
          if (v === INHERIT) delete obj.signal;
          else obj.signal = v === NONE ? null : v;
          this.changed();
        } },
      ...(withInherit ? [el("option", { value: INHERIT, selected: cur === INHERIT }, t("crossings.inherit"))] : []),
      el("option", { value: NONE, selected: cur === NONE }, t("crossings.noSignal")),
      ...this.cfg.signals.map((s) => el("option", { value: s.id, selected: cur === s.id }, s.id)),
      ...(cur !== INHERIT && cur !== NONE && !this.cfg.signals.some((s) => s.id === cur)
        ? [el("option", { value: cur, selected: true }, `${cur} ⚠`)] : [])));
    };
    const del = el("button", { type: "button", class: "danger", id: "cx-delete", onclick: () => this.deleteSelected() },
      t("common.delete"));
    let body;
    if (this.sel.kind === "stop") {
      body = [el("h2", {}, t("crossings.stopLine")), idInput(it), signalSelect(it, false),
        el("div", { class: "cx-grid" },
          num("cx-p0x", "x1", () => it.points[0][0], (v) => { it.points[0][0] = v; }),
          num("cx-p0y", "y1", () => it.points[0][1], (v) => { it.points[0][1] = v; }),
          num("cx-p1x", "x2", () => it.points[1][0], (v) => { it.points[1][0] = v; }),
          num("cx-p1y", "y2", () => it.points[1][1], (v) => { it.points[1][1] = v; })),
        el("div", { class: "cx-grid" },
          num("cx-ex", t("crossings.enteringX"), () => it.entering[0], (v) => { it.entering[0] = v; }),
          num("cx-ey", t("crossings.enteringY"), () => it.entering[1], (v) => { it.entering[1] = v; })),
        el("div", { class: "cx-row" }, el("button", { type: "button", id: "cx-flip", onclick: () => {
          it.entering = [-it.entering[0], -it.entering[1]];
          this.changed();
        } }, t("crossings.flip")), del)];
    } else if (this.sel.kind === "lane") {
      const pts = el("textarea", { id: "cx-lane-points", rows: 3, spellcheck: "false",
        onchange: (e) => {
          const parsed = e.target.value.trim().split(/\s*;\s*|\n+/).filter(Boolean).map((s) => s.split(/[ ,]+/).map(Number));
          if (parsed.every((p) => p.length === 2 && p.every(Number.isFinite))) { it.polygon = parsed; this.changed(); }
          else this.showErrors([{ path: `lanes[${this.sel.i}].polygon`, msg: t("crossings.err.pointsText") }]);
        } });
      pts.value = it.polygon.map((p) => p.join(", ")).join("; ");
      body = [el("h2", {}, t("crossings.lane")), idInput(it), signalSelect(it, true),
        el("label", { for: "cx-lane-points" }, t("crossings.points"), pts),
        el("div", { class: "cx-grid" },
          num("cx-dx", t("crossings.directionX"), () => it.direction[0], (v) => { it.direction[0] = v; }),
          num("cx-dy", t("crossings.directionY"), () => it.direction[1], (v) => { it.direction[1] = v; })),
        el("div", { class: "cx-row" }, el("button", { type: "button", id: "cx-flip", onclick: () => {
          it.direction = [-it.direction[0], -it.direction[1]];
          this.changed();
        } }, t("crossings.flip")), del)];
    } else {
      const s = this.cfg.signals[this.sel.i];
      body = [el("h2", {}, t("crossings.lampBox", { signal: s.id, colour: t(`crossings.lamp.${this.sel.colour}`) })),
        el("div", { class: "cx-grid" },
          num("cx-bx", "x", () => it[0], (v) => { it[0] = v; }), num("cx-by", "y", () => it[1], (v) => { it[1] = v; }),
          num("cx-bw", t("crossings.width"), () => it[2], (v) => { it[2] = v; }),
          num("cx-bh", t("crossings.height"), () => it[3], (v) => { it[3] = v; })),
        el("div", { class: "cx-row" }, del)];
    }
    this.props.replaceChildren(...body);
  }

  // ------------------------------------------------------------ check, save, YAML

  showErrors(list) {
    this.errors.replaceChildren(...(list.length ? [el("ul", {}, ...list.map((e) => el("li", {},
      el("code", {}, e.path), " ", e.msg)))] : []));
  }

  check(announce) {
    const problems = checkGeometry(this.cfg);
    this.showErrors(problems);
    if (problems.length) this.selectPath(problems[0].path);
    else if (announce) toast(t("crossings.checkOk"), "success");
    return problems.length === 0;
  }

  /** Select the element a validation message names, e.g. "stop_lines[1].points". */
  selectPath(path) {
    const m = /(stop_lines|lanes|signals)\[(\d+)\](?:\.lamps\.(\w+))?/.exec(path || "");
    if (!m) return;
    const i = Number(m[2]);
    if (m[1] === "stop_lines" && this.cfg.stop_lines[i]) this.sel = { kind: "stop", i };
    else if (m[1] === "lanes" && this.cfg.lanes[i]) this.sel = { kind: "lane", i };
    else if (m[1] === "signals" && m[3] && this.cfg.signals[i]?.lamps?.[m[3]]) this.sel = { kind: "lamp", i, colour: m[3] };
    this.refresh();
  }

  /** A clean copy of the config for the API (no empty optional keys). */
  payload() {
    const c = JSON.parse(JSON.stringify(this.cfg));
    if (c.grace_s === undefined || c.grace_s === null) delete c.grace_s;
    return c;
  }

  async save() {
    if (!this.check(false)) return;
    const btn = document.getElementById("cx-save");
    btn.disabled = true;
    try {
      const out = await api(`/api/crossings/${encodeURIComponent(this.id)}/geometry`, { method: "PUT",
        body: { yaml: this.dumpYaml() } });
      toast(out.created ? t("crossings.savedNew", { v: out.version })
        : t("crossings.savedSame", { v: out.version }), "success");
      this.detail = await api(`/api/crossings/${encodeURIComponent(this.id)}`);
      this.refreshVersions();
      this.loadYaml(out.yaml, out.version);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        const problems = serverProblems(e.message);
        this.showErrors(problems);
        this.selectPath(problems[0].path);
      } else {
        toast(`${t("common.error")}: ${e.message}`, "error");
      }
    } finally {
      btn.disabled = false;
    }
  }

  refreshVersions() {
    const sel = document.getElementById("cx-version");
    sel.replaceChildren(...this.detail.versions.map((v) => el("option", { value: v.version, selected: v.current },
      `v${v.version} · ${fmtDate(v.created_at)}${v.current ? ` · ${t("crossings.current")}` : ""}`)));
  }

  dumpYaml() {
    return jsyaml.dump(this.payload(), { lineWidth: 120, noRefs: true, flowLevel: 3 });
  }

  async exportYaml() {
    try {
      const res = await api(`/api/crossings/${encodeURIComponent(this.id)}/config.yaml`, { raw: true,
        query: { version: this.loadedVersion || undefined } });
      await download(res, `${this.id}.crossing.yaml`);
    } catch (e) {
      toast(e.message, "error");
    }
  }
}

registerPage("crossings", { title: "crossings.title", roles: ["operator"], render: renderList });
registerPage("crossings/:id", { title: "crossings.editorPageTitle", roles: ["operator"], render: renderEditor });
