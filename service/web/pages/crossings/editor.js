// The calibration editor (#/crossings/<id>): draws the crossing's geometry over a frame of its
// video (the snapshot) in an SVG whose viewBox is the crossing's `frame_size`, stretched over the
// picture exactly as the pipeline rescales a config to a video: screen → frame coordinates is the
// SVG's own inverse transform. The YAML stays the source format: the editor loads a version's YAML
// (js-yaml keeps "lane.signal absent" = inherit the stop line's, apart from `signal: null` = not
// signalised), edits that object, and saves it (persist.js).
//
// This module holds the state, the page skeleton, loading and the keyboard; the concepts live in
// mixins that share `this`: pointer.js (drawing tools), overlay.js (the SVG), panel.js (the side
// panel), persist.js (check, save, YAML).

import jsyaml from "/static/vendor/js-yaml.mjs";
import { api, el, fmtDate, setLeaveGuard, t, toast } from "../../app.js";
import { LAMP_COLOURS, NONE, svgEl } from "./geometry.js";
import { Overlay } from "./overlay.js";
import { SidePanel } from "./panel.js";
import { Persistence } from "./persist.js";
import { PointerTools } from "./pointer.js";

export class Editor {
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
    setLeaveGuard(() => this.unsaved());
  }

  /** Unsaved work: a change not saved yet, or a stop line or lane being drawn. */
  unsaved() {
    return this.dirty || (Array.isArray(this.draft) && this.draft.length > 0);
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
        el("a", { href: "#/crossings", id: "cx-back" }, `← ${t("crossings.back")}`),
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

  /** The selected object (a stop line, a lane, or a lamp box [x, y, w, h]). */
  item() {
    if (!this.sel) return null;
    if (this.sel.kind === "stop") return this.cfg.stop_lines[this.sel.i];
    if (this.sel.kind === "lane") return this.cfg.lanes[this.sel.i];
    return this.cfg.signals[this.sel.i].lamps[this.sel.colour];
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
}

for (const part of [PointerTools, Overlay, SidePanel, Persistence]) {
  for (const name of Object.getOwnPropertyNames(part.prototype)) {
    if (name !== "constructor") Object.defineProperty(Editor.prototype, name, Object.getOwnPropertyDescriptor(part.prototype, name));
  }
}
