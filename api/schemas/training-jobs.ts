import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { TrainingSpecSchema } from "../../worker-runtime/train/spec.ts";
import { VERIFICATION_LEVELS } from "../services/pricing.ts";
import { listOf, StringEnum } from "./common.ts";
import { EpochMetricsSchema } from "./nodes.ts";

// The training engine's own spec schema, inlined (its $id names the published file).
const { $id: _publishedId, ...specSchema } = TrainingSpecSchema;
/** The spec of the MLP in worker-runtime/fixtures, which the README trains. */
export const EXAMPLE_SPEC = {
  inputs: { input: "x_train" },
  target: "y_train",
  output: "logits",
  validation: { inputs: { input: "x_val" }, target: "y_val" },
  loss: { type: "cross_entropy" },
  epochs: 10,
  batch_size: 32,
  optimizer: { type: "sgd", lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0001 },
  schedule: { type: "cosine" },
  seed: 7,
  checkpoint_every: 90,
};

export const TrainingSpec = Type.Unsafe<Static<typeof TrainingSpecSchema>>({
  ...(specSchema as TSchema),
  title: "TrainingSpec",
  examples: [EXAMPLE_SPEC],
  description:
    "What to train and how: input mapping, target, loss, optimizer, schedule, steps, checkpoints. " +
    "The same spec `veritrain train --spec` takes (worker-runtime/train/training-spec.schema.json).",
});

export const JobRequest = Type.Object(
  {
    model: Type.String({ description: "Id of a file uploaded with purpose 'model'", examples: ["file_..."] }),
    dataset: Type.String({ description: "Id of a file uploaded with purpose 'dataset'" }),
    spec: TrainingSpec,
    verification: StringEnum(VERIFICATION_LEVELS, {
      description:
        "How likely verifiers catch a worker that fakes 10% of the segments: basic 99%, standard 99.9%, thorough 99.99%. Each level audits the fewest segments that reach its target and make faking even one segment cost the worker more in expected slash than it saves (docs/verification.md)",
      default: "basic",
    }),
    max_price_cents: Type.Optional(
      Type.Integer({ minimum: 1, description: "Refuse to create the job if it would cost more than this" }),
    ),
  },
  { additionalProperties: false, title: "TrainingJobRequest" },
);

/** Longest wait a job may ask for: a week. */
const MAX_EXPIRES_AFTER = 7 * 24 * 3600;

const InitFromRequest = Type.Object(
  {
    job: Type.String({
      description: "A succeeded training job of yours, job_..., with the same model graph",
    }),
    step: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: "One of its checkpoints (GET /v1/training-jobs/{id}/checkpoints); default: its last",
      }),
    ),
  },
  {
    additionalProperties: false,
    title: "InitFromRequest",
    description:
      "Start from the weights of another job's checkpoint instead of the model's own: the model must have the same inputs, outputs, operators and parameters as that job's. The optimizer starts afresh at step 0",
  },
);

export const InitFrom = Type.Object(
  {
    job: Type.String(),
    step: Type.Integer(),
    checkpoint_sha256: Type.String({
      description: "SHA-256 of the checkpoint whose weights the job starts from",
    }),
  },
  { title: "InitFrom" },
);

export const JobCreateRequest = Type.Object(
  {
    ...JobRequest.properties,
    init_from: Type.Optional(InitFromRequest),
    expires_after: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_EXPIRES_AFTER,
        description:
          "Seconds the job may wait for a worker; past them a job not yet started ends (cancelled, nothing charged, event job.expired). Without it the job waits until a worker takes it or you cancel it",
      }),
    ),
  },
  { additionalProperties: false, title: "TrainingJobCreateRequest" },
);

const Price = Type.Object({
  compute_cents: Type.Integer(),
  verification_cents: Type.Integer(),
  platform_fee_cents: Type.Integer(),
  total_cents: Type.Integer(),
  audited_segments: Type.Integer(),
});

const Audit = Type.Object(
  {
    level: StringEnum(VERIFICATION_LEVELS),
    segments: Type.Integer({ description: "Checkpoint segments of the job" }),
    audited_segments: Type.Integer({
      description: "Segments verifiers replay, drawn at random after the worker committed",
    }),
    detection_probability: Type.Number({
      description: "Probability that the audits catch a worker that fakes 10% of the segments (at least one)",
    }),
  },
  { title: "AuditTerms" },
);

export const QuoteResponse = Type.Object(
  {
    object: Type.Literal("quote"),
    model: Type.String(),
    dataset: Type.String(),
    verification: StringEnum(VERIFICATION_LEVELS),
    train_samples: Type.Integer(),
    total_steps: Type.Integer(),
    checkpoints: Type.Integer(),
    flops_per_step: Type.Number({
      description: "Estimated FLOPs of one training step (forward, backward, update)",
    }),
    total_flops: Type.Number(),
    price: Price,
    audit: Audit,
    within_price_cap: Type.Boolean(),
  },
  { title: "Quote" },
);

