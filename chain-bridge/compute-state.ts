// Reads of the Compute pallet's storage (PROTOCOL.md §11) into plain types, and access to its
// calls. Both sides use it: the operator's bridge and the node daemons.
import type { ApiPromise } from "@polkadot/api";
import type { ApiDecoration } from "@polkadot/api/types";
import { TranscriptLayout } from "../protocol/transcript.ts";
import { type DeliveryView, deliveryFromPrimitive } from "./delivery-state.ts";
import { BridgeError } from "./errors.ts";
import type { Extrinsic } from "./submitter.ts";
import {
  bigintOf,
  boolOf,
  hashOf,
  listOf,
  numberOf,
  objectOf,
  optionalOf,
  stringOf,
  variantOf,
} from "./values.ts";

export const TASK_STATUSES = [
  "Unassigned",
  "Assigned",
  "Committed",
  "Auditing",
  "Closed",
  "Finalized",
  "Cancelled",
] as const;
export type ChainTaskStatus = (typeof TASK_STATUSES)[number];

export const AUDIT_OUTCOMES = ["Pending", "Passed", "Failed"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface Commitment {
  root: string;
  checkpoints: number;
  steps: bigint;
  result: string;
  committedAt: number;
}

export interface AuditView {
  segment: number;
  verifier: string;
  /** The verifier's forced-error commitment this audit was drawn with. */
  commitment: string;
  verdict: { agrees: boolean; transcript: string; at: number } | null;
  challenger: { who: string; firstWrongStep: bigint; bond: bigint } | null;
  forced: boolean | null;
  outcome: AuditOutcome;
  settled: boolean;
}

export interface Payout {
  worker: bigint;
  verifiers: bigint;
  jackpot: bigint;
  refund: bigint;
}

export interface TaskView {
  chainTaskId: bigint;
  submitter: string;
  price: bigint;
  status: ChainTaskStatus;
  worker: string | null;
  attempt: number;
  /** The determinism profile every worker and verifier of the task has (PROTOCOL.md §3). */
  profile: string | null;
  /** The positions of the training-step graph (`spec.graph_nodes`, PROTOCOL.md §6.3): the range of phase 2 of a dispute. */
  graphNodes: number;
  /** Steps between committed checkpoints (`spec.checkpoint_interval`): segment `s` is (s·k, min((s+1)·k, steps)]. */
  checkpointInterval: bigint;
  commitDeadline: number;
  commitment: Commitment | null;
  /** The audit seed (PROTOCOL.md §5.3), once audits are selected. */
  seed: string | null;
  /** The stride of this round's verdict transcripts (PROTOCOL.md §5.4), once audits are selected. */
  transcriptStride: number;
  verdictDeadline: number;
  challengeEnd: number;
  revealEnd: number;
  audits: AuditView[];
  disputes: bigint[];
  payout: Payout | null;
  /** The attempt's delivery challenge (PROTOCOL.md §7): open, or ruled `Delivered`. */
  delivery: DeliveryView | null;
}

export interface NodeView {
  address: string;
  roles: { worker: boolean; verifier: boolean; whistleblower: boolean };
  profile: string;
  bonded: bigint;
  unbonding: bigint;
  unlockAt: number;
  commitment: string;
  /** An open audit recorded the commitment: the node takes no other audit until it commits anew. */
  commitmentInUse: boolean;
  duties: { worker: number; verifier: number; whistleblower: number };
}

/** The callable `Compute.<call>` of the connected runtime. */
export function computeCall(api: ApiPromise, call: string): (...args: unknown[]) => Extrinsic {
  const method = api.tx.compute?.[call];
  if (!method) {
    throw new BridgeError(
      "RECONCILE_FAILED",
      `the chain's runtime has no Compute.${call} call: it does not carry the pallet of PROTOCOL.md`,
    );
  }
  return method;
}

export function computeStorage(api: ApiPromise | ApiDecoration<"promise">, item: string) {
  const query = api.query.compute?.[item];
  if (!query) {
    throw new BridgeError("RECONCILE_FAILED", `the chain's runtime has no Compute.${item} storage`);
  }
  return query;
}

function audit(value: unknown, where: string): AuditView {
  const raw = objectOf(value, where);
  return {
    segment: numberOf(raw.segment, `${where}.segment`),
    verifier: stringOf(raw.verifier, `${where}.verifier`),
    commitment: hashOf(raw.commitment, `${where}.commitment`),
    verdict: optionalOf(raw.verdict, (present) => {
      const verdict = objectOf(present, `${where}.verdict`);
      return {
        agrees: boolOf(verdict.agrees, `${where}.verdict.agrees`),
        transcript: hashOf(verdict.transcript, `${where}.verdict.transcript`),
        at: numberOf(verdict.at, `${where}.verdict.at`),
      };
    }),
    challenger: optionalOf(raw.challenger, (present) => {
      const challenger = objectOf(present, `${where}.challenger`);
      return {
        who: stringOf(challenger.who, `${where}.challenger.who`),
        firstWrongStep: bigintOf(challenger.firstWrongStep, `${where}.challenger.firstWrongStep`),
        bond: bigintOf(challenger.bond, `${where}.challenger.bond`),
      };
    }),
    forced: optionalOf(raw.forced, (present) => boolOf(present, `${where}.forced`)),
    outcome: variantOf(raw.outcome, AUDIT_OUTCOMES, `${where}.outcome`),
    settled: boolOf(raw.settled, `${where}.settled`),
  };
}

/**
 * The strided transcript layout of audit `auditIndex` as the chain computes it (PROTOCOL.md §5.4):
 * its segment's bounds from the checkpoint interval and the committed steps, and the round's stride;
 * null when the task has no such audit or no commitment.
 */
export function auditLayout(task: TaskView, auditIndex: number): TranscriptLayout | null {
  const audit = task.audits[auditIndex];
  if (!audit || !task.commitment) return null;
  const start = BigInt(audit.segment) * task.checkpointInterval;
  const full = start + task.checkpointInterval;
  const end = full < task.commitment.steps ? full : task.commitment.steps;
  return new TranscriptLayout(start, end, BigInt(task.transcriptStride));
}

export function taskFromPrimitive(chainTaskId: bigint, value: unknown): TaskView {
  const where = `Compute.Tasks(${chainTaskId})`;
  const raw = objectOf(value, where);
  return {
    chainTaskId,
    submitter: stringOf(raw.submitter, `${where}.submitter`),
    price: bigintOf(raw.price, `${where}.price`),
    status: variantOf(raw.status, TASK_STATUSES, `${where}.status`),
    worker: optionalOf(raw.worker, (present) => stringOf(present, `${where}.worker`)),
    attempt: numberOf(raw.attempt, `${where}.attempt`),
    profile: optionalOf(raw.profile, (present) => hashOf(present, `${where}.profile`)),
    graphNodes: numberOf(objectOf(raw.spec, `${where}.spec`).graphNodes, `${where}.spec.graphNodes`),
    checkpointInterval: bigintOf(
      objectOf(raw.spec, `${where}.spec`).checkpointInterval,
      `${where}.spec.checkpointInterval`,
    ),
    commitDeadline: numberOf(raw.commitDeadline, `${where}.commitDeadline`),
    commitment: optionalOf(raw.commitment, (present) => {
      const commitment = objectOf(present, `${where}.commitment`);
      return {
        root: hashOf(commitment.root, `${where}.commitment.root`),
        checkpoints: numberOf(commitment.checkpoints, `${where}.commitment.checkpoints`),
        steps: bigintOf(commitment.steps, `${where}.commitment.steps`),
        result: hashOf(commitment.result, `${where}.commitment.result`),
        committedAt: numberOf(commitment.committedAt, `${where}.commitment.committedAt`),
      };
    }),
    seed: optionalOf(raw.seed, (present) => hashOf(present, `${where}.seed`)),
    transcriptStride: numberOf(raw.transcriptStride, `${where}.transcriptStride`),
    verdictDeadline: numberOf(raw.verdictDeadline, `${where}.verdictDeadline`),
    challengeEnd: numberOf(raw.challengeEnd, `${where}.challengeEnd`),
    revealEnd: numberOf(raw.revealEnd, `${where}.revealEnd`),
    audits: listOf(raw.audits, `${where}.audits`).map((entry, i) => audit(entry, `${where}.audits[${i}]`)),
    disputes: listOf(raw.disputes, `${where}.disputes`).map((id) => bigintOf(id, `${where}.disputes`)),
    payout: optionalOf(raw.payout, (present) => {
      const payout = objectOf(present, `${where}.payout`);
      return {
        worker: bigintOf(payout.worker, `${where}.payout.worker`),
        verifiers: bigintOf(payout.verifiers, `${where}.payout.verifiers`),
        jackpot: bigintOf(payout.jackpot, `${where}.payout.jackpot`),
        refund: bigintOf(payout.refund, `${where}.payout.refund`),
      };
    }),
    delivery: deliveryFromPrimitive(raw.delivery, `${where}.delivery`),
  };
}

/**
 * Every entry of the Compute map `item` as of the best block, as [key, value] primitives. Both the
 * keys and the values are read at that one block: read at "latest" one after the other, an entry
 * removed by a block imported in between comes back as a key with no value.
 */
export async function computeEntries(api: ApiPromise, item: string): Promise<[unknown, unknown][]> {
  const at = await api.at(await api.rpc.chain.getBlockHash());
  const entries = await computeStorage(at, item).entries();
  return entries.map(([key, value]) => [key.args[0]?.toPrimitive(), value.toPrimitive()]);
}

/** The tasks whose delivery challenge waits for the referee (PROTOCOL.md §7), in id order. */
export async function readChallengedDeliveries(api: ApiPromise): Promise<TaskView[]> {
  return (await computeEntries(api, "tasks"))
    .map(([key, value]) => taskFromPrimitive(bigintOf(key, "task id"), value))
    .filter((task) => task.status === "Committed" && task.delivery !== null && task.delivery.ruling === null)
    .sort((a, b) => (a.chainTaskId < b.chainTaskId ? -1 : 1));
}

export async function readTask(api: ApiPromise, chainTaskId: bigint): Promise<TaskView | null> {
  const value = (await computeStorage(api, "tasks")(chainTaskId)).toPrimitive();
  return value === null ? null : taskFromPrimitive(chainTaskId, value);
}

export async function readNode(api: ApiPromise, address: string): Promise<NodeView | null> {
  const value = (await computeStorage(api, "nodes")(address)).toPrimitive();
  if (value === null) return null;
  const where = `Compute.Nodes(${address})`;
  const raw = objectOf(value, where);
  const roles = objectOf(raw.roles, `${where}.roles`);
  return {
    address,
    roles: {
      worker: boolOf(roles.worker, `${where}.roles.worker`),
      verifier: boolOf(roles.verifier, `${where}.roles.verifier`),
      whistleblower: boolOf(roles.whistleblower, `${where}.roles.whistleblower`),
    },
    profile: hashOf(raw.profile, `${where}.profile`),
    bonded: bigintOf(raw.bonded, `${where}.bonded`),
    unbonding: bigintOf(raw.unbonding, `${where}.unbonding`),
    unlockAt: numberOf(raw.unlockAt, `${where}.unlockAt`),
    commitment: hashOf(raw.commitment, `${where}.commitment`),
    commitmentInUse: boolOf(raw.commitmentInUse, `${where}.commitmentInUse`),
    duties: {
      worker: numberOf(raw.workerDuties, `${where}.workerDuties`),
      verifier: numberOf(raw.verifierDuties, `${where}.verifierDuties`),
      whistleblower: numberOf(raw.whistleblowerDuties, `${where}.whistleblowerDuties`),
    },
  };
}

/** Free and reserved balance of an account, in planck. */
export async function readBalance(
  api: ApiPromise,
  address: string,
): Promise<{ free: bigint; reserved: bigint }> {
  const query = api.query.system?.account;
  if (!query) throw new BridgeError("RECONCILE_FAILED", "the chain's runtime has no System.Account storage");
  const data = objectOf(
    objectOf((await query(address)).toPrimitive(), "System.Account").data,
    "System.Account.data",
  );
  return {
    free: bigintOf(data.free, "System.Account.data.free"),
    reserved: bigintOf(data.reserved, "System.Account.data.reserved"),
  };
}

/**
 * The jackpot pot (PROTOCOL.md §1): the free balance of the keyless account the Compute pallet
 * names as its constant `JackpotAccount`, which the jackpot tax and share of slashes fund and
 * caught forced errors draw on.
 */
export async function readJackpot(api: ApiPromise): Promise<{ account: string; free: bigint }> {
  const constant = api.consts.compute?.jackpotAccount;
  if (!constant)
    throw new BridgeError("RECONCILE_FAILED", "the chain's runtime has no Compute.JackpotAccount");
  const account = constant.toString();
  return { account, free: (await readBalance(api, account)).free };
}

/** The parameters the bridge and the nodes time their calls by (PROTOCOL.md §2). */
export interface ProtocolParameters {
  commitBlocks: number;
  auditDelayBlocks: number;
  verdictBlocks: number;
  challengeBlocks: number;
  revealBlocks: number;
  /** Probability that an audit is a forced error, in parts per million. */
  forcedErrorPpm: number;
  maxVerificationLevel: number;
  /** Steps between the leaves of a verdict's transcript (PROTOCOL.md §5.4). */
  transcriptStride: number;
  /** Each pinpoint-game turn's deadline, in blocks (PROTOCOL.md §6.5). */
  roundBlocks: number;
}

const PARAMETER_FIELDS = [
  "commitBlocks",
  "auditDelayBlocks",
  "verdictBlocks",
  "challengeBlocks",
  "revealBlocks",
  "forcedErrorPpm",
  "maxVerificationLevel",
  "transcriptStride",
  "roundBlocks",
] as const satisfies readonly (keyof ProtocolParameters)[];

/** The number of the best block: the chain's deadlines and windows are block numbers. */
export async function readHead(api: ApiPromise): Promise<number> {
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

export async function readParameters(api: ApiPromise): Promise<ProtocolParameters> {
  const stored = objectOf((await computeStorage(api, "parameters")()).toPrimitive(), "Compute.Parameters");
  return Object.fromEntries(
    PARAMETER_FIELDS.map((field) => [field, numberOf(stored[field], `Compute.Parameters.${field}`)]),
  ) as unknown as ProtocolParameters;
}

/** The protocol's forced-error rate in parts per million (Compute.Parameters). */
export async function readForcedErrorPpm(api: ApiPromise): Promise<number> {
  return (await readParameters(api)).forcedErrorPpm;
}
