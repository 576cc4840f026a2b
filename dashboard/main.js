// The dashboard's page: who is signed in, the router (#/...), and each view's life: a view gets an
// AbortSignal that ends its requests, streams and refreshes when the page moves on.
import { ApiError, session, whenSignedOut } from "./api.js";
import { h, replace } from "./dom.js";
import { appsView } from "./view-apps.js";
import { buildsView } from "./view-app.js";
import { buildView } from "./view-build.js";
import { configView } from "./view-config.js";
import { releasesView } from "./view-releases.js";

const ROUTES = [
  [/^\/?$/, appsView],
  [/^\/apps\/([^/]+)(?:\/builds)?$/, buildsView],
  [/^\/apps\/([^/]+)\/releases$/, releasesView],
  [/^\/apps\/([^/]+)\/config$/, configView],
  [/^\/builds\/([^/]+)$/, buildView],
];

const view = document.getElementById("view");
const signin = document.getElementById("signin");
const who = document.getElementById("who");
const signOutButton = document.getElementById("sign-out");
let principal = null;
let current = null;

function describe(p) {
  return p.kind === "admin" ? "admin" : `${p.scope} token ${p.id} · ${p.app}`;
}

/** What the principal may do on an app, as the API's access table says (src/auth/access.ts). */
function can(need, app) {
  if (principal === null) return false;
  if (principal.kind === "admin") return true;
  if (need === "admin" || principal.app !== app) return false;
  return need === "read" || principal.scope === "deploy";
}

function showError(err) {
  if (err?.name === "AbortError") return;
  if (err instanceof ApiError && err.status === 401) return;
  const text = err instanceof ApiError ? `${err.id}: ${err.message}` : String(err?.message ?? err);
  const banner = h("p", { class: "error", role: "alert" }, text);
  view.prepend(banner);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function showSignIn(failed) {
  current?.abort();
  current = null;
  principal = null;
  replace(who);
  signOutButton.hidden = true;
  view.hidden = true;
  signin.hidden = false;
  document.getElementById("signin-error").hidden = !failed;
  document.getElementById("token").focus();
}

async function route() {
  if (principal === null) return;
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const path = location.hash.replace(/^#/, "") || "/";
  const found = ROUTES.map(([pattern, render]) => [pattern.exec(path), render]).find(([m]) => m);
  signin.hidden = true;
  view.hidden = false;
  if (!found) {
    replace(view, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the apps")));
    return;
  }
  const [match, render] = found;
  let params;
  try {
    params = match.slice(1).map(decodeURIComponent);
  } catch {
    replace(view, h("h1", {}, "Not found"));
    return;
  }
  replace(view, h("p", { class: "loading" }, "Loading…"));
  const ctx = {
    principal,
    params,
    signal: controller.signal,
    sleep: (ms) => sleep(ms, controller.signal),
    can,
    showError,
  };
  try {
    await render(view, ctx);
  } catch (err) {
    if (!controller.signal.aborted) showError(err);
  }
}

function signedIn(p) {
  principal = p;
  replace(who, describe(p));
  signOutButton.hidden = false;
  if (location.hash.startsWith("#/signin")) location.hash = "#/";
  else void route();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  try {
    const answer = await session.signIn(input.value);
    input.value = "";
    signedIn(answer.principal);
  } catch (err) {
    input.select();
    document.getElementById("signin-error").hidden = false;
    if (!(err instanceof ApiError && err.status === 401)) replace(document.getElementById("signin-error"), String(err.message ?? err));
  }
});

signOutButton.addEventListener("click", async () => {
  try {
    await session.signOut();
  } finally {
    showSignIn(false);
  }
});

whenSignedOut(() => showSignIn(false));
window.addEventListener("hashchange", () => void route());

async function boot() {
  const state = await session.current();
  if (state.signedIn) signedIn(state.principal);
  else showSignIn(location.hash === "#/signin/failed");
}

boot().catch((err) => {
  showSignIn(false);
  showError(err);
});
