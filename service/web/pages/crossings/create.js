// Registering a new crossing by drawing it (#/crossings/new): first a background frame — one
// grabbed from a video already on the server (under the ingest root) or an uploaded PNG/JPEG —
// then the calibration editor over it with an empty crossing of that frame's size; the operator
// gives an id and a name, draws stop lines, lanes and lamp boxes and saves: POST /api/crossings
// with the config as JSON and the frame (kept as the crossing's snapshot until a video of it is
// processed). YAML import still works in the editor's YAML panel.

import jsyaml from "/static/vendor/js-yaml.mjs";
import { ApiError, api, el, fmtNumber, navigate, setLeaveGuard, t, toast } from "../../app.js";
import { Editor } from "./editor.js";
import { serverProblems } from "./geometry.js";

export const FRAME_MAX_BYTES = 16 * 1024 * 1024; // service/api/routes/crossing_frames.FRAME_MAX_BYTES
const IMAGE_TYPES = ["image/png", "image/jpeg"];
const ID_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

/** The page: the frame picker, replaced by the editor once a frame is chosen. */
export async function renderNew(root) {
  const head = el("div", { class: "cx-head" }, el("a", { href: "#/crossings", id: "cx-back" }, `← ${t("crossings.back")}`),
    el("h1", {}, t("crossings.new.title")));
  const err = el("p", { class: "error", id: "cx-src-error", role: "alert" });
  const videos = el("select", { id: "cx-src-video", "aria-label": t("crossings.new.video") });
  const grab = el("button", { type: "button", id: "cx-src-grab", class: "primary" }, t("crossings.new.grab"));
  const videoBox = el("div", { class: "cx-src-part", id: "cx-src-videos" }, el("h2", {}, t("crossings.new.fromVideo")),
    el("p", { class: "muted" }, t("common.loading")));
  const file = el("input", { type: "file", id: "cx-src-file", accept: IMAGE_TYPES.join(",") });
  const uploadBox = el("div", { class: "cx-src-part" }, el("h2", {}, t("crossings.new.fromPicture")),
    el("p", { class: "muted" }, t("crossings.new.pictureHelp", { mb: fmtNumber(FRAME_MAX_BYTES / 1024 / 1024) })),
    el("label", { for: "cx-src-file" }, t("crossings.new.picture"), file));
  const source = el("section", { class: "panel cx-source", id: "cx-source" },
    el("p", {}, t("crossings.new.intro")), el("div", { class: "cx-src-grid" }, videoBox, uploadBox), err);
  root.append(head, source);

  let editor = null;
  const open = (frame) => {
    root.replaceChildren();
    editor = new NewCrossingEditor(root, frame);
    editor.start();
  };
  const busy = async (btn, work) => {
    err.textContent = "";
    if (btn) btn.disabled = true;
    try {
      open(await work());
    } catch (e) {
      err.textContent = e.message;
      file.value = ""; // choosing the same (fixed) file again fires "change" again
    } finally {
      if (btn) btn.disabled = false;
    }
  };
  grab.addEventListener("click", () => busy(grab, () => api("/api/crossing-frames/video", { method: "POST",
    body: { path: videos.value } })));
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (!f) return;
    if (!IMAGE_TYPES.includes(f.type)) { err.textContent = t("crossings.new.notPicture"); return; }
    if (f.size > FRAME_MAX_BYTES) { err.textContent = t("crossings.new.tooLarge", { mb: fmtNumber(FRAME_MAX_BYTES / 1024 / 1024) }); return; }
    busy(null, () => api("/api/crossing-frames/upload", { method: "POST", body: f, headers: { "Content-Type": f.type } }));
  });

  try {
    const list = await api("/api/crossing-frames/videos");
    const body = !list.ingest_root ? [el("p", { class: "muted", id: "cx-src-none" }, t("crossings.new.noRoot"))]
      : list.videos.length === 0 ? [el("p", { class: "muted", id: "cx-src-none" }, t("crossings.new.noVideos"))]
        : [el("label", { for: "cx-src-video" }, t("crossings.new.video"), videos), grab,
          ...(list.truncated ? [el("p", { class: "muted" }, t("crossings.new.truncated", { n: list.videos.length }))] : [])];
    videos.replaceChildren(...list.videos.map((v) => el("option", { value: v.path },
      `${v.path} · ${fmtNumber(v.size / 1024 / 1024, 1)} MB`)));
    videoBox.replaceChildren(videoBox.firstChild, ...body);
  } catch (e) {
    videoBox.replaceChildren(videoBox.firstChild, el("p", { class: "error" }, e.message));
  }
  return () => { if (editor) editor.destroy(); };
}

