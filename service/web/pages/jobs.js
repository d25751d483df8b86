// Jobs (#/jobs, #/jobs?job=<uid>) for operators (and admins): submit videos for a crossing —
// files or folders on the server (under its ingest root) or uploads from this computer — list the
// jobs, follow one job live (overall and per video, polled every second while it runs), see each
// failed video's reason, cancel, and follow the link to the results.
//
// Uploads go one video per request (what POST /api/jobs/upload takes) through XMLHttpRequest,
// because fetch() cannot report upload progress; a big file shows its own progress bar.
import {
  ApiError, DEFAULT_TZ, allowed, api, el, fmtDate, fmtNumber, fmtPercent, me, navigate, registerPage, t, timeZone,
  toast, token,
} from "../app.js";

const POLL_MS = 1000; // a running job's detail
const LIST_EVERY = 3; // the list refreshes every third poll while some job is active
const LIST_IDLE_EVERY = 10; // ... and every tenth otherwise (jobs submitted elsewhere appear)
const FINAL = new Set(["done", "failed", "partial", "cancelled"]);
const VIDEO_ACCEPT = ".mp4,.mkv,.avi,.mov,.ts,.flv";
const MAX_PATH_LINES = 1000; // the API's limit per submission

// ---------------------------------------------------------------- pure helpers

/** The non-empty, trimmed lines of the paths box (one file or folder per line). */
export function parsePaths(text) {
  return text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The last path component: the column shows file names, the full path is in the tooltip. */
export function baseName(path) {
  const parts = String(path).split(/[\\/]/);
  return parts[parts.length - 1] || String(path);
}

/** "YYYY-MM-DDTHH:MM" typed in the UI's zone → ISO with that zone's offset (the API wants an
 * aware time). Null for empty input; throws on a malformed one. */
export function localInputToIso(value, tz) {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) throw new Error(t("jobs.badStartTime"));
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x || 0));
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  const offset = (ms) => {
    const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).filter((x) => x.type !== "literal").map((x) => [x.type, Number(x.value)]));
    return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - ms;
  };
  let ms = guess - offset(guess);
  ms = guess - offset(ms);
  return new Date(ms).toISOString();
}

/** The zone times are typed in, as the user reads it ("北京时间" rather than Asia/Shanghai). */
function zoneName() {
  return timeZone() === DEFAULT_TZ ? t("common.tzShanghai") : timeZone();
}

/** What a done video whose earlier run was reused tells the operator: which run, and that a
 * start time typed for it did not change the times of that run's events. "" otherwise. */
export function reuseNote(item, typedStart) {
  if (!item.reused) return "";
  let note = t("jobs.reusedRun", { run: item.run_id });
  const typed = typedStart ? Date.parse(typedStart) : null;
  const kept = item.run_start_time ? Date.parse(item.run_start_time) : null;
  if (typed !== null && typed !== kept) {
    note += ` ${t("jobs.startTimeIgnored", { typed: fmtDate(typedStart),
      kept: kept === null ? t("jobs.noStartTime") : fmtDate(item.run_start_time) })}`;
  }
  return note;
}

function statusLabel(status) {
  return t(`jobs.status.${status}`);
}

function progressBar(value, label) {
  return el("progress", { max: "1", value: String(value), "aria-label": label });
}

// ---------------------------------------------------------------- submit form

/** POST one file to /api/jobs/upload with progress callbacks; resolves to the job (JobDetail). */
function uploadOne(file, crossingId, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("crossing_id", crossingId); // before the file: the server reads fields as they stream
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs/upload");
    xhr.setRequestHeader("Accept", "application/json");
    const tok = token();
    if (tok) xhr.setRequestHeader("Authorization", `Bearer ${tok}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, t("jobs.networkError")));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 401) {
        navigate(`#/login?next=${encodeURIComponent("#/jobs")}`);
        reject(new ApiError(401, t("common.sessionExpired")));
      } else if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
      } else {
        reject(new ApiError(xhr.status, body && body.detail !== undefined ? body.detail : `HTTP ${xhr.status}`));
      }
    };
    xhr.send(form);
  });
}

