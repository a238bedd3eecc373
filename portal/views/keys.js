// API keys: create one (its secret is shown once), list the active ones, revoke after a
// confirmation.
import { call, get, isAbort, pagePath, post } from "../api.js";
import { bindForm, clearError, h, instantiate, pagedList, secretPanel, showError, time } from "../dom.js";

/**
 * @typedef {{ id: string, name: string, prefix: string, created_at: string,
 *   last_used_at: string | null }} ApiKey
 */

/** @param {import("../app.js").ViewContext} context */
export async function renderKeys({ main, signal }) {
  const { fragment, refs } = instantiate("view-keys");
  const dialog = /** @type {HTMLDialogElement} */ (refs.confirm);
  const form = /** @type {HTMLFormElement} */ (refs.form);

  /**
   * Asks before revoking; resolves true when the user confirmed.
   * @param {ApiKey} key
   * @returns {Promise<boolean>}
   */
  const confirmRevoke = (key) => {
    refs["confirm-name"].textContent = key.name;
    refs["confirm-prefix"].textContent = key.prefix;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "revoke"), { once: true });
    });
  };

  /** @param {ApiKey} key */
  const row = (key) => {
    const revoke = h(
      "button",
      { type: "button", class: "danger small", "aria-label": `Revoke ${key.name}` },
      "Revoke",
    );
    const tr = h(
      "tr",
      {},
      h("td", {}, key.name),
      h("td", {}, h("code", {}, `${key.prefix}…`)),
      h("td", {}, time(key.created_at)),
      h("td", {}, time(key.last_used_at)),
      h("td", { class: "actions" }, revoke),
    );
    revoke.addEventListener("click", async () => {
      if (!(await confirmRevoke(key))) return revoke.focus();
      clearError(refs["revoke-error"]);
      refs.status.textContent = "";
      revoke.disabled = true;
      try {
        await call("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
        keys.remove(tr);
        // A secret still on screen would now only mislead.
        if (refs["new-secret"].dataset.keyId === key.id) refs["new-secret"].replaceChildren();
        refs.status.textContent = `The key “${key.name}” is revoked.`;
        refs["keys-title"].focus();
      } catch (error) {
        if (!isAbort(error)) showError(refs["revoke-error"], error);
        revoke.disabled = false;
        revoke.focus();
      }
    });
    return tr;
  };

  const keys = pagedList({
    refs,
    fetchPage: (after) => get(pagePath("/v1/api-keys", after, 20), signal),
    row,
  });

  bindForm(form, refs["form-error"], async ({ name = "" }) => {
    const key = await post("/v1/api-keys", { name: name.trim() });
    refs["new-secret"].replaceChildren(secretPanel(`Your new API key “${key.name}”:`, key.secret));
    refs["new-secret"].dataset.keyId = key.id;
    form.reset();
    refs.rows.prepend(row(key));
    refs.empty.hidden = true;
  });

  main.append(fragment);
  await keys.more();
}
