// The calibration editor's side panel (a mixin of Editor: `this` is the editor): the crossing's
// name, district, location and grace time, the list of stop lines, lanes and lamps, and the properties of
// the selected item (ids, governing signal, coordinates, directions).

import { el, t } from "../../app.js";
import { INHERIT, LAMP_COLOURS, NONE } from "./geometry.js";

export class SidePanel {
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
    const loc = el("input", { id: "cx-location", inputmode: "decimal", placeholder: "39.9087, 116.3975",
      value: c.location ? `${c.location.lat}, ${c.location.lon}` : "", onchange: (e) => this.setLocation(e.target.value) });
    this.meta.replaceChildren(el("h2", {}, t("crossings.meta")), el("div", { class: "cx-row" },
      input("cx-name", "name", t("crossings.name")), input("cx-district", "district", t("crossings.district")),
      input("cx-grace", "grace_s", t("crossings.grace"), "number")),
    el("div", { class: "cx-row" }, el("label", { for: "cx-location" }, t("crossings.location"), loc)),
    el("p", { class: "muted" }, t("crossings.frameSize", { w: c.frame_size[0], h: c.frame_size[1] })));
  }

  /** "lat, lon" in degrees (the dashboard's map places the crossing there); empty = no location. */
  setLocation(text) {
    const v = text.trim();
    if (v === "") {
      delete this.cfg.location;
      this.changed();
      return;
    }
    const [lat, lon, ...rest] = v.split(/[\s,，]+/).map(Number);
    if (rest.length || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      this.showErrors([{ path: "location", msg: t("crossings.err.location") }]);
      return;
    }
    this.cfg.location = { lat, lon };
    this.showErrors([]);
    this.changed();
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
}
