// The typed client of the Veritrain API. Resources are namespaces (`vt.trainingJobs.create`);
// every method returns the API's own JSON objects (./types.ts) and throws VeritrainError.
//
//   const vt = new Veritrain({ apiKey: process.env.VERITRAIN_API_KEY });
//   const job = await vt.trainingJobs.create({ model, dataset, spec });
//   for await (const event of vt.trainingJobs.events(job.id)) console.log(event.type);
//   const { model: weights } = await vt.trainingJobs.verifiedModel(job.id, { publishedKey: true });
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Receipt,
  type ReceiptVerification,
  type VerifyReceiptOptions,
  verifyReceipt,
} from "../../protocol/receipt.ts";
import { ReceiptVerificationError, VeritrainConnectionError } from "./errors.ts";
import { sseMessages } from "./sse.ts";
import { backoffMs, type FetchLike, Transport } from "./transport.ts";
import type {
  ApiKey,
  ApiKeyWithSecret,
  Balance,
  BalanceTransaction,
  CheckoutSession,
  CheckoutSessionParams,
  Checkpoint,
  CreateApiKeyParams,
  CreateTrainingJobParams,
  CreateTrainingSweepParams,
  CreateWebhookEndpointParams,
  DeletedFile,
  DeletedWebhookEndpoint,
  FileListParams,
  FileObject,
  FilePurpose,
  JobEvent,
  List,
  ListParams,
  LogInParams,
  LogInResult,
  Payment,
  Quote,
  ReceiptKey,
  RevokedApiKey,
  SignUpParams,
  SignUpResult,
  StorageUsage,
  SweepEvent,
  SweepQuote,
  TrainingJob,
  TrainingJobParams,
  TrainingSweep,
  TrainingSweepParams,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from "./types.ts";
import { multipartUpload, type UploadProgress, type UploadSource } from "./upload-body.ts";

export interface VeritrainOptions {
  /**
   * vt_...; default the VERITRAIN_API_KEY environment variable. Without one, `auth.login` starts
   * a session the client then uses.
   */
  apiKey?: string;
  /** Default the VERITRAIN_BASE_URL environment variable, else a local stack (http://localhost:8080). */
  baseUrl?: string;
  /** Default the global fetch (Node 20). */
  fetch?: FetchLike;
  /** How often an idempotent request is retried after a network error, timeout, 429 or 5xx. Default 2. */
  maxRetries?: number;
  /**
   * How long one attempt of a request may take, in ms (a stream: until it starts), then it is
   * retried or fails with code `timeout`. Default 60 000; 0 waits for ever. Uploads take their own.
   */
  timeoutMs?: number;
}

/** Reads the environment where there is one (Node), and nothing in a browser. */
function fromEnvironment(name: string): string | undefined {
  const value = globalThis.process?.env?.[name]?.trim();
  return value ? value : undefined;
}

export interface CreateOptions {
  /** Names this creation: a retry with the same key returns the first result. Default a random UUID. */
  idempotencyKey?: string;
}

export interface UploadOptions extends CreateOptions {
  /** Called as the file's bytes are sent. */
  onProgress?: (progress: UploadProgress) => void;
  timeoutMs?: number;
}

export interface EventStreamOptions {
  /** Only events after this event id (default 0: the whole history, then live events). */
  after?: number;
  signal?: AbortSignal;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called with every event until the job's final one. */
  onEvent?: (event: JobEvent) => void;
}

/** A verification against the published keys, with the id of the key the receipt was checked against. */
export interface PublishedKeyVerification extends ReceiptVerification {
  /** rk_...; null when the API publishes no key (then nothing verifies). */
  keyId: string | null;
}

/**
 * Which key a receipt must be signed with: one you pinned (hex, from GET /v1/receipt-keys), or
 * `publishedKey: true` to fetch the published keys now. The key a receipt names is never enough.
 */
export type ReceiptKeyChoice = { platformPublicKey: string } | { publishedKey: true };

export interface VerifiedModel {
  /** The trained ONNX model. */
  model: Uint8Array;
  receipt: Receipt;
  verification: ReceiptVerification;
}

/**
 * The first page of a list when awaited; every item of every page with `for await`:
 *   const page = await vt.files.list({ limit: 20 });
 *   for await (const file of vt.files.list({ limit: 100 })) ...
 */
export type PagePromise<T> = Promise<List<T>> & AsyncIterable<T>;

function paginate<T extends { id: string }>(
  fetchPage: (after: string | undefined) => Promise<List<T>>,
  after: string | undefined,
): PagePromise<T> {
  const first = fetchPage(after);
  async function* all(): AsyncGenerator<T> {
    for (let page = await first; ; ) {
      yield* page.data;
      const last = page.data.at(-1);
      if (!page.has_more || last === undefined) return;
      page = await fetchPage(last.id);
    }
  }
  return Object.assign(first, { [Symbol.asyncIterator]: all });
}

const TERMINAL_EVENTS = new Set(["job.succeeded", "job.failed", "job.cancelled"]);
const path = (...segments: string[]) => `/v1/${segments.map(encodeURIComponent).join("/")}`;

/**
 * An event stream's events, past then live: it ends after an event `isFinal` says ends it, or,
 * when the server closes the stream, once `hasEnded` says the resource has ended. A dropped
 * connection is resumed from the last event received.
 */
async function* followEvents<E extends { id: number }>(
  http: Transport,
  streamPath: string,
  name: string,
  options: EventStreamOptions,
  end: { isFinal: (event: E) => boolean; hasEnded: () => Promise<boolean> },
): AsyncGenerator<E> {
  let lastId = options.after ?? 0;
  let failures = 0;
  for (;;) {
    const response = await http.send({
      method: "GET",
      path: streamPath,
      headers: { accept: "text/event-stream", ...(lastId > 0 ? { "last-event-id": String(lastId) } : {}) },
      signal: options.signal,
    });
    let cause: unknown = "the stream ended before the final event";
    try {
      for await (const message of sseMessages(response.body!)) {
        const event = JSON.parse(message.data) as E;
        lastId = event.id;
        failures = 0;
        yield event;
        if (end.isFinal(event)) return;
      }
      if (await end.hasEnded()) return;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      cause = error;
    }
    if (failures >= http.maxRetries) {
      throw new VeritrainConnectionError(`the event stream of ${name} broke after event ${lastId}`, cause);
    }
    await sleep(backoffMs(failures++), undefined, { signal: options.signal });
  }
}

class Auth {
  constructor(private readonly http: Transport) {}

  /** Creates a user and an organization; the result holds the first API key, shown once. */
  signup(params: SignUpParams): Promise<SignUpResult> {
    return this.http.json({ method: "POST", path: path("auth", "signup"), json: params });
  }

  /** Starts a portal session; a client without an API key then acts as that user. */
  async login(params: LogInParams): Promise<LogInResult> {
    const response = await this.http.send({ method: "POST", path: path("auth", "login"), json: params });
    const result = (await response.json()) as LogInResult;
    this.http.adoptSession(response, result.csrf_token);
    return result;
  }

  /** Ends the session login started. */
  async logout(): Promise<void> {
    await this.http.send({ method: "POST", path: path("auth", "logout") });
    this.http.forgetSession();
  }
}

class ApiKeys {
  constructor(private readonly http: Transport) {}

  list(params: ListParams = {}): PagePromise<ApiKey> {
    return paginate(
      (after) => this.http.json({ method: "GET", path: path("api-keys"), query: { ...params, after } }),
      params.after,
    );
  }

  /** The secret is in this result only. Not retried: the API keeps no replay of a secret. */
  create(params: CreateApiKeyParams): Promise<ApiKeyWithSecret> {
    return this.http.json({ method: "POST", path: path("api-keys"), json: params });
  }

  revoke(id: string): Promise<RevokedApiKey> {
    return this.http.json({ method: "DELETE", path: path("api-keys", id) });
  }
}

class Billing {
  constructor(private readonly http: Transport) {}

  balance(): Promise<Balance> {
    return this.http.json({ method: "GET", path: path("billing", "balance") });
  }

  transactions(params: ListParams = {}): PagePromise<BalanceTransaction> {
    return paginate(
      (after) =>
        this.http.json({ method: "GET", path: path("billing", "transactions"), query: { ...params, after } }),
      params.after,
    );
  }

  /** Card payments, newest first, with the failed ones: a delayed payment method can fail. */
  payments(params: ListParams = {}): PagePromise<Payment> {
    return paginate(
      (after) =>
        this.http.json({ method: "GET", path: path("billing", "payments"), query: { ...params, after } }),
      params.after,
    );
  }

  /**
   * A Checkout Session for prepaid credits: send the user to its `url`, Stripe's page, or on a
   * development stack without Stripe keys the API's own test payment page.
   */
  createCheckoutSession(
    params: CheckoutSessionParams,
    options: CreateOptions = {},
  ): Promise<CheckoutSession> {
    return this.http.json({
      method: "POST",
      path: path("billing", "checkout-sessions"),
      json: params,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
    });
  }

  /**
   * Pays a local stack's test checkout (a `cs_local_...` session) as its page's Pay button does:
   * no card, and the credits arrive through the same webhook handling as a Stripe payment.
   * Paying twice credits once, so a retry is safe.
   */
  async payLocalCheckout(sessionId: string): Promise<void> {
    await this.http.send({
      method: "POST",
      path: path("billing", "local-checkout", sessionId, "pay"),
      effectFree: true,
      redirect: "manual",
    });
  }
}

class ReceiptKeys {
  constructor(private readonly http: Transport) {}

  /** The keys the platform signs receipts with: verify receipts against these, not the key inside. */
  list(): Promise<List<ReceiptKey>> {
    return this.http.json({ method: "GET", path: path("receipt-keys") });
  }

  /**
   * Verifies a receipt offline against the keys the platform publishes: the key the receipt names
   * only picks among them, as a key id would, so a receipt signed with any other key fails. To
   * trust the API less, pin a key once and pass it to verifyReceipt yourself.
   */
  async verify(
    receipt: Receipt,
    modelBytes: Uint8Array,
    options: Omit<VerifyReceiptOptions, "platformPublicKey"> = {},
  ): Promise<PublishedKeyVerification> {
    const keys = await this.list();
    const named = receipt.body?.platform?.public_key;
    const key = keys.data.find((k) => k.public_key === named) ?? keys.data[0];
    if (!key) {
      return {
        keyId: null,
        valid: false,
        checks: [{ name: "platform_signature", ok: false, detail: "the API publishes no receipt key" }],
      };
    }
    return {
      keyId: key.id,
      ...verifyReceipt(receipt, modelBytes, { ...options, platformPublicKey: key.public_key }),
    };
  }
}

class Files {
  constructor(private readonly http: Transport) {}

  /**
   * Uploads a model (ONNX) or a dataset (safetensors, .npy, .npz, CSV) from a file path, bytes, a
   * Blob or a stream; the API inspects it. The file streams from disk, never whole in memory.
   * The file name defaults to the path's. No timeout unless `options.timeoutMs` sets one.
   */
  async upload(
    purpose: FilePurpose,
    source: UploadSource,
    filename?: string,
    options: UploadOptions = {},
  ): Promise<FileObject> {
    const multipart = await multipartUpload({ purpose }, source, filename, options.onProgress);
    return this.http.json({
      method: "POST",
      path: path("files"),
      multipart,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
      timeoutMs: options.timeoutMs ?? 0,
    });
  }

  list(params: FileListParams = {}): PagePromise<FileObject> {
    return paginate(
      (after) => this.http.json({ method: "GET", path: path("files"), query: { ...params, after } }),
      params.after,
    );
  }

  /** Bytes of live files and the organization's storage quota. */
  async storage(): Promise<StorageUsage> {
    const page = await this.http.json<{ storage: StorageUsage }>({
      method: "GET",
      path: path("files"),
      query: { limit: 1 },
    });
    return page.storage;
  }

  get(id: string): Promise<FileObject> {
    return this.http.json({ method: "GET", path: path("files", id) });
  }

  /** The bytes as uploaded. */
  content(id: string): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: path("files", id, "content"), headers: { accept: "*/*" } });
  }

  delete(id: string): Promise<DeletedFile> {
    return this.http.json({ method: "DELETE", path: path("files", id) });
  }
}