/** The calibration editor on a new, empty crossing drawn over `frame` ({frame, width, height}). */
export class NewCrossingEditor extends Editor {
  constructor(root, frame) {
    super(root, "");
    this.frame = frame;
    this.saved = false;
  }

  async start() {
    this.detail = { id: "", name: "", version: null, versions: [] };
    this.build();
    this.root.querySelector(".cx-head h1").textContent = t("crossings.new.title");
    for (const id of ["cx-version", "cx-revert", "cx-export"]) document.getElementById(id)?.remove();
    this.root.querySelector(".cx-head code")?.remove();
    document.getElementById("cx-save").textContent = t("crossings.new.save");
    await this.loadSnapshot();
    const cfg = { id: "", name: "", frame_size: [this.frame.width, this.frame.height], signals: [], stop_lines: [],
      lanes: [] };
    this.loadYaml(jsyaml.dump(cfg), null);
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.onResize);
    setLeaveGuard(() => this.unsaved());
  }

  async loadSnapshot() {
    const res = await api(`/api/crossing-frames/${encodeURIComponent(this.frame.frame)}`, { raw: true });
    this.snapshotUrl = URL.createObjectURL(await res.blob());
    this.img.src = this.snapshotUrl;
    this.img.alt = t("crossings.new.frameAlt");
    await this.img.decode().catch(() => {});
    if (this.img.naturalHeight) this.canvas.style.setProperty("--aspect", String(this.img.naturalWidth / this.img.naturalHeight));
  }

  /** An imported YAML brings its own id (a new crossing has none to keep). */
  loadYaml(text, version) {
    try {
      const c = jsyaml.load(text);
      if (c && typeof c === "object" && typeof c.id === "string") this.id = c.id;
    } catch { /* reported by Editor.loadYaml */ }
    return super.loadYaml(text, version);
  }

  /** Anything drawn or typed that is not saved yet. */
  unsaved() {
    if (this.saved || !this.cfg) return false;
    const c = this.cfg;
    return Boolean(c.id || c.name || c.stop_lines.length || c.lanes.length || c.signals.length || c.location)
      || (Array.isArray(this.draft) && this.draft.length > 0);
  }

  setDirty(on) {
    this.dirty = on;
    const s = document.getElementById("cx-state");
    if (!s) return;
    s.textContent = t("crossings.new.state");
    s.classList.toggle("warn-text", on);
  }

  fillMeta() {
    super.fillMeta();
    const id = el("input", { id: "cx-id", value: this.cfg.id || "", required: true, pattern: ID_PATTERN.source,
      placeholder: "jiefang-rd-n", onchange: (e) => { this.cfg.id = e.target.value.trim(); this.id = this.cfg.id; this.changed(); } });
    this.meta.querySelector(".cx-row").prepend(el("label", { for: "cx-id" }, t("crossings.new.id"), id));
  }

  /** The id and name the server needs, checked here first so the message is beside the field. */
  check(announce) {
    const c = this.cfg;
    const problems = [];
    if (!ID_PATTERN.test(c.id || "")) problems.push({ path: "id", msg: t("crossings.new.badId") });
    if (!(c.name || "").trim()) problems.push({ path: "name", msg: t("crossings.new.noName") });
    if (problems.length) {
      this.showErrors(problems);
      document.getElementById(problems[0].path === "id" ? "cx-id" : "cx-name")?.focus();
      return false;
    }
    return super.check(announce);
  }

  async save() {
    if (!this.check(false)) return;
    const btn = document.getElementById("cx-save");
    btn.disabled = true;
    try {
      const out = await api("/api/crossings", { method: "POST", body: { config: this.payload(), frame: this.frame.frame } });
      this.saved = true;
      toast(t("crossings.created", { id: out.crossing_id }), "success");
      navigate(`#/crossings/${encodeURIComponent(out.crossing_id)}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 422 || e.status === 409 || e.status === 403)) {
        const problems = e.status === 422 ? serverProblems(e.message) : [{ path: "id", msg: e.message }];
        this.showErrors(problems);
        this.selectPath(problems[0].path);
      } else {
        toast(`${t("common.error")}: ${e.message}`, "error");
      }
    } finally {
      btn.disabled = false;
    }
  }
}
