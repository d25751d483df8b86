// Login page (#/login): username + password → token in sessionStorage, then the page the user
// came for (?next=) or the first page of their role.
import { ApiError, el, login, navigate, registerPage, t } from "../app.js";

/** A localised message for a failed login. */
function loginError(e) {
  if (e instanceof ApiError && e.status === 401) return t("login.wrong");
  if (e instanceof ApiError && e.status === 429) return t("login.tooMany");
  return t("login.failed", { msg: e.message });
}

/** Only in-app hash routes may be a redirect target (never another site). */
function safeNext(next) {
  return next && /^#\/[\w\-/?=&%.]*$/.test(next) && !next.startsWith("#/login") ? next : "#/";
}

function render(root, { query }) {
  const err = el("p", { class: "error", id: "login-error", role: "alert" });
  const user = el("input", { id: "login-username", name: "username", autocomplete: "username", required: true });
  const pass = el("input", { id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const submit = el("button", { type: "submit", class: "primary", id: "login-submit" }, t("login.submit"));
  const form = el("form", { class: "login-box panel", "aria-labelledby": "login-heading", novalidate: true },
    el("h1", { id: "login-heading" }, t("login.heading")),
    el("label", { for: "login-username" }, t("login.username"), user),
    el("label", { for: "login-password" }, t("login.password"), pass),
    err, submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    if (!user.value.trim() || !pass.value) {
      err.textContent = t("login.wrong");
      return;
    }
    submit.disabled = true;
    try {
      await login(user.value.trim(), pass.value);
      navigate(safeNext(query.get("next")));
    } catch (e) {
      err.textContent = loginError(e);
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(form);
  user.focus();
}

registerPage("login", { title: "login.title", roles: null, render });