class TrainingJobs {
  constructor(
    private readonly http: Transport,
    private readonly receiptKeys: ReceiptKeys,
  ) {}

  /** The price and plan of a job, without creating it. */
  quote(params: TrainingJobParams): Promise<Quote> {
    return this.http.json({
      method: "POST",
      path: path("training-jobs", "quote"),
      json: params,
      effectFree: true,
    });
  }

  /** Reserves the price from the balance and queues the job. */
  create(params: CreateTrainingJobParams, options: CreateOptions = {}): Promise<TrainingJob> {
    return this.http.json({
      method: "POST",
      path: path("training-jobs"),
      json: params,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
    });
  }

  get(id: string): Promise<TrainingJob> {
    return this.http.json({ method: "GET", path: path("training-jobs", id) });
  }

  list(params: ListParams = {}): PagePromise<TrainingJob> {
    return paginate(
      (after) => this.http.json({ method: "GET", path: path("training-jobs"), query: { ...params, after } }),
      params.after,
    );
  }

  /** Cancels a queued or running job; its reserved credits are released. */
  cancel(id: string): Promise<TrainingJob> {
    return this.http.json({ method: "POST", path: path("training-jobs", id, "cancel") });
  }

  /** The checkpoints stored so far: the Merkle leaves the receipt will commit to. */
  async checkpoints(id: string): Promise<Checkpoint[]> {
    const list = await this.http.json<{ data: Checkpoint[] }>({
      method: "GET",
      path: path("training-jobs", id, "checkpoints"),
    });
    return list.data;
  }

