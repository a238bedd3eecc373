// The API's resources as the client returns them. Written by hand for readability; the API's
// TypeBox schemas are checked against them at compile time (api/schemas/sdk-conformance.ts),
// so a change on either side that breaks the other fails `tsc`.
import type { EpochMetrics } from "../../protocol/node-wire.ts";
import type { WebhookEventType } from "../../protocol/webhook-event-types.ts";

/** One page of a list: newest first; pass the last id as `after` for the next page. */
export interface List<T> {
  data: T[];
  has_more: boolean;
}

export interface ListParams {
  /** Page size, 1 to 100 (default 10). */
  limit?: number;
  /** Cursor: the last id of the previous page. */
  after?: string;
}

export interface User {
  id: string;
  email: string;
  organization_id: string;
  created_at: string;
}

export interface Organization {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKey {
  id: string;
  name: string;
  /** The key's first characters, to recognise it. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface CreateApiKeyParams {
  /** What the key is for. */
  name: string;
}

export interface ApiKeyWithSecret extends ApiKey {
  /** vt_...; shown only in the response that created the key. */
  secret: string;
}

export interface RevokedApiKey extends ApiKey {
  revoked_at: string;
}

export interface SignUpParams {
  email: string;
  /** At least 10 characters. */
  password: string;
  /** Defaults to the email address. */
  organization_name?: string;
}

export interface SignUpResult {
  user: User;
  organization: Organization;
  /** The organization's first API key: pass `api_key.secret` as `apiKey` to a new client. */
  api_key: ApiKeyWithSecret;
}

export interface LogInParams {
  email: string;
  password: string;
}

export interface LogInResult {
  user: User;
  csrf_token: string;
  expires_at: string;
}

/** Credits in US cents. */
export interface Balance {
  available_cents: number;
  reserved_cents: number;
}

export interface BalanceTransaction {
  id: string;
  type: "top_up" | "reservation" | "release" | "charge" | "refund" | "dispute";
  description: string;
  available_change_cents: number;
  reserved_change_cents: number;
  created_at: string;
}

/** A card payment for credits (a Stripe Checkout Session). */
export interface Payment {
  /** The Checkout Session: cs_... */
  id: string;
  /** processing: a delayed method has not settled, nothing credited yet; failed: nothing credited. */
  status: "processing" | "paid" | "failed";
  amount_cents: number;
  refunded_cents: number;
  disputed_cents: number;
  /** The payment's receipt page; null until there is one (a delayed method: once it settles). */
  receipt_url: string | null;
  created_at: string;
  updated_at: string;
}

export interface CheckoutSessionParams {
  /** Credits to buy, in US cents. */
  amount_cents: number;
  success_url: string;
  cancel_url: string;
}

export interface CheckoutSession {
  /** The Checkout Session id: cs_..., or cs_local_... for a local stack's test payment. */
  id: string;
  /** Where to send the user to pay. */
  url: string;
  amount_cents: number;
  currency: string;
  expires_at: string;
}

/** Where Veritrain POSTs events, signed per Standard Webhooks. */
export interface WebhookEndpoint {
  /** whep_... */
  id: string;
  object: "webhook_endpoint";
  url: string;
  description: string;
  events: string[];
  created_at: string;
}

/** A new or rotated endpoint: its signing secret is only in this answer. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  /** whsec_...: verify each delivery's webhook-signature with it (any Standard Webhooks library). */
  secret: string;
}

export interface CreateWebhookEndpointParams {
  /** In production: https, and a host that resolves only to public addresses. */
  url: string;
  events: WebhookEventType[];
  description?: string;
}

export interface DeletedWebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  deleted: true;
}

/** One event sent (or being sent) to an endpoint, with its attempts. */
export interface WebhookDelivery {
  /** msg_...: the webhook-id header of every attempt. */
  id: string;
  object: "webhook_delivery";
  endpoint: string;
  event_type: string;
  /** pending while attempts remain; failed after the last retry, about a day after the first. */
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  last_attempt_at: string | null;
}

/** A key the platform signs receipts with, as GET /v1/receipt-keys publishes it. */
export interface ReceiptKey {
  /** rk_...: a digest of the public key. */
  id: string;
  algorithm: "ed25519";
  /** The raw 32-byte public key, hex: pass it to verifyReceipt as `platformPublicKey`. */
  public_key: string;
  public_key_pem: string;
  /** When a development stack made the key; null for a key the deployment configured. */
  created_at: string | null;
}

