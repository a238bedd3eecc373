// The Veritrain API as the portal calls it: same origin, authenticated by the HttpOnly session
// cookie, with the session's CSRF token on every request that changes state. Every failure,
// including an unreachable server, becomes an ApiError carrying a message fit to show the user.

/** @typedef {{ type: string, code: string, message: string, param: string | null }} ErrorFields */

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/** @type {string | null} */
let csrfToken = null;
/** @type {(error: ApiError) => void} */
let onSessionEnded = () => {};

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the API could not be reached
   * @param {ErrorFields} fields
   */
  constructor(status, fields) {
    super(fields.message);
    this.name = "ApiError";
    this.status = status;
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param;
  }
}

/** @param {string | null} token the CSRF token of the current session, null when signed out */
export function setCsrfToken(token) {
  csrfToken = token;
}

/** @param {(error: ApiError) => void} callback called when a signed-in request is refused with 401 */
export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

/** @param {unknown} error */
export function isAbort(error) {
  return error instanceof DOMException && error.name === "AbortError";
}

/**
 * @param {number} status
 * @param {string} text the response body
 * @returns {ErrorFields}
 */
export function errorFields(status, text) {
  try {
    const error = JSON.parse(text).error;
    if (typeof error?.message === "string") return error;
  } catch {
    // Not the API's JSON: a proxy's error page, say. The status is all there is to tell.
  }
  return {
    type: "api_error",
    code: `http_${status}`,
    message: `The API answered with HTTP ${status}`,
    param: null,
  };
}

/**
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<any>} the parsed JSON body (null for 204); the API's schemas describe it
 */
export async function call(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (error) {
    // Logging in from another tab replaces this browser's session cookie, and with it the
    // CSRF token this tab holds: take the current session's token and try once more.
    if (!(error instanceof ApiError) || error.code !== "csrf_token_invalid") throw error;
    const identity = await send("GET", "/v1/auth/session", {});
    csrfToken = identity.csrf_token;
    return send(method, path, options);
  }
}

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [body] sent as JSON
 * @property {FormData} [form] sent as multipart/form-data instead (an upload)
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 */

/**
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} options
 * @returns {Promise<any>} see `call`
 */
async function send(method, path, options) {
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json", ...options.headers };
  if (!SAFE_METHODS.has(method) && csrfToken !== null) headers["x-csrf-token"] = csrfToken;
  /** @type {RequestInit} */
  const init = { method, headers, credentials: "same-origin" };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  } else if (options.form) {
    init.body = options.form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, {
      type: "api_connection_error",
      code: "network_error",
      message: "Could not reach the Veritrain API. Check your connection and try again.",
      param: null,
    });
  }
  const text = await response.text();
  if (response.ok) return text ? JSON.parse(text) : null;
  const error = new ApiError(response.status, errorFields(response.status, text));
  if (response.status === 401 && csrfToken !== null) {
    csrfToken = null;
    onSessionEnded(error);
  }
  throw error;
}

/**
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
export const get = (path, signal) => call("GET", path, signal ? { signal } : {});

/**
 * @param {string} path
 * @param {unknown} body
 * @param {Record<string, string>} [headers]
 */
export const post = (path, body, headers = {}) => call("POST", path, { body, headers });

/**
 * Uploads a model or a dataset (POST /v1/files); the API inspects it before answering.
 * @param {"model" | "dataset"} purpose
 * @param {File} file
 * @param {string} idempotencyKey names this upload, so a retry after a lost answer is not stored twice
 */
export function uploadFile(purpose, file, idempotencyKey) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, file.name);
  return call("POST", "/v1/files", { form, headers: { "idempotency-key": idempotencyKey } });
}

/**
 * A list endpoint's URL for the page after `after` (the last id of the previous page).
 * @param {string} path
 * @param {string | number | undefined} after
 * @param {number} limit
 */
export function pagePath(path, after, limit) {
  const cursor = after === undefined ? "" : `&after=${encodeURIComponent(after)}`;
  return `${path}?limit=${limit}${cursor}`;
}