function submitForm(crossings, onSubmitted) {
  const crossing = el("select", { id: "jobs-crossing", required: true },
    el("option", { value: "" }, t("jobs.pickCrossing")),
    ...crossings.map((c) => el("option", { value: c.id }, `${c.name} (${c.id})`)));
  if (crossings.length === 1) crossing.value = crossings[0].id;
  const modePaths = el("input", { type: "radio", name: "jobs-mode", id: "jobs-mode-paths", value: "paths",
    checked: true });
  const modeUpload = el("input", { type: "radio", name: "jobs-mode", id: "jobs-mode-upload", value: "upload" });
  const paths = el("textarea", { id: "jobs-paths", rows: "4", spellcheck: "false",
    placeholder: t("jobs.pathsPlaceholder"), "aria-describedby": "jobs-paths-hint" });
  const start = el("input", { type: "datetime-local", id: "jobs-start", step: "1",
    "aria-describedby": "jobs-start-hint" });
  const files = el("input", { type: "file", id: "jobs-files", multiple: true, accept: VIDEO_ACCEPT });
  const pathsBox = el("div", { class: "jobs-mode-box", id: "jobs-paths-box" },
    el("label", { for: "jobs-paths" }, t("jobs.paths"), paths),
    el("p", { class: "muted hint", id: "jobs-paths-hint" }, t("jobs.pathsHint")),
    el("label", { for: "jobs-start" }, t("jobs.startTime"), start),
    el("p", { class: "muted hint", id: "jobs-start-hint" }, t("jobs.startTimeHint", { tz: zoneName() })));
  const uploadBox = el("div", { class: "jobs-mode-box", id: "jobs-upload-box", hidden: true },
    el("label", { for: "jobs-files" }, t("jobs.files"), files),
    el("p", { class: "muted hint" }, t("jobs.filesHint")));
  const uploads = el("ul", { class: "jobs-uploads", id: "jobs-uploads", "aria-live": "polite" });
  const err = el("div", { class: "error", id: "jobs-submit-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary", id: "jobs-submit" }, t("jobs.submit"));
  const syncMode = () => {
    pathsBox.hidden = !modePaths.checked;
    uploadBox.hidden = !modeUpload.checked;
  };
  modePaths.addEventListener("change", syncMode);
  modeUpload.addEventListener("change", syncMode);

  const form = el("form", { class: "panel jobs-form", id: "jobs-form", "aria-labelledby": "jobs-form-title",
    novalidate: true },
    el("h2", { id: "jobs-form-title" }, t("jobs.newJob")),
    el("label", { for: "jobs-crossing" }, t("common.crossing"), crossing),
    el("fieldset", { class: "jobs-mode" }, el("legend", {}, t("jobs.source")),
      el("label", { class: "inline", for: "jobs-mode-paths" }, modePaths, t("jobs.modePaths")),
      el("label", { class: "inline", for: "jobs-mode-upload" }, modeUpload, t("jobs.modeUpload"))),
    pathsBox, uploadBox, err, submit, uploads);

  /** Submit by server paths: one request; a 422 names the refused path. */
  async function submitPaths() {
    const list = parsePaths(paths.value);
    if (!list.length) throw new Error(t("jobs.noPaths"));
    if (list.length > MAX_PATH_LINES) throw new Error(t("jobs.tooManyPaths", { n: MAX_PATH_LINES }));
    const body = { crossing_id: crossing.value, paths: list };
    const iso = localInputToIso(start.value, timeZone());
    if (iso) body.start_time = iso;
    const job = await api("/api/jobs", { method: "POST", body });
    toast(t("jobs.submitted", { n: job.items_total }), "success");
    paths.value = "";
    return job;
  }

  /** Upload the chosen files one after another (one job each); every file reports its own outcome. */
  async function submitUploads() {
    const chosen = [...files.files];
    if (!chosen.length) throw new Error(t("jobs.noFiles"));
    let last = null;
    const failures = [];
    for (const file of chosen) {
      const bar = progressBar(0, t("jobs.uploadOf", { name: file.name }));
      const state = el("span", { class: "upload-state" }, t("jobs.uploading"));
      uploads.append(el("li", { dataset: { file: file.name } },
        el("span", { class: "upload-name" }, file.name), bar, state));
      try {
        last = await uploadOne(file, crossing.value, (x) => { bar.value = x; });
        bar.value = 1;
        state.textContent = t("jobs.uploaded");
      } catch (e) {
        state.textContent = `${t("jobs.uploadFailed")}: ${e.message}`;
        state.classList.add("error");
        failures.push(`${file.name}: ${e.message}`);
        if (e.status === 401) break;
      }
    }
    files.value = "";
    if (failures.length) err.textContent = failures.join("\n");
    return last;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    if (!crossing.value) {
      err.textContent = t("jobs.noCrossing");
      crossing.focus();
      return;
    }
    submit.disabled = true;
    try {
      const job = modePaths.checked ? await submitPaths() : await submitUploads();
      if (job) onSubmitted(job);
    } catch (e) {
      const refused = e instanceof ApiError && e.status === 422;
      err.textContent = refused ? t("jobs.refused", { reason: e.message }) : e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------- job list

function jobsTable(jobs, selected, names) {
  if (!jobs.length) return el("p", { class: "muted", id: "jobs-empty" }, t("jobs.none"));
  const head = el("tr", {}, ...["jobs.col.created", "common.crossing", "common.status", "jobs.col.progress",
    "jobs.col.videos", "jobs.col.by"].map((k) => el("th", { scope: "col" }, t(k))));
  const rows = jobs.map((j) => {
    const c = j.items_by_status;
    const videos = t("jobs.videoCounts", { done: fmtNumber(c.done || 0), failed: fmtNumber(c.failed || 0),
      total: fmtNumber(j.items_total) });
    return el("tr", { dataset: { job: j.uid, status: j.status }, class: j.uid === selected ? "selected" : null,
      "aria-current": j.uid === selected ? "true" : null },
    el("td", {}, el("a", { href: `#/jobs?job=${encodeURIComponent(j.uid)}` }, fmtDate(j.created_at))),
    el("td", {}, names.get(j.crossing_id) || j.crossing_id),
    el("td", {}, el("span", { class: `job-status job-status-${j.status}` }, statusLabel(j.status))),
    el("td", { class: "progress-cell" }, progressBar(j.progress, t("jobs.progressOf", { id: j.uid.slice(0, 8) })),
      ` ${fmtPercent(j.progress, 0)}`),
    el("td", {}, videos),
    el("td", {}, j.created_by));
  });
  return el("table", { class: "data-table", id: "jobs-table" },
    el("caption", { class: "visually-hidden" }, t("jobs.listTitle")),
    el("thead", {}, head), el("tbody", {}, ...rows));
}

// ---------------------------------------------------------------- job detail

/** The detail panel, built once per job and updated in place on every poll (so focus, e.g. on
 * the cancel button, survives the refresh). */
class JobDetailView {
  constructor(uid, names, user, onChange) {
    this.uid = uid;
    this.names = names;
    this.user = user;
    this.onChange = onChange;
    this.rows = new Map(); // item id -> {row, cells}
    this.title = el("h2", { id: "job-detail-title" }, t("jobs.detailTitle"));
    this.meta = el("p", { class: "muted", id: "job-meta" });
    this.status = el("span", { id: "job-status", class: "job-status" });
    this.bar = el("progress", { id: "job-progress", max: "1", value: "0", "aria-labelledby": "job-progress-label" });
    this.pct = el("span", { id: "job-progress-text" });
    this.counts = el("span", { id: "job-counts", class: "muted" });
    this.error = el("p", { id: "job-error", class: "error", role: "alert" });
    this.cancel = el("button", { type: "button", id: "job-cancel", class: "danger", onclick: () => this.askCancel() },
      t("jobs.cancel"));
    this.confirmBox = el("span", { id: "job-cancel-confirm", hidden: true },
      t("jobs.cancelConfirm"), " ",
      el("button", { type: "button", id: "job-cancel-yes", class: "danger", onclick: () => this.doCancel() },
        t("jobs.cancelYes")), " ",
      el("button", { type: "button", id: "job-cancel-no", onclick: () => this.closeConfirm() }, t("jobs.cancelNo")));
    this.results = el("p", { id: "job-results-box" });
    this.tbody = el("tbody", {});
    this.root = el("section", { class: "panel job-detail", id: "job-detail", "aria-labelledby": "job-detail-title" },
      this.title, this.meta,
      el("div", { class: "job-overall" },
        el("span", { id: "job-progress-label" }, t("jobs.overall")), this.bar, this.pct, this.status, this.counts),
      this.error,
      el("div", { class: "job-actions" }, this.cancel, this.confirmBox),
      this.results,
      el("table", { class: "data-table", id: "job-items" },
        el("caption", {}, t("jobs.itemsTitle")),
        el("thead", {}, el("tr", {}, ...["jobs.col.file", "common.status", "jobs.col.progress", "jobs.col.events",
          "jobs.col.reason", "jobs.col.finished"].map((k) => el("th", { scope: "col" }, t(k))))),
        this.tbody));
    this.job = null;
  }

  /** Show `job` (a JobDetail answer). */
  update(job) {
    this.job = job;
    const name = this.names.get(job.crossing_id) || job.crossing_id;
    this.title.textContent = t("jobs.detailHeading", { name });
    this.meta.textContent = t("jobs.meta", { uid: job.uid, by: job.created_by, at: fmtDate(job.created_at),
      finished: job.finished_at ? fmtDate(job.finished_at) : "–" });
    this.status.textContent = statusLabel(job.status);
    this.status.className = `job-status job-status-${job.status}`;
    this.root.dataset.status = job.status;
    this.bar.value = job.progress;
    this.bar.setAttribute("aria-valuetext", fmtPercent(job.progress, 0));
    this.pct.textContent = fmtPercent(job.progress, 0);
    const c = job.items_by_status;
    this.counts.textContent = t("jobs.videoCounts", { done: fmtNumber(c.done || 0), failed: fmtNumber(c.failed || 0),
      total: fmtNumber(job.items_total) });
    this.error.textContent = job.error ? job.error : "";
    const final = FINAL.has(job.status);
    this.cancel.hidden = final || job.cancel_requested;
    if (final) this.closeConfirm();
    job.items.forEach((item, i) => this.updateItem(item, i === 0 ? job.start_time : null));
    this.updateResults(job);
  }

  /** One video's row; `typedStart`: the start time the job was given, for its first video. */
  updateItem(item, typedStart) {
    let r = this.rows.get(item.id);
    if (!r) {
      const cells = {
        status: el("td", { class: "item-status" }),
        bar: progressBar(0, t("jobs.progressOf", { id: baseName(item.path) })),
        pct: el("span", { class: "item-pct" }),
        events: el("td", { class: "num item-events" }),
        reason: el("td", { class: "item-reason" }),
        finished: el("td", { class: "item-finished" }),
      };
      const row = el("tr", { dataset: { item: String(item.id), file: baseName(item.path) } },
        el("th", { scope: "row", title: item.path, class: "item-file" }, baseName(item.path)),
        cells.status, el("td", { class: "progress-cell" }, cells.bar, " ", cells.pct), cells.events, cells.reason,
        cells.finished);
      r = { row, cells };
      this.rows.set(item.id, r);
      this.tbody.append(row);
    }
    const { row, cells } = r;
    row.dataset.status = item.status;
    cells.status.textContent = statusLabel(item.status);
    const p = item.status === "done" ? 1 : item.progress;
    cells.bar.value = p;
    cells.pct.textContent = fmtPercent(p, 0);
    cells.events.textContent = item.events === null ? "–" : fmtNumber(item.events);
    cells.reason.textContent = item.error || reuseNote(item, typedStart);
    cells.reason.classList.toggle("item-note", !item.error && Boolean(item.reused));
    row.dataset.reused = String(Boolean(item.reused));
    cells.finished.textContent = item.finished_at ? fmtDate(item.finished_at) : "";
  }

  /** Where the results are: the review queue of the crossing for those who review, else the
   * crossing's page (operators cannot read events). */
  updateResults(job) {
    const events = job.items.reduce((n, i) => n + (i.events || 0), 0);
    const done = job.items.some((i) => i.status === "done");
    if (!done) {
      this.results.replaceChildren();
      return;
    }
    const doneItems = job.items.filter((i) => i.status === "done");
    if (doneItems.every((i) => i.reused)) { // nothing new: say so instead of "0 events found"
      this.results.replaceChildren(el("span", { id: "job-reused" }, t("jobs.allReused", { n: fmtNumber(events) })),
        " ");
    }
    const canReview = allowed(["reviewer"], this.user.role);
    const href = canReview ? `#/review?crossing_id=${encodeURIComponent(job.crossing_id)}`
      : `#/crossings/${encodeURIComponent(job.crossing_id)}`;
    const link = el("a", { href, id: "job-results" }, canReview ? t("jobs.resultsReview") : t("jobs.resultsCrossing"));
    if (doneItems.every((i) => i.reused)) this.results.append(link);
    else this.results.replaceChildren(t("jobs.eventsFound", { n: fmtNumber(events) }), " ", link);
  }

  askCancel() {
    this.cancel.hidden = true;
    this.confirmBox.hidden = false;
    document.getElementById("job-cancel-no").focus();
  }

  closeConfirm() {
    this.confirmBox.hidden = true;
    if (this.job && !FINAL.has(this.job.status) && !this.job.cancel_requested) this.cancel.hidden = false;
  }

  async doCancel() {
    try {
      const job = await api(`/api/jobs/${encodeURIComponent(this.uid)}/cancel`, { method: "POST" });
      toast(t("jobs.cancelRequested"), "info");
      this.update(job);
      this.onChange();
    } catch (e) {
      // 409: it finished in the meantime — show its final state instead of an error
      if (e instanceof ApiError && e.status === 409) toast(t("jobs.alreadyFinished"), "info");
      else toast(`${t("common.error")}: ${e.message}`, "error");
      this.closeConfirm();
    }
  }
}

// ---------------------------------------------------------------- page

async function render(root, { query }) {
  let selected = query.get("job");
  const [user, crossingsPage] = await Promise.all([me(), api("/api/crossings", { query: { limit: 500 } })]);
  const crossings = crossingsPage.data;
  const names = new Map(crossings.map((c) => [c.id, c.name]));
  let alive = true;
  let timer = null;
  let tick = 0;
  let jobs = [];

  const listBox = el("div", { id: "jobs-list", class: "table-wrap" }, t("common.loading"));
  const detailBox = el("div", { id: "job-detail-box" });
  let detail = null;

  async function loadList() {
    const page = await api("/api/jobs", { query: { limit: 50 } });
    if (!alive) return;
    jobs = page.data;
    const more = page.count > jobs.length
      ? [el("p", { class: "muted" }, t("jobs.showingNewest", { n: jobs.length, total: page.count }))] : [];
    listBox.replaceChildren(jobsTable(jobs, selected, names), ...more);
  }

  async function loadDetail() {
    if (!selected) return null;
    try {
      const job = await api(`/api/jobs/${encodeURIComponent(selected)}`);
      if (!alive) return null;
      if (!detail) detail = new JobDetailView(selected, names, user, () => loadList().catch(() => {}));
      if (detail.root.parentNode !== detailBox) detailBox.replaceChildren(detail.root); // e.g. after an error
      detail.update(job);
      return job;
    } catch (e) {
      if (!alive) return null;
      detailBox.replaceChildren(el("p", { class: "error", role: "alert", id: "job-detail-error" },
        e instanceof ApiError && e.status === 404 ? t("jobs.notFound") : `${t("common.error")}: ${e.message}`));
      return null;
    }
  }

  /** Poll every second while the shown job runs; the list every LIST_EVERY polls while any
   * listed job is active (a job submitted elsewhere appears, finished ones stop the polling). */
  async function poll() {
    if (!alive) return;
    tick += 1;
    const active = jobs.some((j) => !FINAL.has(j.status));
    const detailActive = detail && detail.job && !FINAL.has(detail.job.status);
    try {
      if (detailActive) {
        const job = await loadDetail();
        if (job && FINAL.has(job.status)) await loadList(); // show the final state in the list at once
      }
      if ((active && tick % LIST_EVERY === 0) || tick % LIST_IDLE_EVERY === 0) await loadList();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // the app went to the login page
    }
    if (alive) timer = setTimeout(poll, POLL_MS);
  }

  /** Show another job without rebuilding the page (the form keeps its upload list); the URL
   * follows (pushState: no re-render, and Back returns to the previous job). */
  async function showJob(uid) {
    selected = uid;
    detail = null;
    history.pushState(null, "", `#/jobs?job=${encodeURIComponent(uid)}`);
    await Promise.all([loadDetail(), loadList()]);
  }

  const form = submitForm(crossings, (job) => showJob(job.uid).catch(() => {}));
  root.append(el("div", { class: "jobs-page" },
    el("h1", {}, t("jobs.title")),
    el("div", { class: "jobs-layout" },
      form,
      el("div", { class: "jobs-main" },
        detailBox,
        el("section", { class: "panel", id: "jobs-list-section", "aria-labelledby": "jobs-list-title" },
          el("h2", { id: "jobs-list-title" }, t("jobs.listTitle")), listBox)))));

  await Promise.all([
    loadList().catch((e) => listBox.replaceChildren(el("p", { class: "error", role: "alert" },
      `${t("common.error")}: ${e.message}`))),
    loadDetail(),
  ]);
  timer = setTimeout(poll, POLL_MS);
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

registerPage("jobs", { title: "jobs.title", roles: ["operator"], render });
