export type NodeErrorCode =
  | "GATEWAY_REJECTED"
  | "GATEWAY_UNREACHABLE"
  | "LEASE_LOST"
  | "BLOB_CORRUPT"
  | "AUDIT_PROOF_INVALID"
  | "CHAIN_REJECTED"
  /** The task's checkpoints were made under another determinism profile than this node's. */
  | "PROFILE_MISMATCH"
  /** `--fault` asked for without VERITRAIN_ALLOW_FAULTS=1, in production, or with an unknown mode. */
  | "FAULTS_REFUSED"
  /** A dispute party's published evidence that cannot be read. */
  | "INVALID_EVIDENCE"
  /** A dispute this node is party to, about work it holds no record of. */
  | "NO_DISPUTE_RECORD"
  /** A task's graph_nodes on chain that is not its training-step graph's position count (pinpoint-graphs.ts). */
  | "GRAPH_MISMATCH"
  /** `--recheck-share` outside [0, 1]. */
  | "INVALID_RECHECK_SHARE";

export class NodeError extends Error {
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    /** For GATEWAY_REJECTED: the HTTP status and the API's error code. */
    readonly status?: number,
    readonly apiCode?: string,
  ) {
    super(message);
    this.name = "NodeError";
  }
}
