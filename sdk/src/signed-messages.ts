// The exact bytes that workers, verifiers and the platform sign. Each message is canonical JSON
// under a domain tag, so a signature made for one purpose can never be replayed as another.
import { canonicalBytes } from "./canonical.ts";

export interface CheckpointCommitment {
  task_id: string;
  /** Merkle root over the checkpoint hashes, hex. */
  checkpoint_root: string;
  checkpoint_count: number;
  /** SHA-256 of the trained ONNX model, hex. */
  model_sha256: string;
}

export interface AuditVerdictMessage {
  task_id: string;
  from_step: number;
  to_step: number;
  /** Checkpoint hashes at the segment's ends, hex. */
  leaf_from: string;
  leaf_to: string;
  agrees: boolean;
}

export function commitmentMessage(commitment: CheckpointCommitment): Uint8Array {
  return canonicalBytes({ domain: "veritrain/checkpoint-commitment/v1", ...commitment });
}

export function verdictMessage(verdict: AuditVerdictMessage): Uint8Array {
  return canonicalBytes({ domain: "veritrain/audit-verdict/v1", ...verdict });
}

export function receiptMessage(body: unknown): Uint8Array {
  return canonicalBytes({ domain: "veritrain/receipt/v1", body });
}