export type FilePurpose = "model" | "dataset";

export interface ModelDetails {
  opset: number;
  inputs: Array<{ name: string; dtype: string; shape: Array<number | string> }>;
  outputs: Array<{ name: string; dtype: string; shape: Array<number | string> }>;
  /** Float initializers: what a training job may update. */
  parameters: Array<{ name: string; dtype: string; shape: number[] }>;
  parameter_count: number;
  /** Node count per operator type. */
  operators: Record<string, number>;
}

/** A dataset tensor's values in brief, which a quote checks against the model. */
export interface ValueRange {
  /** The smallest finite value; null when none is finite. */
  min: number | null;
  /** The largest finite value; null when none is finite. */
  max: number | null;
  /** How many values are NaN or infinite. */
  non_finite: number;
}

export interface DatasetDetails {
  format: "safetensors" | "npy" | "npz" | "csv";
  /** `range` is absent for datasets uploaded before it was recorded. */
  tensors: Array<{ name: string; dtype: string; shape: number[]; range?: ValueRange }>;
  /** Length of axis 0 shared by every tensor; null when they differ. */
  sample_count: number | null;
}

/** The organization's stored files against its quota (every GET /v1/files page carries it). */
export interface StorageUsage {
  /** Bytes of live (not deleted) files. */
  used_bytes: number;
  /** The most they may total; an upload past it answers 413 storage_quota_exceeded. */
  quota_bytes: number;
}

/** An uploaded model or dataset. */
export interface FileObject {
  id: string;
  purpose: FilePurpose;
  filename: string;
  bytes: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
  created_at: string;
  details: ModelDetails | DatasetDetails;
}

export interface DeletedFile extends FileObject {
  deleted_at: string;
}

export interface FileListParams extends ListParams {
  purpose?: FilePurpose;
}

export type VerificationLevel = "basic" | "standard" | "thorough";

/**
 * What to train and how: input mapping, target, loss, optimizer, schedule, steps, checkpoints;
 * the same spec `veritrain train --spec` takes, typed from its schema
 * (worker-runtime/train/training-spec.schema.json).
 */
import type { TrainingSpec } from "./training-spec.ts";

export type { TrainingSpec };

export interface TrainingJobParams {
  /** Id of a file uploaded with purpose "model". */
  model: string;
  /** Id of a file uploaded with purpose "dataset". */
  dataset: string;
  spec: TrainingSpec;
  /**
   * How likely verifiers catch a worker faking 10 % of the segments: basic 99 %, standard 99.9 %,
   * thorough 99.99 %; the API defaults to "basic".
   */
  verification?: VerificationLevel;
  /** Refuse to create the job if it would cost more than this. */
  max_price_cents?: number;
}

export interface CreateTrainingJobParams extends TrainingJobParams {
  /**
   * Seconds the job may wait for a worker; past them a job not yet started ends (cancelled,
   * nothing charged, event job.expired). Without it the job waits until taken or cancelled.
   */
  expires_after?: number;
  /**
   * Start from the weights of a checkpoint of one of your succeeded jobs (its last by default)
   * instead of the model's own; the model must have that job's inputs, outputs, operators and
   * parameters. The optimizer starts afresh at step 0.
   */
  init_from?: { job: string; step?: number };
}

/** The checkpoint whose weights a job started from. */
export interface InitFrom {
  job: string;
  step: number;
  checkpoint_sha256: string;
}

export interface Quote {
  object: "quote";
  model: string;
  dataset: string;
  verification: VerificationLevel;
  train_samples: number;
  total_steps: number;
  checkpoints: number;
  /** Estimated FLOPs of one training step (forward, backward, update). */
  flops_per_step: number;
  total_flops: number;
  price: {
    compute_cents: number;
    verification_cents: number;
    platform_fee_cents: number;
    total_cents: number;
    audited_segments: number;
  };
  /** What verifiers replay and how likely they catch a worker faking 10 % of the segments. */
  audit: {
    level: VerificationLevel;
    segments: number;
    audited_segments: number;
    detection_probability: number;
  };
  within_price_cap: boolean;
}

/** One finished epoch's metrics: training loss and accuracy, and the validation split's. */
export type { EpochMetrics };

export type JobStatus = "queued" | "running" | "verifying" | "succeeded" | "failed" | "cancelled";

