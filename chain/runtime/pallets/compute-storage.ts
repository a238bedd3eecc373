// The Compute pallet's storage items (PROTOCOL.md §11) and the dev chain's genesis parameters (§2).
import { type AccountId, storageMap, storageValue } from "../pallet.ts";
import type { Dispute, NodeInfo, Parameters, TaskInfo } from "./compute-types.ts";

const VT = 1_000_000_000_000n;

/** //Alice: the operator's treasury on the dev chain. */
const DEV_TREASURY: AccountId = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/** Small windows so that tests walk through every deadline in a few blocks. */
export const DEV_PARAMETERS: Parameters = {
  treasury: DEV_TREASURY,
  minWorkerStake: 1_000n * VT,
  minVerifierStake: 500n * VT,
  minWhistleblowerStake: 200n * VT,
  unbondingBlocks: 20,
  commitBlocks: 20,
  auditDelayBlocks: 1,
  verdictBlocks: 10,
  challengeBlocks: 10,
  revealBlocks: 10,
  roundBlocks: 10,
  challengeBond: 50n * VT,
  fraudSlashPercent: 50,
  timeoutSlashPercent: 10,
  winnerSharePercent: 50,
  jackpotSharePercent: 25,
  verifierSharePercent: 10,
  jackpotTaxPercent: 2,
  jackpotPayout: 100n * VT,
  forcedErrorPpm: 100_000,
  // The type's maximum: the SaaS's audit rule (docs/verification.md) asks for up to 88 audits for
  // detection and up to 255 when a job's payment nears the fraud slash.
  maxVerificationLevel: 255,
  // One leaf per 16 steps: a verifier hashes 1/16 of the states it replays (the hash costs about as
  // much as a step), and a transcript dispute still narrows to 16 steps by proofs alone.
  transcriptStride: 16,
};

export const parameters = storageValue<Parameters>({
  type: "Parameters",
  default: DEV_PARAMETERS,
  docs: "Every protocol parameter; changed by Root with `set_parameters`.",
});

export const nodes = storageMap<AccountId, NodeInfo>({
  hasher: "Blake2_128Concat",
  key: "AccountId32",
  type: "NodeInfo",
  docs: "Registered nodes: roles, determinism profile, stake, forced-error commitment, open duties.",
});

export const nextTaskId = storageValue<bigint>({
  type: "u64",
  default: 0n,
  docs: "The id of the next task.",
});

export const tasks = storageMap<bigint, TaskInfo>({
  hasher: "Twox64Concat",
  key: "u64",
  type: "TaskInfo",
  docs: "Tasks, kept after finalization or cancellation as the record receipts anchor to.",
});

export const nextDisputeId = storageValue<bigint>({
  type: "u64",
  default: 0n,
  docs: "The id of the next dispute.",
});

export const disputes = storageMap<bigint, Dispute>({
  hasher: "Twox64Concat",
  key: "u64",
  type: "Dispute",
  docs: "Open pinpoint games; removed when resolved or aborted.",
});
