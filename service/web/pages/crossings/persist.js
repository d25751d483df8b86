// The calibration editor's check, save and YAML (a mixin of Editor: `this` is the editor): the
// client-side check, selecting what a problem names, PUT /api/crossings/{id}/geometry (a changed
// config = a new version; the server's 422 names the field), and the YAML export.

import jsyaml from "/static/vendor/js-yaml.mjs";
import { ApiError, api, download, el, fmtDate, t, toast } from "../../app.js";
import { checkGeometry, serverProblems } from "./geometry.js";

export class Persistence {
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
