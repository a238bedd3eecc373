import { Type } from "@sinclair/typebox";
import { NODE_ROLES } from "../../protocol/node-wire.ts";
import { StringEnum } from "./common.ts";

const Sha256 = Type.String({ pattern: "^[0-9a-f]{64}$", description: "Lowercase hex SHA-256" });
const Signature = Type.String({
  pattern: "^0x[0-9a-fA-F]{128}$",
  description: "sr25519 signature by the node's key, 0x-prefixed hex",
});

export const NodeAuthHeaders = Type.Object({
  "x-node-address": Type.String({ description: "The node's SS58 address (its sr25519 public key)" }),
  "x-node-timestamp": Type.String({
    description: "Milliseconds since the epoch; within 60 s of the gateway",
  }),
  "x-node-nonce": Type.String({ description: "16-64 characters of [A-Za-z0-9_-], never reused" }),
  "x-node-signature": Type.String({
    description:
      'sr25519 signature of "veritrain/node-request/v1\\nMETHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256(body)"',
  }),
});

export const UploadHeaders = Type.Object({
  ...NodeAuthHeaders.properties,
  "x-content-sha256": Type.String({ pattern: "^[0-9a-f]{64}$", description: "SHA-256 of the body" }),
});

export const RegisterBody = Type.Object(
  {
    roles: Type.Array(StringEnum(NODE_ROLES), { minItems: 1, maxItems: 3, uniqueItems: true }),
    profile_hash: Type.String({
      pattern: "^[0-9a-f]{64}$",
      description: "SHA-256 of the node's determinism profile (canonical JSON)",
    }),
  },
  { additionalProperties: false },
);

export const NodeSchema = Type.Object(
  {
    object: Type.Literal("node"),
    address: Type.String(),
    roles: Type.Array(StringEnum(NODE_ROLES)),
    profile_hash: Type.String(),
    registered_at: Type.String({ format: "date-time" }),
  },
  { title: "Node" },
);

export const ClaimBody = Type.Object(
  {
    wait_seconds: Type.Integer({
      minimum: 0,
      maximum: 20,
      default: 20,
      description: "Long poll: how long to wait for a task before answering 204",
    }),
  },
  { additionalProperties: false },
);

export const LeaseSchema = Type.Object(
  {
    id: Type.String({ description: "Name it in every report; it lapses unless renewed" }),
    expires_at: Type.String({ format: "date-time" }),
    heartbeat_interval_seconds: Type.Integer(),
  },
  { title: "Lease" },
);

const CheckpointRefSchema = Type.Object({ step: Type.Integer(), sha256: Sha256 }, { title: "CheckpointRef" });
const ProvenCheckpointSchema = Type.Object({
  ...CheckpointRefSchema.properties,
  leaf_index: Type.Integer(),
  proof: Type.Array(Sha256),
});
const ChainTaskId = Type.String({ pattern: "^[0-9]{1,20}$" });

const WorkInputs = {
  task_id: Type.String(),
  model_sha256: Sha256,
  dataset_sha256: Sha256,
  dataset_file_name: Type.String(),
  spec: Type.Unknown({ description: "The training spec" }),
};

const TrainingTaskSchema = Type.Object({
  ...WorkInputs,
  total_steps: Type.Integer(),
  checkpoint_every: Type.Integer(),
  chain: Type.Union([Type.Object({ chain_task_id: ChainTaskId, attempt: Type.Integer() }), Type.Null()], {
    description: "The chain task and attempt this node was assigned: commit its checkpoint root there",
  }),
});

export const AuditTaskSchema = Type.Object({
  ...WorkInputs,
  checkpoint_root: Sha256,
  tree_size: Type.Integer(),
  from: ProvenCheckpointSchema,
  to: ProvenCheckpointSchema,
  chain: Type.Union(
    [
      Type.Object({ chain_task_id: ChainTaskId, attempt: Type.Integer(), audit_index: Type.Integer() }),
      Type.Null(),
    ],
    { description: "The chain audit this verifier was drawn for: submit its verdict there" },
  ),
});

export const TrainingClaimSchema = Type.Object(
  {
    lease: LeaseSchema,
    attempt: Type.Integer({ description: "1 for the first node to hold the task" }),
    task: TrainingTaskSchema,
    checkpoints: Type.Array(CheckpointRefSchema, { description: "Checkpoints stored so far, in step order" }),
    resume_from: Type.Union([CheckpointRefSchema, Type.Null()], {
      description: "Continue training from this checkpoint; null to start at step 0",
    }),
  },
  { title: "TrainingClaim" },
);

export const AuditClaimSchema = Type.Object(
  { lease: LeaseSchema, attempt: Type.Integer(), audit: AuditTaskSchema },
  { title: "AuditClaim" },
);