  /**
   * The job's events, past then live, ending after its final event (job.succeeded, job.failed
   * or job.cancelled). A dropped connection is resumed from the last event received.
   */
  events(id: string, options: EventStreamOptions = {}): AsyncGenerator<JobEvent> {
    return followEvents<JobEvent>(this.http, path("training-jobs", id, "events"), id, options, {
      isFinal: (event) => TERMINAL_EVENTS.has(event.type),
      hasEnded: async () => TERMINAL_EVENTS.has(`job.${(await this.get(id)).status}`),
    });
  }

  /** Follows the job to its end and returns it: succeeded, failed or cancelled. */
  async waitFor(id: string, options: WaitOptions = {}): Promise<TrainingJob> {
    for await (const event of this.events(id, { signal: options.signal })) {
      options.onEvent?.(event);
    }
    return this.get(id);
  }

  /**
   * The trained model of a succeeded job (409 model_not_ready before): ONNX, the bytes the receipt
   * attests, or `format: "safetensors"`, its weights keyed by initializer name for PyTorch's
   * `load_state_dict` (derived from that ONNX: modelWeightsAsSafetensors gives the same file from
   * a verified ONNX model offline).
   */
  model(id: string, options: { format?: "onnx" | "safetensors" } = {}): Promise<Uint8Array> {
    return this.http.bytes({
      method: "GET",
      path: path("training-jobs", id, "model"),
      query: options.format ? { format: options.format } : {},
      headers: { accept: "application/octet-stream" },
    });
  }

