// The client's HTTP layer: authentication, the API's error shape, and retries. A request is
// retried (network failure, 429, 5xx) only when sending it again cannot do anything twice:
// GET and DELETE, POSTs that carry an Idempotency-Key (the API replays the first response),
// and POSTs the caller marks as free of effects.
import { setTimeout as sleep } from "node:timers/promises";
import { VeritrainConnectionError, VeritrainError } from "./errors.ts";
import type { MultipartBody } from "./upload-body.ts";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  apiKey: string | undefined;
  baseUrl: string;
  fetch: FetchLike;
  maxRetries: number;
  /** How long one attempt may take, in ms; 0 waits for ever. */
  timeoutMs: number;
}

export interface RequestSpec {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  multipart?: MultipartBody;
  idempotencyKey?: string;
  /** A POST with no effect (a quote), or none when repeated: as safe to send again as a GET. */
  effectFree?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Take a redirect as the answer instead of following it. */
  redirect?: "manual";
  /** Overrides the client's timeout for this request (an upload of gigabytes takes longer). */
  timeoutMs?: number;
}

/** A timer per attempt, its abort joined to the caller's signal. */
class AttemptTimer {
  private readonly controller = new AbortController();
  private readonly handle: NodeJS.Timeout | undefined;
  readonly signal: AbortSignal;

  constructor(timeoutMs: number, callerSignal: AbortSignal | undefined) {
    if (timeoutMs > 0) this.handle = setTimeout(() => this.controller.abort(), timeoutMs);
    this.signal = callerSignal
      ? AbortSignal.any([callerSignal, this.controller.signal])
      : this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  stop(): void {
    clearTimeout(this.handle);
  }
}

const SESSION_COOKIE = "vt_session";
const MAX_DELAY_MS = 20_000;

/** Exponential with jitter: about 0.5 s, 1 s, 2 s, ... so clients that failed together spread out. */
export function backoffMs(attempt: number): number {
  const ceiling = Math.min(MAX_DELAY_MS, 500 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Retry-After in seconds (or an HTTP date), when the API says how long to wait. */
function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get("retry-after");
  if (header === null) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_DELAY_MS) : undefined;
}

async function errorFrom(response: Response): Promise<VeritrainError> {
  const requestId = response.headers.get("x-request-id");
  const text = await response.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as {
      error: { type: string; code: string; message: string; param: string | null };
    };
    if (typeof error.code === "string" && typeof error.message === "string") {
      return new VeritrainError({ status: response.status, ...error, param: error.param ?? null, requestId });
    }
  } catch {
    // Not the API's error shape (a proxy's page, say): the status and text are all there is.
  }
  return new VeritrainError({
    status: response.status,
    type: response.status >= 500 ? "api_error" : "invalid_request_error",
    code: `http_${response.status}`,
    message: `${response.status} ${response.statusText}: ${text.slice(0, 300)}`.trim(),
    param: null,
    requestId,
  });
}

function shouldRetry(status: number, error: VeritrainError): boolean {
  // The first request with this Idempotency-Key is still running; once it ends, the retry replays it.
  if (status === 409) return error.code === "idempotency_request_in_progress";
  return status === 429 || status >= 500;
}

export class Transport {
  private session: { token: string; csrfToken: string } | undefined;
  private readonly baseUrl: string;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
  }

  get maxRetries(): number {
    return this.options.maxRetries;
  }

  /** Adopts the portal session a login response set, for clients without an API key. */
  adoptSession(response: Response, csrfToken: string): void {
    const prefix = `${SESSION_COOKIE}=`;
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith(prefix));
    if (cookie) this.session = { token: cookie.slice(prefix.length).split(";")[0]!, csrfToken };
  }

  forgetSession(): void {
    this.session = undefined;
  }

  /** The JSON body of a successful request; the timeout covers the whole body. */
  json<T>(spec: RequestSpec): Promise<T> {
    return this.request(spec, async (response) => (await response.json()) as T);
  }

  bytes(spec: RequestSpec): Promise<Uint8Array> {
    return this.request(spec, async (response) => new Uint8Array(await response.arrayBuffer()));
  }

  /**
   * The response of a successful request, its body unread (a stream): the timeout covers waiting
   * for the response to start, not reading it. Every failure is thrown as a VeritrainError.
   */
  send(spec: RequestSpec): Promise<Response> {
    return this.request(spec, async (response) => response, { bodyTimed: false });
  }

  private async request<T>(
    spec: RequestSpec,
    read: (response: Response) => Promise<T>,
    { bodyTimed = true } = {},
  ): Promise<T> {
    const retryable =
      (spec.method !== "POST" || spec.idempotencyKey !== undefined || spec.effectFree === true) &&
      spec.multipart?.replayable !== false;
    const url = this.url(spec);
    const timeoutMs = spec.timeoutMs ?? this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const retriesLeft = retryable && attempt < this.options.maxRetries;
      const timer = new AttemptTimer(timeoutMs, spec.signal);
      let response: Response;
      let result: T;
      try {
        response = await this.options.fetch(url, {
          method: spec.method,
          headers: this.headers(spec),
          body: spec.multipart?.open() ?? (spec.json === undefined ? undefined : JSON.stringify(spec.json)),
          signal: timer.signal,
          redirect: spec.redirect ?? "follow",
          // A streamed request body must say so to Node's fetch.
          ...(spec.multipart ? { duplex: "half" } : {}),
        });
        if (!bodyTimed) timer.stop();
        const redirected = spec.redirect === "manual" && response.status >= 300 && response.status < 400;
        if (!response.ok && !redirected) {
          timer.stop();
          const error = await errorFrom(response);
          if (!retriesLeft || !shouldRetry(response.status, error)) throw error;
          await sleep(retryAfterMs(response) ?? backoffMs(attempt), undefined, { signal: spec.signal });
          continue;
        }
        result = await read(response);
      } catch (error) {
        timer.stop();
        if (error instanceof VeritrainError || spec.signal?.aborted) throw error;
        if (retriesLeft) {
          await sleep(backoffMs(attempt), undefined, { signal: spec.signal });
          continue;
        }
        if (timer.expired) {
          throw new VeritrainConnectionError(
            `${spec.method} ${spec.path}: no answer within ${timeoutMs} ms`,
            error,
            "timeout",
          );
        }
        const reason = error instanceof Error ? (error.cause ?? error) : error;
        throw new VeritrainConnectionError(
          `${spec.method} ${spec.path}: ${reason instanceof Error ? reason.message : String(reason)}`,
          error,
        );
      }
      timer.stop();
      return result;
    }
  }

  private url(spec: RequestSpec): string {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const search = query.size > 0 ? `?${query}` : "";
    return `${this.baseUrl}${spec.path}${search}`;
  }

  private headers(spec: RequestSpec): Record<string, string> {
    const headers: Record<string, string> = { accept: "application/json", ...spec.headers };
    if (spec.json !== undefined) headers["content-type"] = "application/json";
    if (spec.multipart) headers["content-type"] = spec.multipart.contentType;
    if (spec.idempotencyKey !== undefined) headers["idempotency-key"] = spec.idempotencyKey;
    if (this.options.apiKey !== undefined) {
      headers.authorization = `Bearer ${this.options.apiKey}`;
    } else if (this.session) {
      headers.cookie = `${SESSION_COOKIE}=${this.session.token}`;
      if (spec.method !== "GET") headers["x-csrf-token"] = this.session.csrfToken;
    }
    return headers;
  }
}