export interface TrainingJob {
  id: string;
  object: "training_job";
  status: JobStatus;
  failure_reason: string | null;
  model: string;
  dataset: string;
  spec: unknown;
  verification: VerificationLevel;
  total_steps: number;
  steps_completed: number;
  price: { quoted_cents: number; reserved_cents: number; charged_cents: number | null };
  result: { model_sha256: string | null };
  /** Each finished epoch's metrics so far, in order (each also arrives as a training.epoch event). */
  metrics: EpochMetrics[];
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  /** When the job stops waiting for the network if it has not started; null: never. */
  expires_at: string | null;
  /** The checkpoint whose weights the job started from (`model` is then the platform's derivation); null: the model's own. */
  init_from: InitFrom | null;
  /** The sweep the job was created in; null for a job created alone. */
  sweep: string | null;
  /** Its place in the line of jobs waiting for a worker (1: next); null once dispatched, and in lists. */
  queue_position: number | null;
  /** When it should leave the line, at the network's recent rate; null when unknown. */
  estimated_start_at: string | null;
}

/** One step of a job's progress: job.created, training.progress, job.succeeded, ... */
export interface JobEvent {
  /** Increasing per job. */
  id: number;
  type: string;
  data: Record<string, unknown>;
  created_at: string;
}

export interface Checkpoint {
  step: number;
  /** SHA-256 of the checkpoint's canonical bytes: a Merkle leaf of the receipt. */
  sha256: string;
  bytes: number;
  created_at: string;
}

/**
 * What one job of a sweep changes from the base request: `model` (another uploaded model's file id)
 * or a dotted path into the spec, `{ "optimizer.lr": 0.02, "epochs": 3 }`.
 */
export type SweepSettings = Record<string, unknown>;

export type SweepObjectiveMetric = "val_loss" | "val_accuracy" | "train_loss" | "train_accuracy";

/** Which metric of each job's last epoch ranks the sweep's jobs. */
export interface SweepObjective {
  metric: SweepObjectiveMetric;
  /** Default: minimize for a loss, maximize for an accuracy. */
  goal?: "minimize" | "maximize";
}

/** A base job request and exactly one of `grid` or `variants`; at most 64 jobs. */
export interface TrainingSweepParams extends TrainingJobParams {
  /** Every combination of these values is one job: `{ "optimizer.lr": [0.01, 0.02], "epochs": [2, 3] }`. */
  grid?: Record<string, unknown[]>;
  /** One job per entry; `{}` runs the base request as it is. */
  variants?: SweepSettings[];
  /** Default: the validation loss when the spec has validation data, else the training loss. */
  objective?: SweepObjective;
  /** Refuse to create the sweep if all its jobs together cost more than this. */
  max_price_cents?: number;
}

export interface CreateTrainingSweepParams extends TrainingSweepParams {
  /** Seconds each job may wait for a worker (as a job's `expires_after`). */
  expires_after?: number;
  /**
   * Every job starts from the weights of this checkpoint of one of your succeeded jobs (as a job's
   * `init_from`); each model the sweep trains must be that job's graph.
   */
  init_from?: { job: string; step?: number };
}

export interface SweepQuote {
  object: "sweep_quote";
  job_count: number;
  total_steps: number;
  total_flops: number;
  price: {
    compute_cents: number;
    verification_cents: number;
    platform_fee_cents: number;
    /** What creating the sweep reserves: every job's price. */
    total_cents: number;
  };
  variants: Array<{ settings: SweepSettings; model: string; total_steps: number; price_cents: number }>;
  within_price_cap: boolean;
}

export interface TrainingSweep {
  id: string;
  object: "training_sweep";
  /** running while any job is queued, running or verifying; then completed, or cancelled. */
  status: "running" | "completed" | "cancelled";
  model: string;
  dataset: string;
  spec: unknown;
  verification: VerificationLevel;
  objective: Required<SweepObjective>;
  job_count: number;
  counts: Record<JobStatus, number>;
  /** One per variant, in the order of the request. */
  jobs: Array<{
    id: string;
    status: JobStatus;
    settings: SweepSettings;
    steps_completed: number;
    total_steps: number;
    /** The objective metric of the job's last epoch; null before its first epoch. */
    objective_value: number | null;
  }>;
  /** The succeeded job with the best objective value; null until one has succeeded. */
  best: { id: string; settings: SweepSettings; objective_value: number } | null;
  price: { quoted_cents: number; reserved_cents: number; charged_cents: number };
  created_at: string;
  cancelled_at: string | null;
}

/** A job's event in a sweep's stream, naming the job. */
export interface SweepEvent extends JobEvent {
  job: string;
}
