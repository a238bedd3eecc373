// The chain bridge's public surface: the only way the rest of Veritrain reaches the chain.
// The API's services use ChainBridge (escrow, audits, settlement, the event watcher); node
// daemons use NodeChainClient with their own key. Nothing here assumes a particular node: any
// node serving a runtime with the Compute pallet of PROTOCOL.md will do.
export {
  ChainBridge,
  type ChainBridgeOptions,
  type Escrow,
  type OpenEscrowRequest,
  type Settlement,
  type TaskSpecInput,
} from "./bridge.ts";
export {
  type AuditView,
  auditLayout,
  type ChainTaskStatus,
  type Commitment,
  type NodeView,
  type Payout,
  type ProtocolParameters,
  readBalance,
  readChallengedDeliveries,
  readHead,
  readJackpot,
  readNode,
  readParameters,
  readTask,
  type TaskView,
} from "./compute-state.ts";
export { type ChainConnection, connectChain } from "./connection.ts";
export {
  centsToPlanck,
  escrowFor,
  PLANCK_PER_VT,
  parseTokenRate,
  planckToCents,
  type Rounding,
  type TokenRate,
} from "./conversion.ts";
export {
  type DeliveryClaimInput,
  type DeliveryOutcome,
  type DeliveryView,
  deliveryOpen,
} from "./delivery-state.ts";
export { fundAccounts } from "./dev-funds.ts";
export {
  agreedStateBefore,
  askedPosition,
  type DisputeKind,
  type DisputePhase,
  type DisputeTurn,
  type DisputeView,
  readDispute,
  readDisputeWithTask,
  readOpenDisputes,
} from "./dispute-state.ts";
export { BridgeError, type BridgeErrorCode, type ModuleError } from "./errors.ts";
export { EventWatcher, type EventWatcherOptions, type WatchedEvent } from "./event-watcher.ts";
export { type ForcedErrorSecret, isForcedAudit, newForcedErrorSecret } from "./forced-errors.ts";
export { resolveDispute, ruleDelivery, setProtocolParameters } from "./governance.ts";
export { type DecodedEvent, palletEventsSince } from "./inclusion.ts";
export {
  type AuditRef,
  type CheckpointCommit,
  NodeChainClient,
  type NodeRoles,
  type Registration,
  type VerdictSubmission,
} from "./node-client.ts";
export { type Signer, signerFromSeed } from "./signer.ts";
export type { SubmitterOptions } from "./submitter.ts";
export type { TxRecord } from "./transaction-store.ts";
export { readVerdictEvents, type VerdictEvent } from "./verdict-events.ts";
