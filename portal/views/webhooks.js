// Webhook endpoints: create one (its signing secret is shown once), list them, send a test
// event, rotate the secret, delete after a confirmation, and read an endpoint's delivery log.
import { call, get, isAbort, pagePath, post } from "../api.js";
import { bindForm, clearError, h, instantiate, pagedList, secretPanel, showError, time } from "../dom.js";
import { WEBHOOK_EVENTS } from "../webhook-events.js";

/**
 * @typedef {{ id: string, url: string, description: string, events: string[], created_at: string }} Endpoint
 * @typedef {{ id: string, event_type: string, status: string, attempts: number,
 *   last_status_code: number | null, last_error: string | null, created_at: string,
 *   last_attempt_at: string | null }} Delivery
 */

/** @param {import("../app.js").ViewContext} context */
export async function renderWebhooks({ main, signal }) {
  const { fragment, refs } = instantiate("view-webhooks");
  const form = /** @type {HTMLFormElement} */ (refs.form);
  const dialog = /** @type {HTMLDialogElement} */ (refs.confirm);
  refs.events.append(
    ...WEBHOOK_EVENTS.map(({ type, label }) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "events", value: type, checked: true }),
        ` ${label} `,
        h("code", {}, type),
      ),
    ),
  );

  /** @param {Endpoint} endpoint */
  const confirmDelete = (endpoint) => {
    refs["confirm-url"].textContent = endpoint.url;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
    });
  };

  /** @type {string | null} the endpoint whose deliveries are shown */
  let shownDeliveries = null;
  const deliveries = pagedList({
    refs: { rows: refs["delivery-rows"], empty: refs["delivery-empty"] },
    fetchPage: (after) =>
      get(
        pagePath(`/v1/webhook-endpoints/${encodeURIComponent(shownDeliveries ?? "")}/deliveries`, after, 20),
        signal,
      ),
    /** @param {Delivery} delivery */
    row: (delivery) =>
      h(
        "tr",
        {},
        h("td", {}, time(delivery.created_at)),
        h("td", {}, h("code", {}, delivery.event_type)),
        h("td", {}, h("span", { class: `status status-${delivery.status}` }, delivery.status)),
        h("td", { class: "num" }, String(delivery.attempts)),
        h(
          "td",
          {},
          delivery.last_status_code === null ? "" : `HTTP ${delivery.last_status_code}`,
          delivery.last_error ? ` ${delivery.last_error}` : "",
        ),
      ),
  });

  /** @param {Endpoint} endpoint */
  const showDeliveries = async (endpoint) => {
    shownDeliveries = endpoint.id;
    refs["deliveries-url"].textContent = endpoint.url;
    refs.deliveries.hidden = false;
    await deliveries.reload();
  };

  /**
   * @param {string} label
   * @param {string} name what the button is for, read by screen readers with the endpoint's URL
   * @param {string} [kind]
   */
  const button = (label, name, kind = "secondary small") =>
    h("button", { type: "button", class: kind, "aria-label": name }, label);

  /** @param {Endpoint} endpoint */
  const row = (endpoint) => {
    const test = button("Send test", `Send a test event to ${endpoint.url}`);
    const log = button("Deliveries", `Deliveries to ${endpoint.url}`);
    const rotate = button("Rotate secret", `Rotate the secret of ${endpoint.url}`);
    const remove = button("Delete", `Delete ${endpoint.url}`, "danger small");
    const tr = h(
      "tr",
      {},
      h(
        "td",
        {},
        h("code", {}, endpoint.url),
        endpoint.description ? h("div", { class: "hint" }, endpoint.description) : "",
      ),
      h("td", {}, endpoint.events.join(", ")),
      h("td", {}, time(endpoint.created_at)),
      h("td", { class: "actions" }, h("div", { class: "row-actions" }, test, log, rotate, remove)),
    );
    /**
     * @param {HTMLButtonElement} target
     * @param {() => Promise<void>} action
     */
    const act = (target, action) =>
      target.addEventListener("click", async () => {
        clearError(refs["list-error"]);
        refs.status.textContent = "";
        target.disabled = true;
        try {
          await action();
        } catch (error) {
          if (!isAbort(error)) showError(refs["list-error"], error);
        } finally {
          target.disabled = false;
        }
      });
    const path = `/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}`;
    act(test, async () => {
      await post(`${path}/test`, {});
      refs.status.textContent = `A test event is on its way to ${endpoint.url}.`;
      await showDeliveries(endpoint);
    });
    act(log, () => showDeliveries(endpoint));
    act(rotate, async () => {
      const rotated = await post(`${path}/rotate-secret`, {});
      refs["new-secret"].replaceChildren(
        secretPanel(
          `The new signing secret of ${endpoint.url} (the old one also signs for 24 hours):`,
          rotated.secret,
        ),
      );
    });
    act(remove, async () => {
      if (!(await confirmDelete(endpoint))) return remove.focus();
      await call("DELETE", path);
      endpoints.remove(tr);
      if (shownDeliveries === endpoint.id) refs.deliveries.hidden = true;
      refs["new-secret"].replaceChildren();
      refs.status.textContent = `The endpoint ${endpoint.url} is deleted.`;
    });
    return tr;
  };

  const endpoints = pagedList({
    refs,
    fetchPage: (after) => get(pagePath("/v1/webhook-endpoints", after, 20), signal),
    row,
  });

  bindForm(form, refs["form-error"], async (values) => {
    const events = [...form.querySelectorAll("input[name=events]:checked")].map(
      (input) => /** @type {HTMLInputElement} */ (input).value,
    );
    const endpoint = await post("/v1/webhook-endpoints", {
      url: (values.url ?? "").trim(),
      events,
      ...(values.description ? { description: values.description.trim() } : {}),
    });
    refs["new-secret"].replaceChildren(
      secretPanel(`The signing secret of ${endpoint.url}: verify each delivery with it.`, endpoint.secret),
    );
    form.reset();
    refs.rows.prepend(row(endpoint));
    refs.empty.hidden = true;
  });

  main.append(fragment);
  await endpoints.more();
}
