// What a queued task carries. The jobs service produces these; the gateway hands them to nodes.
// Hashes are lowercase hex SHA-256 of blobs the gateway serves by hash, so a node fetches the
// model, the dataset and checkpoints without ever seeing the user's files or ids. `chain` names
// the on-chain duty the work fulfils: the node signs its commit or verdict for it with its own key.

/** A checkpoint stored through the gateway: the step it was taken after and its SHA-256. */
export interface CheckpointRef {
  step: number;
  sha256: string;
}

/** What any work on a job needs to run the training engine. */
export interface WorkInputs {
  taskId: string;
  jobId: string;
  modelSha256: string;
  datasetSha256: string;
  /** The dataset's file name: its extension tells the trainer's reader the format. */
  datasetFileName: string;
  /** The training engine's spec as the user gave it (worker-runtime/train/spec.ts parses it). */
  spec: unknown;
}

export interface TrainingTask extends WorkInputs {
  totalSteps: number;
  checkpointEvery: number;
  /** The chain task and the attempt the node was assigned; null for work off chain (tests, local runs). */
  chain: { chainTaskId: string; attempt: number } | null;
}

/** A checkpoint with its inclusion proof in the worker's committed Merkle tree (protocol/merkle.ts). */
export interface ProvenCheckpoint extends CheckpointRef {
  leafIndex: number;
  /** Sibling hashes from the leaf upward, hex. */
  proof: string[];
}

export interface AuditTask extends WorkInputs {
  /** Root the worker committed on chain and the size of its tree, which the proofs are against. */
  checkpointRoot: string;
  treeSize: number;
  from: ProvenCheckpoint;
  to: ProvenCheckpoint;
  /** The chain task and the index of the audit the verifier was drawn for. */
  chain: { chainTaskId: string; attempt: number; auditIndex: number } | null;
}

export interface TaskPayloads {
  training: TrainingTask;
  audit: AuditTask;
}

/**
 * What the gateway keeps on a queued job besides the payload: the checkpoints nodes stored for it,
 * which survive a lapsed lease so the next claim resumes from the last one.
 */
export interface LeasedJobData<P> {
  task: P;
  checkpoints: CheckpointRef[];
  /** SS58 address of the node holding the current lease, if any. */
  holder: string | null;
}
