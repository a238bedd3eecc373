// The API's resources as the client returns them. Written by hand for readability; the API's
// TypeBox schemas are checked against them at compile time (api/schemas/sdk-conformance.ts),
// so a change on either side that breaks the other fails `tsc`.
import type { EpochMetrics } from "../../protocol/node-wire.ts";

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

export interface DatasetDetails {
  format: "safetensors" | "npy" | "npz" | "csv";
  tensors: Array<{ name: string; dtype: string; shape: number[] }>;
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
   * thorough 99.99 %; the API defaults to "standard".
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