  /** One checkpoint's canonical bytes: its SHA-256 is the leaf `checkpoints()` lists for `step`. */
  checkpointContent(id: string, step: number): Promise<Uint8Array> {
    return this.http.bytes({
      method: "GET",
      path: path("training-jobs", id, "checkpoints", String(step), "content"),
      headers: { accept: "application/octet-stream" },
    });
  }

  /** The platform-signed receipt of a succeeded job; 409 receipt_not_ready before. */
  receipt(id: string): Promise<Receipt> {
    return this.http.json({ method: "GET", path: path("training-jobs", id, "receipt") });
  }

  /**
   * Downloads the model and its receipt and verifies the receipt offline: the platform's
   * signature (against the key you pinned, or the published ones with `publishedKey: true`), the
   * model's hash, the checkpoint Merkle root, the worker's commitment and every audit. Throws
   * ReceiptVerificationError naming every check that failed.
   */
  async verifiedModel(id: string, key: ReceiptKeyChoice): Promise<VerifiedModel> {
    // Fetched at once; when both fail, the model's error is the one thrown, whichever answered first.
    const [fetchedModel, fetchedReceipt] = await Promise.allSettled([this.model(id), this.receipt(id)]);
    if (fetchedModel.status === "rejected") throw fetchedModel.reason;
    if (fetchedReceipt.status === "rejected") throw fetchedReceipt.reason;
    const [model, receipt] = [fetchedModel.value, fetchedReceipt.value];
    // A plain-JavaScript caller may pass nothing: verifyReceipt then fails the signature check.
    const choice: Partial<{ platformPublicKey: string; publishedKey: true }> = key ?? {};
    const verification =
      choice.publishedKey === true
        ? await this.receiptKeys.verify(receipt, model)
        : verifyReceipt(receipt, model, { platformPublicKey: choice.platformPublicKey as string });
    if (!verification.valid) throw new ReceiptVerificationError(id, verification);
    return { model, receipt, verification };
  }
}

class TrainingSweeps {
  constructor(private readonly http: Transport) {}

  /** Every job's quote and their total, without creating anything. */
  quote(params: TrainingSweepParams): Promise<SweepQuote> {
    return this.http.json({
      method: "POST",
      path: path("training-jobs", "sweeps", "quote"),
      json: params,
      effectFree: true,
    });
  }

  /**
   * Creates one job per variant (a `grid`'s every combination, or each of `variants`), reserving
   * all their prices at once: a balance short of the total creates nothing.
   */
  create(params: CreateTrainingSweepParams, options: CreateOptions = {}): Promise<TrainingSweep> {
    return this.http.json({
      method: "POST",
      path: path("training-jobs", "sweeps"),
      json: params,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
    });
  }

  /** The summary: jobs by status, each job's objective value, the best job, cost so far. */
  get(id: string): Promise<TrainingSweep> {
    return this.http.json({ method: "GET", path: path("training-jobs", "sweeps", id) });
  }

