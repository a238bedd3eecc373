// The portal's shell: finds out whether the browser holds a session, routes `#/...` addresses to
// views, keeps the header in step, and returns to the login form when the session ends. Routing
// by hash keeps every page at /portal/, so the server needs no fallback rules.
import { ApiError, call, get, setCsrfToken, whenSessionEnds } from "./api.js";
import { instantiate, showError } from "./dom.js";
import { renderLogin, renderSignup } from "./views/auth.js";
import { renderBilling } from "./views/billing.js";
import { renderJob } from "./views/job.js";
import { renderJobs } from "./views/jobs.js";
import { renderKeys } from "./views/keys.js";
import { renderNewJob } from "./views/new-job.js";
import { renderUsage } from "./views/usage.js";
import { renderWebhooks } from "./views/webhooks.js";

/**
 * @typedef {object} ViewContext
 * @property {HTMLElement} main where the view renders
 * @property {string[]} params the route's captured parts
 * @property {AbortSignal} signal aborted when the user leaves the view: stop fetching and polling
 * @property {typeof portal} portal
 */

/** @typedef {(context: ViewContext) => Promise<void> | void} View */

/** @type {Array<[RegExp, View, string]>} pattern, view, document title */
const ROUTES = [
  [/^\/$/, renderBilling, "Billing"],
  [/^\/keys$/, renderKeys, "API keys"],
  [/^\/usage$/, renderUsage, "Usage and payments"],
  [/^\/jobs$/, renderJobs, "Training jobs"],
  [/^\/jobs\/new$/, renderNewJob, "New training job"],
  [/^\/jobs\/([A-Za-z0-9_-]+)$/, renderJob, "Training job"],
  [/^\/webhooks$/, renderWebhooks, "Webhooks"],
];
const PUBLIC_ROUTES = new Map([
  ["/login", renderLogin],
  ["/signup", renderSignup],
]);

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
const account = /** @type {HTMLElement} */ (document.getElementById("account"));
const accountEmail = /** @type {HTMLElement} */ (document.getElementById("account-email"));
const logoutButton = /** @type {HTMLButtonElement} */ (document.getElementById("logout"));
const logoutError = /** @type {HTMLElement} */ (document.getElementById("logout-error"));

const EMAIL_KEY = "veritrain.email";

/** What every view may ask of the shell. */
export const portal = {
  signedIn: false,
  /** @type {string | null} a notice for the login form, such as why the session ended */
  loginNotice: null,
  /** @type {string} where to go once logged in */
  returnTo: "/",
  /** @type {{ title: string, secret: string } | null} the signup's first API key, shown once */
  newSecret: null,

  /**
   * @param {{ csrfToken: string, email?: string }} grant
   */
  startSession({ csrfToken, email }) {
    setCsrfToken(csrfToken);
    if (email) sessionStorage.setItem(EMAIL_KEY, email);
    portal.signedIn = true;
    portal.loginNotice = null;
    updateHeader();
    const target = portal.returnTo;
    portal.returnTo = "/";
    portal.navigate(target);
  },

  /** @param {string | null} notice */
  endSession(notice) {
    setCsrfToken(null);
    sessionStorage.removeItem(EMAIL_KEY);
    portal.signedIn = false;
    portal.loginNotice = notice;
    updateHeader();
    portal.navigate("/login");
  },

  /** @param {string} path a route, such as "/jobs" */
  navigate(path) {
    if (location.hash === `#${path}`) void render(true);
    else location.hash = path;
  },
};

function updateHeader() {
  nav.hidden = !portal.signedIn;
  account.hidden = !portal.signedIn;
  accountEmail.textContent = sessionStorage.getItem(EMAIL_KEY) ?? "";
  logoutError.hidden = true;
  const path = currentPath();
  for (const link of nav.querySelectorAll("a")) {
    const target = link.getAttribute("href") ?? "";
    const current = target === `#${path}` || (target !== "#/" && path.startsWith(target.slice(1)));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function currentPath() {
  return location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
}

/** @type {AbortController | null} */
let viewController = null;

/** @param {boolean} moveFocus true when the user navigated (not on the first load) */
async function render(moveFocus) {
  viewController?.abort();
  const controller = new AbortController();
  viewController = controller;
  const path = currentPath();
  updateHeader();

  /** @type {View} */
  let view;
  let title;
  /** @type {string[]} */
  let params = [];
  const publicView = PUBLIC_ROUTES.get(path);
  if (!portal.signedIn) {
    if (!publicView) portal.returnTo = path;
    view = publicView ?? renderLogin;
    title = path === "/signup" ? "Create an account" : "Log in";
  } else if (publicView) {
    portal.navigate("/");
    return;
  } else {
    const route = ROUTES.find(([pattern]) => pattern.test(path));
    view = route ? route[1] : renderNotFound;
    title = route ? route[2] : "Page not found";
    params = route ? (route[0].exec(path)?.slice(1) ?? []) : [];
  }
  document.title = `${title} · Veritrain`;
  main.replaceChildren();
  await view({ main, params, signal: controller.signal, portal });
  if (moveFocus && !controller.signal.aborted) main.querySelector("h1")?.focus();
}

/** @type {View} */
function renderNotFound({ main }) {
  main.append(instantiate("view-not-found").fragment);
}

/** @param {unknown} error */
function renderUnavailable(error) {
  const { fragment, refs } = instantiate("view-unavailable");
  showError(refs.error, error);
  refs.retry.addEventListener("click", () => void start());
  main.replaceChildren(fragment);
}

logoutButton.addEventListener("click", async () => {
  logoutButton.disabled = true;
  try {
    await call("POST", "/v1/auth/logout");
    portal.endSession("You are logged out.");
  } catch (error) {
    // A session that had already ended has sent the user to the login form by now.
    if (portal.signedIn) showError(logoutError, error);
  } finally {
    logoutButton.disabled = false;
  }
});

// The skip link's "#main" is not a route: move focus without re-rendering.
document.querySelector("[data-skip]")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

whenSessionEnds(() => {
  portal.returnTo = currentPath();
  portal.endSession("Your session has ended. Log in again to continue.");
});

async function start() {
  try {
    const identity = await get("/v1/auth/session");
    setCsrfToken(identity.csrf_token);
    portal.signedIn = true;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      renderUnavailable(error);
      return;
    }
    portal.signedIn = false;
  }
  await render(false);
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/")) void render(true);
});
void start();
