// Small DOM helpers shared by the views: templates from index.html, elements built from data
// (text only, never HTML, so nothing the API returns is ever parsed as markup), forms whose API
// errors are shown next to them, and "load more" lists over the API's cursor pagination.
import { ApiError, isAbort } from "./api.js";

/**
 * Clones `<template id="...">` and collects its `data-ref` elements by name.
 * @param {string} id
 * @returns {{ fragment: DocumentFragment, refs: Record<string, HTMLElement> }}
 */
export function instantiate(id) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById(id));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  /** @type {Record<string, HTMLElement>} */
  const refs = {};
  for (const element of fragment.querySelectorAll("[data-ref]")) {
    refs[/** @type {string} */ (element.getAttribute("data-ref"))] = /** @type {HTMLElement} */ (element);
  }
  return { fragment, refs };
}

/**
 * Builds an element: `h("a", { href: "#/" }, "Home")`. Attributes are set as attributes;
 * children are nodes or text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | boolean>} [attributes]
 * @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, "");
    else if (value !== false) element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

/**
 * `<time>` for an ISO timestamp, in the reader's locale, or a dash for none.
 * @param {string | null} iso
 */
export function time(iso) {
  if (iso === null) return document.createTextNode("—");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, DATE_TIME.format(date));
}
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * @param {HTMLElement} element
 * @param {unknown} error an ApiError, or anything thrown
 */
export function showError(element, error) {
  element.textContent =
    error instanceof ApiError ? error.message : "Something went wrong in the portal; reload the page.";
  element.hidden = false;
  if (!(error instanceof ApiError)) console.error(error);
}

/** @param {HTMLElement} element */
export function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}

/**
 * Runs `submit` with the form's values; while it runs the submit button is disabled. An API
 * error is shown in `errorElement`, and the field it names (`param`, matched by name or
 * `data-param`) is marked invalid and focused.
 * @param {HTMLFormElement} form
 * @param {HTMLElement} errorElement
 * @param {(values: Record<string, string>) => Promise<void>} submit
 */
export function bindForm(form, errorElement, submit) {
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearError(errorElement);
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    /** @type {Record<string, string>} */
    const values = {};
    for (const [name, value] of new FormData(form)) values[name] = String(value);
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await submit(values);
    } catch (error) {
      if (isAbort(error)) return;
      showError(errorElement, error);
      const param = error instanceof ApiError ? error.param : null;
      const field = param
        ? form.querySelector(`[name="${CSS.escape(param)}"], [data-param="${CSS.escape(param)}"]`)
        : null;
      if (field instanceof HTMLElement) {
        field.setAttribute("aria-invalid", "true");
        field.setAttribute("aria-errormessage", ensureId(errorElement));
        field.focus();
      }
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

let generatedIds = 0;
/** @param {HTMLElement} element */
function ensureId(element) {
  if (!element.id) element.id = `portal-id-${++generatedIds}`;
  return element.id;
}

/**
 * @template {{ id: string | number }} T
 * @typedef {object} ListOptions
 * @property {Record<string, HTMLElement>} refs the view's `rows` (a tbody) and `empty` (shown when
 *   there are none) elements; the list adds its error line and "Load more" button after `empty`
 * @property {(after: string | number | undefined) => Promise<{ data: T[], has_more: boolean }>} fetchPage
 * @property {(item: T) => HTMLTableRowElement} row
 */

/**
 * A table filled page by page: `more()` fetches the page after the last row shown, and the
 * "Load more" button does the same while the API says there is more.
 * @template {{ id: string | number }} T
 * @param {ListOptions<T>} options
 */
export function pagedList({ refs, fetchPage, row }) {
  const { rows, empty } = refs;
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  empty.after(error, more);
  /** @type {string | number | undefined} */
  let after;
  let hasMore = false;
  /** @type {Promise<void> | null} */
  let loading = null;

  const load = async () => {
    clearError(error);
    more.setAttribute("aria-busy", "true");
    try {
      const page = await fetchPage(after);
      for (const item of page.data) rows.append(row(item));
      if (page.data.length > 0) after = page.data[page.data.length - 1]?.id;
      hasMore = page.has_more;
    } catch (caught) {
      if (!isAbort(caught)) showError(error, caught);
    } finally {
      more.removeAttribute("aria-busy");
      more.hidden = !hasMore;
      empty.hidden = rows.childElementCount > 0;
    }
  };

  const list = {
    /** Loads the next page, or waits for the load already under way. */
    more() {
      loading ??= load().finally(() => {
        loading = null;
      });
      return loading;
    },
    /** Empties the table and loads the first page again. */
    async reload() {
      await loading;
      rows.replaceChildren();
      after = undefined;
      hasMore = false;
      return list.more();
    },
    get hasMore() {
      return hasMore;
    },
    /** @param {HTMLTableRowElement} tr */
    remove(tr) {
      tr.remove();
      empty.hidden = rows.childElementCount > 0;
    },
  };
  more.addEventListener("click", () => list.more());
  return list;
}

/**
 * The one-time display of a secret (an API key, a webhook signing secret), with a copy button.
 * @param {string} title
 * @param {string} secret
 */
export function secretPanel(title, secret) {
  const { fragment, refs } = instantiate("part-secret");
  refs.title.textContent = title;
  refs.secret.textContent = secret;
  refs.copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      refs["copy-status"].textContent = "Copied to the clipboard.";
    } catch {
      // The clipboard can be refused (permissions, an insecure origin): select it for the user.
      getSelection()?.selectAllChildren(refs.secret);
      refs["copy-status"].textContent =
        "Copying was refused; the secret is selected, press Ctrl+C (⌘C) to copy it.";
    }
  });
  return fragment;
}

/**
 * Waits `ms`, or less if the view is left; resolves either way (check `signal.aborted`).
 * @param {number} ms
 * @param {AbortSignal} signal
 */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
      { once: true },
    );
  });
}
