// The node gateway's wire format (`/v1/nodes/...`): what a node sends and what it gets back.
// Nodes are untrusted programs that must not depend on the API's internals, so the one
// definition lives here: the task queues store the work items below as they are (queue/payloads.ts),
// and the API's TypeBox schemas are checked against these types at compile time
// (test/sdk-conformance.ts). How each request is signed is in signed-messages.ts.

export const NODE_ROLES = ["worker", "verifier", "whistleblower"] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** POST /v1/nodes/register */
export interface RegisterRequest {
  roles: NodeRole[];
  /** SHA-256 of the node's determinism profile (canonical JSON), lowercase hex. */
  profile_hash: string;
}

export interface NodeInfo {
  object: "node";
  /** SS58 address: the node's sr25519 public key. */
  address: string;
  roles: NodeRole[];
  profile_hash: string;
  registered_at: string;
}

/** POST /v1/nodes/training-tasks/claim and /v1/nodes/audits/claim: a long poll, 204 when nothing came. */
export interface ClaimRequest {
  wait_seconds: number;
}

/** A claim on a task; it lapses unless renewed by a heartbeat or a progress report. */
export interface Lease {
  id: string;
  expires_at: string;
  heartbeat_interval_seconds: number;
}

/** A checkpoint stored through the gateway: the step it was taken after and its SHA-256. */
export interface CheckpointRef {
  step: number;
  sha256: string;
}

/** A checkpoint with its inclusion proof in the worker's committed Merkle tree (merkle.ts). */
/**
 * GET /v1/nodes/deliveries/{chain_task_id}: what the platform holds of a committed task, for the
 * referee of a delivery challenge (chain/PROTOCOL.md §7). The referee downloads each checkpoint by
 * hash and checks that they form the root on chain; nothing here is taken on trust.
 */
export interface DeliveryRecord {
  chain_task_id: string;
  /** The platform's task id, which the worker's signed commitment names. */
  task_ref: string;
  /** SHA-256 of the task's model, from which the delivered model is derived. */
  model_sha256: string;
  /** The checkpoints stored for the task, in step order. */
  checkpoints: CheckpointRef[];
}

export interface ProvenCheckpoint extends CheckpointRef {
  leaf_index: number;
  /** Sibling hashes from the leaf upward, hex. */
  proof: string[];
}

// The work items. Hashes are lowercase hex SHA-256 of blobs the gateway serves by hash, so a node
// fetches the model, the dataset and checkpoints without ever seeing the user's files or ids.
// `chain` names the on-chain duty the work fulfils (null for work off chain: tests, local runs);
// the node signs its commit or verdict for it with its own key.

/** What any work on a job needs to run the training engine. */
export interface WorkInputs {
  task_id: string;
  model_sha256: string;
  dataset_sha256: string;
  /**
   * "dataset.<format>" (safetensors, npy, npz, csv): the extension tells the trainer's reader the
   * format. Never the user's own file name, which nodes have no business reading.
   */
  dataset_file_name: string;
  /** The training engine's spec as the user gave it (worker-runtime/train/spec.ts parses it). */
  spec: unknown;
}

export interface TrainingTask extends WorkInputs {
  total_steps: number;
  checkpoint_every: number;
  /** The chain task and attempt this node was assigned: commit the checkpoint root there. */
  chain: { chain_task_id: string; attempt: number } | null;
}

export interface AuditTask extends WorkInputs {
  /** Root the worker committed on chain and the size of its tree, which the proofs are against. */
  checkpoint_root: string;
  tree_size: number;
  from: ProvenCheckpoint;
  to: ProvenCheckpoint;
  /** The chain audit this verifier was drawn for: submit its verdict there. */
  chain: { chain_task_id: string; attempt: number; audit_index: number } | null;
}

export interface TrainingClaim {
  lease: Lease;
  /** 1 for the first node to hold the task. */
  attempt: number;
  task: TrainingTask;
  /** Checkpoints stored so far, in step order: a resumed run's Merkle leaves start with them. */
  checkpoints: CheckpointRef[];
  /** Continue training from this checkpoint; null to start at step 0. */
  resume_from: CheckpointRef | null;
}

export interface AuditClaim {
  lease: Lease;
  attempt: number;
  audit: AuditTask;
}

/** One finished epoch's metrics, as the trainer computes them (worker-runtime/train/metrics.ts). */
export interface EpochMetrics {
  epoch: number;
  /** The optimizer step that closed this epoch. */
  last_step: number;
  train_samples: number;
  train_loss: number;
  train_accuracy: number | null;
  val_loss: number | null;
  val_accuracy: number | null;
  steps_per_second: number;
}

/** POST /v1/nodes/leases/{lease}/progress; `epoch` when the report closes an epoch. */
export interface Progress {
  step: number;
  total_steps: number;
  loss: number;
  learning_rate: number;
  steps_per_second: number;
  epoch?: EpochMetrics;
}

/** PUT /v1/nodes/leases/{lease}/model: the uploaded model's SHA-256 (checkpoints answer a CheckpointRef). */
export interface StoredModel {
  sha256: string;
}

/**
 * What a node's compute on a piece of work cost it: CPU time of its process (every thread, user
 * and system; not wall time, which a loaded machine distorts) over the steps it trained or
 * replayed. The platform compares a verifier's CPU per replayed step with a worker's per trained
 * step (bench:fraud's replay_overhead). Self-reported, so informative only: nothing is paid by it.
 */
export interface ComputeReport {
  cpu_seconds: number;
  /** Steps this node trained in this attempt (a resumed run counts its own), or replayed. */
  steps: number;
}

/** POST /v1/nodes/leases/{lease}/complete: the trained model and the signed Merkle commitment. */
export interface Completion {
  model_sha256: string;
  checkpoint_root: string;
  leaves: string[];
  metrics: Record<string, unknown>;
  /** sr25519 over commitmentMessage(...), 0x-prefixed hex. */
  commitment_signature: string;
  compute?: ComputeReport;
}

/** POST /v1/nodes/leases/{lease}/verdict */
export interface VerdictReport {
  agrees: boolean;
  /** sr25519 over verdictMessage(...), 0x-prefixed hex. */
  signature: string;
  compute?: ComputeReport;
}

/** POST /v1/nodes/leases/{lease}/fail */
export interface FailureReport {
  reason: string;
}

/** The answer to complete, verdict and fail. */
export interface Acknowledged {
  status: "completed" | "retried" | "failed";
}

/**
 * PUT /v1/nodes/disputes/{chainDisputeId}/evidence (application/octet-stream, the bundle's bytes as
 * worker-runtime/node/dispute-evidence.ts encodes them) answers one; GET on the same path lists them.
 */
/**
 * A verdict's whole strided transcript as its verifier published it through the gateway
 * (chain/PROTOCOL.md §5.6): the chain holds only its root, a whistleblower compares these leaves
 * with its own replay's to name the first wrong one.
 */
export interface PublishedTranscript {
  chain_task_id: string;
  attempt: number;
  audit_index: number;
  verifier: string;
  /** The verdict's transcript root on chain, 0x hex: the leaves' RFC 6962 Merkle root. */
  root: string;
  /** The n leaves in order, lowercase hex (SHA-256 of the canonical checkpoint after each leaf's step). */
  leaves: string[];
}

export interface DisputeEvidenceRef {
  chain_dispute_id: string;
  /** The uploading party's address. */
  party: string;
  sha256: string;
  size_bytes: number;
}