export const JobStatus = StringEnum([
  "queued",
  "running",
  "verifying",
  "succeeded",
  "failed",
  "cancelled",
] as const);

export const TrainingJob = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("training_job"),
    status: JobStatus,
    failure_reason: Type.Union([Type.String(), Type.Null()]),
    model: Type.String(),
    dataset: Type.String(),
    spec: Type.Unknown({
      description: "The TrainingSpec the job was created with",
      examples: [EXAMPLE_SPEC],
    }),
    verification: StringEnum(VERIFICATION_LEVELS),
    total_steps: Type.Integer(),
    steps_completed: Type.Integer(),
    price: Type.Object({
      quoted_cents: Type.Integer(),
      reserved_cents: Type.Integer(),
      charged_cents: Type.Union([Type.Integer(), Type.Null()]),
    }),
    result: Type.Object({ model_sha256: Type.Union([Type.String(), Type.Null()]) }),
    metrics: Type.Array(EpochMetricsSchema, {
      description:
        "Each finished epoch's training and validation metrics, as they arrive while the job trains " +
        "(each also streamed as a training.epoch event)",
    }),
    created_at: Type.String({ format: "date-time" }),
    updated_at: Type.String({ format: "date-time" }),
    finished_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    expires_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description: "When the job stops waiting for the network if it has not started (from expires_after)",
    }),
    init_from: Type.Union([InitFrom, Type.Null()], {
      description:
        "The checkpoint whose weights the job started from; `model` is then the model with those weights, derived by the platform",
    }),
    sweep: Type.Union([Type.String(), Type.Null()], {
      description: "The sweep the job was created in (sweep_...), or null for a job created alone",
    }),
    queue_position: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description:
        "The job's place in the line of jobs waiting for a worker (1: next), in fair order across organizations; null once dispatched, and in lists",
    }),
    estimated_start_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description:
        "When the job should leave the line, at the rate the network took jobs in the last hour; null when unknown",
    }),
  },
  { title: "TrainingJob" },
);

export const TrainingJobList = listOf(TrainingJob, "TrainingJobList");

export const JobParams = Type.Object({ id: Type.String({ description: "A training job id, job_..." }) });

export const JobEvent = Type.Object(
  {
    id: Type.Integer({ description: "Increasing per job; pass the last one as `after` (or Last-Event-ID)" }),
    type: Type.String({
      description: "job.created, job.dispatched, training.progress, checkpoint.stored, ...",
    }),
    data: Type.Record(Type.String(), Type.Unknown()),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "JobEvent" },
);

export const JobEventList = Type.Object(
  { data: Type.Array(JobEvent), has_more: Type.Boolean() },
  { title: "JobEventList" },
);

export const CheckpointParams = Type.Object({
  id: Type.String({ description: "A training job id, job_..." }),
  step: Type.Integer({ minimum: 0, description: "The step the checkpoint was taken at" }),
});

export const ModelQuery = Type.Object(
  {
    format: Type.Optional(
      StringEnum(["onnx", "safetensors"], {
        default: "onnx",
        description:
          "onnx: the model the receipt attests; safetensors: its float initializers (weights and " +
          "running statistics) keyed by their names, which for a torch.onnx.export model are the " +
          "module's state_dict keys",
      }),
    ),
  },
  { additionalProperties: false },
);