  list(params: ListParams = {}): PagePromise<TrainingSweep> {
    return paginate(
      (after) =>
        this.http.json({ method: "GET", path: path("training-jobs", "sweeps"), query: { ...params, after } }),
      params.after,
    );
  }

  /** Cancels the queued and running jobs; jobs being verified finish. */
  cancel(id: string): Promise<TrainingSweep> {
    return this.http.json({ method: "POST", path: path("training-jobs", "sweeps", id, "cancel") });
  }

  /** Every job's events, past then live, each naming its job; ends once every job has ended. */
  events(id: string, options: EventStreamOptions = {}): AsyncGenerator<SweepEvent> {
    return followEvents<SweepEvent>(this.http, path("training-jobs", "sweeps", id, "events"), id, options, {
      isFinal: () => false,
      hasEnded: async () => (await this.get(id)).status !== "running",
    });
  }

  /** Follows the sweep until every job has ended and returns its summary. */
  async waitFor(
    id: string,
    options: { signal?: AbortSignal; onEvent?: (event: SweepEvent) => void } = {},
  ): Promise<TrainingSweep> {
    for await (const event of this.events(id, { signal: options.signal })) options.onEvent?.(event);
    return this.get(id);
  }
}

class WebhookEndpoints {
  constructor(private readonly http: Transport) {}

  /**
   * Registers an endpoint for `events`; the answer holds its signing secret, shown only here. Not
   * retried on its own (the API takes no Idempotency-Key for it: a replay would have to store the
   * secret); a lost answer leaves an endpoint that `list` shows and `delete` removes.
   */
  create(params: CreateWebhookEndpointParams): Promise<WebhookEndpointWithSecret> {
    return this.http.json({ method: "POST", path: path("webhook-endpoints"), json: params });
  }

  list(params: ListParams = {}): PagePromise<WebhookEndpoint> {
    return paginate(
      (after) =>
        this.http.json({ method: "GET", path: path("webhook-endpoints"), query: { ...params, after } }),
      params.after,
    );
  }

  get(id: string): Promise<WebhookEndpoint> {
    return this.http.json({ method: "GET", path: path("webhook-endpoints", id) });
  }

  /** Deletes the endpoint and its delivery log; queued deliveries are dropped. */
  delete(id: string): Promise<DeletedWebhookEndpoint> {
    return this.http.json({ method: "DELETE", path: path("webhook-endpoints", id) });
  }

  /** A new signing secret; the old one keeps signing beside it for 24 hours. */
  rotateSecret(id: string): Promise<WebhookEndpointWithSecret> {
    return this.http.json({ method: "POST", path: path("webhook-endpoints", id, "rotate-secret") });
  }

  /** Queues a webhook.test event to the endpoint; the answer is its delivery. */
  sendTest(id: string): Promise<WebhookDelivery> {
    return this.http.json({ method: "POST", path: path("webhook-endpoints", id, "test") });
  }

  /** The endpoint's delivery log, newest first. */
  deliveries(id: string, params: ListParams = {}): PagePromise<WebhookDelivery> {
    return paginate(
      (after) =>
        this.http.json({
          method: "GET",
          path: path("webhook-endpoints", id, "deliveries"),
          query: { ...params, after },
        }),
      params.after,
    );
  }
}

export class Veritrain {
  readonly auth: Auth;
  readonly apiKeys: ApiKeys;
  readonly billing: Billing;
  readonly files: Files;
  readonly trainingJobs: TrainingJobs;
  /** Many jobs from one base request: `vt.sweeps.create({ ...job, grid: { "optimizer.lr": [0.01, 0.02] } })`. */
  readonly sweeps: TrainingSweeps;
  readonly receiptKeys: ReceiptKeys;
  readonly webhookEndpoints: WebhookEndpoints;

  constructor(options: VeritrainOptions = {}) {
    const http = new Transport({
      apiKey: options.apiKey ?? fromEnvironment("VERITRAIN_API_KEY"),
      baseUrl: options.baseUrl ?? fromEnvironment("VERITRAIN_BASE_URL") ?? "http://localhost:8080",
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      maxRetries: options.maxRetries ?? 2,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    this.auth = new Auth(http);
    this.apiKeys = new ApiKeys(http);
    this.billing = new Billing(http);
    this.files = new Files(http);
    this.receiptKeys = new ReceiptKeys(http);
    this.trainingJobs = new TrainingJobs(http, this.receiptKeys);
    this.sweeps = new TrainingSweeps(http);
    this.webhookEndpoints = new WebhookEndpoints(http);
  }
}