export const LeaseParams = Type.Object({ lease: Type.String({ maxLength: 200 }) });
export const CheckpointParams = Type.Object({
  lease: Type.String({ maxLength: 200 }),
  step: Type.Integer({ minimum: 0 }),
});
export const BlobParams = Type.Object({ sha256: Sha256 });
export const DisputeParams = Type.Object({ chainDisputeId: Type.String({ pattern: "^[0-9]{1,20}$" }) });
export const AuditedSegmentParams = Type.Object({
  chainTaskId: ChainTaskId,
  auditIndex: Type.Integer({ minimum: 0, maximum: 255 }),
});

export const PublishedTranscriptSchema = Type.Object(
  {
    chain_task_id: Type.String({ pattern: "^[0-9]{1,20}$" }),
    attempt: Type.Integer({ minimum: 0 }),
    audit_index: Type.Integer({ minimum: 0 }),
    verifier: Type.String({ description: "The publishing verifier's SS58 address" }),
    root: Type.String({
      pattern: "^0x[0-9a-fA-F]{64}$",
      description: "The verdict's transcript root on chain: the leaves' RFC 6962 Merkle root",
    }),
    leaves: Type.Array(Sha256, {
      description:
        "The transcript's leaves in order: SHA-256 of the canonical checkpoint after each leaf's step",
    }),
  },
  { title: "PublishedTranscript" },
);

export const DisputeEvidenceRefSchema = Type.Object(
  {
    chain_dispute_id: Type.String({ pattern: "^[0-9]{1,20}$" }),
    party: Type.String({ description: "The uploading party's SS58 address" }),
    sha256: Sha256,
    size_bytes: Type.Integer({ minimum: 0 }),
  },
  { title: "DisputeEvidenceRef" },
);
export const DisputeEvidenceList = Type.Object(
  { data: Type.Array(DisputeEvidenceRefSchema) },
  { title: "DisputeEvidenceList" },
);

export const DeliveryParams = Type.Object({ chainTaskId: ChainTaskId });
export const DeliveryCheckpointParams = Type.Object({
  chainTaskId: ChainTaskId,
  step: Type.Integer({ minimum: 0 }),
});
export const DeliveryRecordSchema = Type.Object(
  {
    chain_task_id: ChainTaskId,
    task_ref: Type.String({
      description: "The platform's task id, which the worker's signed commitment names",
    }),
    model_sha256: Sha256,
    checkpoints: Type.Array(CheckpointRefSchema, {
      description: "Checkpoints stored for the task, in step order",
    }),
  },
  { title: "DeliveryRecord" },
);

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

export const EpochMetricsSchema = Type.Object(
  {
    epoch: Type.Integer({ minimum: 0 }),
    last_step: Type.Integer({ minimum: 0 }),
    train_samples: Type.Integer({ minimum: 0 }),
    train_loss: Type.Number(),
    train_accuracy: NullableNumber,
    val_loss: NullableNumber,
    val_accuracy: NullableNumber,
    steps_per_second: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false, title: "EpochMetrics" },
);

export const ProgressBody = Type.Object(
  {
    step: Type.Integer({ minimum: 0 }),
    total_steps: Type.Integer({ minimum: 1 }),
    loss: Type.Number(),
    learning_rate: Type.Number({ minimum: 0 }),
    steps_per_second: Type.Number({ minimum: 0 }),
    epoch: Type.Optional(EpochMetricsSchema),
  },
  { additionalProperties: false },
);

export const StoredCheckpoint = Type.Object(CheckpointRefSchema.properties, { title: "StoredCheckpoint" });
export const StoredModel = Type.Object({ sha256: Sha256 }, { title: "StoredModel" });

/**
 * The bounds refuse a negative or absurd figure: no lease lasts 10^7 CPU seconds (116 days of one
 * core), and the gateway refuses more steps than the work has. JSON sends NaN and infinities as
 * null, which the validator's type coercion turns into 0: so 0 is refused too (work on a step
 * takes some CPU; a node that measured none leaves the report out).
 */
const ComputeReportSchema = Type.Object(
  {
    cpu_seconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: 10_000_000,
      description: "CPU seconds of the node's process (all threads, user + system) on the work's steps",
    }),
    steps: Type.Integer({
      minimum: 1,
      maximum: 1_000_000_000,
      description: "Steps trained in this attempt, or replayed; at most the work's own",
    }),
  },
  { additionalProperties: false, title: "NodeComputeReport" },
);

export const CompleteBody = Type.Object(
  {
    model_sha256: Sha256,
    checkpoint_root: Sha256,
    leaves: Type.Array(Sha256, { minItems: 1, maxItems: 100_000 }),
    metrics: Type.Record(Type.String(), Type.Unknown()),
    commitment_signature: Signature,
    compute: Type.Optional(ComputeReportSchema),
  },
  { additionalProperties: false },
);

export const VerdictBody = Type.Object(
  { agrees: Type.Boolean(), signature: Signature, compute: Type.Optional(ComputeReportSchema) },
  { additionalProperties: false },
);

export const FailBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

export const Acknowledged = Type.Object(
  { status: StringEnum(["completed", "retried", "failed"]) },
  { title: "NodeReportAcknowledged" },
);
