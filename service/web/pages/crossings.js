// Crossings (#/crossings) and the calibration editor (#/crossings/<id>) for operators: the list,
// registering a crossing by drawing it (#/crossings/new, ./crossings/create.js) or from its YAML
// file, and the routes. The editor is in ./crossings/.

import { api, el, fmtDate, fmtNumber, me, navigate, registerPage, t, toast } from "../app.js";
import { renderNew } from "./crossings/create.js";
import { Editor } from "./crossings/editor.js";

export { across, centroid, checkGeometry, serverProblems } from "./crossings/geometry.js";

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
  if (user && (user.role === "operator" || user.role === "admin")) {
    root.append(el("p", { class: "cx-new-draw" }, el("a", { href: "#/crossings/new", id: "crossing-new-draw",
      class: "btn-like primary" }, t("crossings.new.link"))), importNewPanel());
  }
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


registerPage("crossings", { title: "crossings.title", roles: ["operator"], render: renderList });
// before "crossings/:id": the API refuses "new" as a crossing id
registerPage("crossings/new", { title: "crossings.new.title", roles: ["operator"], render: renderNew, nav: false });
registerPage("crossings/:id", { title: "crossings.editorPageTitle", roles: ["operator"], render: renderEditor });
