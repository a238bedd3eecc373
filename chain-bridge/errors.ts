// The one error type of the chain bridge. Callers branch on `code`; the message says what was
// wrong, where, and what is accepted. Module errors from the runtime keep their pallet and name
// (e.g. Compute.NoEligibleWorker) so the API can map them to answers a user understands.
export type BridgeErrorCode =
  /** The node at the configured URL does not answer. */
  | "CHAIN_UNREACHABLE"
  /** TOKEN_USD_RATE or an amount given to a conversion is malformed. */
  | "INVALID_AMOUNT"
  /** A seed, address, hash or other argument is malformed. */
  | "INVALID_ARGUMENT"
  /** The node refused the transaction (RPC 1010/1011/1012...): bad signature, stale or future nonce, fees. */
  | "TRANSACTION_INVALID"
  /** The node dropped or replaced the transaction, or its mortality ran out before inclusion. */
  | "TRANSACTION_DROPPED"
  /** The transaction was included but its call failed (ExtrinsicFailed); `module` names the error. */
  | "DISPATCH_FAILED"
  /** A cause key was reused for a different call or signer: one cause, one extrinsic. */
  | "CAUSE_CONFLICT"
  /** The chain has no task with this id. */
  | "UNKNOWN_TASK"
  /** An event the watcher cannot apply (chain and database disagree). */
  | "RECONCILE_FAILED";

/** A runtime module error, decoded from the chain's metadata. */
export interface ModuleError {
  pallet: string;
  name: string;
  docs: string;
}

export class BridgeError extends Error {
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
    readonly module: ModuleError | null = null,
  ) {
    super(message);
    this.name = "BridgeError";
  }
}