export const JobEventsQuery = Type.Object(
  {
    after: Type.Integer({ minimum: 0, default: 0, description: "Only events after this event id" }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);

export const JobEventsHeaders = Type.Object({
  "last-event-id": Type.Optional(
    Type.String({
      description:
        "Set by an EventSource that reconnects: the id of the last event it received; takes the place of `after`",
      examples: ["42"],
    }),
  ),
});

/**
 * The 200 answer of an events route: a JSON page of `list`, or with Accept: text/event-stream
 * `stream`.
 */
export function eventsAnswer(list: TSchema, stream: TSchema) {
  return {
    "x-response-description":
      "The events after `after`: a JSON page, or with Accept: text/event-stream a stream of them",
    content: {
      "application/json": { schema: list },
      "text/event-stream": { schema: stream },
    },
  };
}

export const JobEventStream = Type.String({
  description:
    "Server-Sent Events: each event is `id: <event id>`, `event: <type>`, `data: <the JobEvent as JSON>`; " +
    "a `: keep-alive` comment every 15 s; the stream ends after job.succeeded, job.failed or job.cancelled",
  examples: [
    'id: 7\nevent: training.progress\ndata: {"id":7,"type":"training.progress","data":{"step":120,"loss":0.41},"created_at":"2026-12-04T16:00:00.000Z"}\n\n',
  ],
});

export const CheckpointList = Type.Object(
  {
    data: Type.Array(
      Type.Object({
        step: Type.Integer(),
        sha256: Type.String(),
        bytes: Type.Integer(),
        created_at: Type.String({ format: "date-time" }),
      }),
    ),
  },
  { title: "CheckpointList" },
);

const Hex64 = Type.String({ pattern: "^[0-9a-f]{64}$" });

const DisputePartySchema = Type.Object({
  role: StringEnum(["worker", "verifier", "whistleblower"]),
  address: Type.String(),
});

// Every field of the signed body is declared: the serializer drops undeclared ones, and a body
// missing a field would no longer match its signature.
export const ReceiptSchema = Type.Object(
  {
    body: Type.Object({
      version: Type.Literal(1),
      job_id: Type.String(),
      task_id: Type.String(),
      issued_at: Type.String({ format: "date-time" }),
      model_sha256: Hex64,
      dataset_sha256: Hex64,
      spec_sha256: Hex64,
      spec: Type.Unknown({ description: "The training spec as the job ran it" }),
      profile_blake2_256: Type.Union([Hex64, Type.Null()], {
        description:
          "blake2-256 of the canonical JSON of the determinism profile (onnxruntime version, threads, CPU features) the worker trained and every verifier replayed under, as registered on chain",
      }),
      verification_level: Type.String(),
      result: Type.Object({
        model_sha256: Hex64,
        metrics: Type.Record(Type.String(), Type.Unknown()),
      }),
      checkpoints: Type.Object({
        interval: Type.Integer(),
        steps: Type.Array(Type.Integer()),
        leaves: Type.Array(Hex64, { description: "SHA-256 of each checkpoint's canonical bytes" }),
        root: Hex64,
      }),
      worker: Type.Object({
        address: Type.String(),
        attempt: Type.Integer({
          description: "The task's attempt that delivered the model (from 0; earlier attempts were voided)",
        }),
        commitment_signature: Type.Union([Type.String(), Type.Null()], {
          description:
            "sr25519, over the commitment message; null when the referee ruled the worker's on-chain commit delivered and the platform completed on its behalf (the chain anchors checkpoints_committed and delivery_ruled stand for it)",
        }),
      }),
      audits: Type.Array(
        Type.Object({
          verifier: Type.String(),
          from_step: Type.Integer(),
          to_step: Type.Integer(),
          leaf_from: Hex64,
          leaf_to: Hex64,
          agrees: Type.Boolean(),
          signature: Type.String({ description: "sr25519, over the verdict message" }),
        }),
      ),
      challenges: Type.Array(
        Type.Object({
          dispute_id: Type.String(),
          kind: StringEnum(["commitment", "transcript"], {
            description:
              "commitment: a verifier disputes the worker's checkpoint; transcript: a whistleblower disputes a verifier's replay",
          }),
          attempt: Type.Integer({ description: "The task's attempt whose audit was disputed" }),
          audit_index: Type.Integer(),
          segment: Type.Object({ from_step: Type.Integer(), to_step: Type.Integer() }),
          challenger: DisputePartySchema,
          defender: DisputePartySchema,
          rounds: Type.Integer({ description: "Bisection rounds played" }),
          disputed_step: Type.Union([Type.Integer(), Type.Null()]),
          disputed_operator: Type.Union([Type.Integer(), Type.Null()], {
            description: "Index of the one operator of the step graph the game narrowed to",
          }),
          outcome: StringEnum(["fraud_proven", "challenge_rejected", "aborted"], {
            description:
              "fraud_proven: the defender lost; challenge_rejected: the challenger lost; aborted: its attempt was voided by another dispute the worker lost",
          }),
          loser: Type.Union([DisputePartySchema, Type.Null()]),
          decided_by: Type.Union([StringEnum(["referee", "timeout"]), Type.Null()]),
          anchors: Type.Array(
            Type.Object({
              purpose: StringEnum(["dispute_opened", "dispute_round", "dispute_resolved"]),
              block_number: Type.Integer(),
              event_index: Type.Integer(),
              block_hash: Type.String(),
              extrinsic_hash: Type.Union([Type.String(), Type.Null()]),
            }),
          ),
        }),
        { description: "Every dispute of the task's audits, in the order they opened" },
      ),
      chain: Type.Object({
        genesis_hash: Type.String(),
        task_id: Type.String({ description: "The task's id on chain" }),
        anchors: Type.Array(
          Type.Object({
            purpose: Type.String(),
            block_number: Type.Integer(),
            block_hash: Type.String(),
            extrinsic_hash: Type.String(),
          }),
        ),
      }),
      platform: Type.Object({ public_key: Type.String({ description: "Ed25519, hex" }) }),
    }),
    signature: Type.String({ description: "Ed25519 over the canonical body (RFC 8785), hex" }),
  },
  {
    title: "Receipt",
    description:
      "Verify offline with the SDK: verifyReceipt(receipt, modelBytes, { platformPublicKey }), the key from GET /v1/receipt-keys",
  },
);
