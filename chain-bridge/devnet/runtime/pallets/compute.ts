// pallet_compute: the compute market of chain-bridge/PROTOCOL.md — staked nodes, escrowed tasks,
// checkpoint commits, audits with forced errors, whistleblower challenges, the two-phase pinpoint
// game, slashing and settlement. This file is the call table; each concern lives in a compute-*.ts.
import {
  type AccountId,
  type DispatchContext,
  defineCall,
  definePallet,
  ensureRoot,
  ensureSigned,
} from "../pallet.ts";
import { challenge, closeAudits, reveal, submitVerdict } from "./compute-audits.ts";
import { bisect, claimTimeout, resolveDispute, respond } from "./compute-disputes.ts";
import { computeErrors, ensure } from "./compute-errors.ts";
import { computeEvents, emit } from "./compute-events.ts";
import {
  bondExtra,
  deregister,
  getNode,
  JACKPOT_ACCOUNT,
  register,
  unbond,
  withdrawUnbonded,
} from "./compute-stake.ts";
import { disputes, nextDisputeId, nextTaskId, nodes, parameters, tasks } from "./compute-storage.ts";
import { cancelTask, commit, createTask, finalize, reassignTask, selectAudits } from "./compute-tasks.ts";
import {
  computeTypes,
  type Hash,
  type Parameters as ProtocolParameters,
  type Roles,
  type TaskSpec,
} from "./compute-types.ts";

/** ref_time weights in picoseconds: bookkeeping calls, calls that scan the node list, proof checks. */
const LIGHT = () => 30_000_000n;
const SCANNING = () => 120_000_000n;
/** A proof costs one hash per sibling; its length is capped (MAX_PROOF_LENGTH), so the weight is bounded. */
const PROVING = (args: { proof: readonly Hash[] }) => 30_000_000n + 2_000_000n * BigInt(args.proof.length);

/** Calls only a registered node may make: the node must exist before any other check. */
function ensureNode(ctx: DispatchContext, who: AccountId): AccountId {
  getNode(ctx, who);
  return who;
}

function validParameters(p: ProtocolParameters): boolean {
  const percents = [
    p.fraudSlashPercent,
    p.timeoutSlashPercent,
    p.winnerSharePercent,
    p.jackpotSharePercent,
    p.verifierSharePercent,
    p.jackpotTaxPercent,
  ];
  const windows = [
    p.commitBlocks,
    p.auditDelayBlocks,
    p.verdictBlocks,
    p.challengeBlocks,
    p.revealBlocks,
    p.roundBlocks,
  ];
  return (
    percents.every((percent) => percent <= 100) &&
    p.winnerSharePercent + p.jackpotSharePercent <= 100 &&
    p.verifierSharePercent + p.jackpotTaxPercent <= 100 &&
    p.forcedErrorPpm <= 1_000_000 &&
    windows.every((blocks) => blocks > 0) &&
    p.minWorkerStake > 0n &&
    p.minVerifierStake > 0n &&
    p.minWhistleblowerStake > 0n
  );
}

type TaskRef = { taskId: bigint };
type AuditRef = { taskId: bigint; auditIndex: number };
type DisputeRef = { disputeId: bigint };

export const computePallet = definePallet({
  name: "Compute",
  index: 6,
  docs: "The Veritrain compute market (chain-bridge/PROTOCOL.md).",
  types: computeTypes,
  calls: {
    register: defineCall<{ roles: Roles; profile: Hash; commitment: Hash; bond: bigint }>({
      args: { roles: "Roles", profile: "H256", commitment: "H256", bond: "u128" },
      weight: LIGHT,
      docs: "Registers the caller as a node with roles, a determinism profile, a forced-error commitment and a bond.",
      handler: (ctx, origin, args) => register(ctx, ensureSigned(origin), args),
    }),
    bondExtra: defineCall<{ amount: bigint }>({
      args: { amount: "u128" },
      weight: LIGHT,
      docs: "Adds to the node's bonded stake.",
      handler: (ctx, origin, args) => bondExtra(ctx, ensureSigned(origin), args.amount),
    }),
    unbond: defineCall<{ amount: bigint }>({
      args: { amount: "u128" },
      weight: LIGHT,
      docs: "Starts unbonding: the amount stays reserved and slashable for `unbonding_blocks`.",
      handler: (ctx, origin, args) => unbond(ctx, ensureSigned(origin), args.amount),
    }),
    withdrawUnbonded: defineCall<Record<string, never>>({
      args: {},
      weight: LIGHT,
      docs: "Unreserves unbonded stake once the delay has passed and the node has no open duty.",
      handler: (ctx, origin) => withdrawUnbonded(ctx, ensureSigned(origin)),
    }),
    deregister: defineCall<Record<string, never>>({
      args: {},
      weight: LIGHT,
      docs: "Removes a node without stake and duties.",
      handler: (ctx, origin) => deregister(ctx, ensureSigned(origin)),
    }),
    createTask: defineCall<{ spec: TaskSpec; price: bigint }>({
      args: { spec: "TaskSpec", price: "u128" },
      weight: SCANNING,
      docs: "Reserves `price` as escrow and assigns a random eligible worker.",
      handler: (ctx, origin, args) => createTask(ctx, ensureSigned(origin), args),
    }),
    commit: defineCall<{ taskId: bigint; root: Hash; checkpoints: number; steps: bigint; result: Hash }>({
      args: { taskId: "u64", root: "H256", checkpoints: "u32", steps: "u64", result: "H256" },
      weight: LIGHT,
      docs: "The worker commits the Merkle root of its checkpoints, their number, the steps trained and the result hash.",
      handler: (ctx, origin, args) => commit(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    selectAudits: defineCall<TaskRef>({
      args: { taskId: "u64" },
      weight: SCANNING,
      docs: "Draws the audited segments and their verifiers from the randomness of a block after the commit.",
      handler: (ctx, origin, args) => {
        ensureSigned(origin);
        selectAudits(ctx, args.taskId);
      },
    }),
    submitVerdict: defineCall<AuditRef & { agrees: boolean; transcript: Hash }>({
      args: { taskId: "u64", auditIndex: "u32", agrees: "bool", transcript: "H256" },
      weight: LIGHT,
      docs: "The audit's verifier: whether its replay ends in the worker's checkpoint, and the replay's transcript root.",
      handler: (ctx, origin, args) => submitVerdict(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    challenge: defineCall<AuditRef & { firstWrongStep: bigint }>({
      args: { taskId: "u64", auditIndex: "u32", firstWrongStep: "u64" },
      weight: LIGHT,
      docs: "A whistleblower bonds that the verdict's transcript is wrong from the state after `first_wrong_step`.",
      handler: (ctx, origin, args) => challenge(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    reveal: defineCall<AuditRef & { secret: Hash; nextCommitment: Hash }>({
      args: { taskId: "u64", auditIndex: "u32", secret: "H256", nextCommitment: "H256" },
      weight: LIGHT,
      docs: "The verifier reveals its forced-error secret after the challenge window and commits to the next one.",
      handler: (ctx, origin, args) => reveal(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    closeAudits: defineCall<TaskRef>({
      args: { taskId: "u64" },
      weight: SCANNING,
      docs: "After the reveal window: settles every audit left (timeouts) and closes the audit phase.",
      handler: (ctx, origin, args) => {
        ensureSigned(origin);
        closeAudits(ctx, args.taskId);
      },
    }),
    respond: defineCall<DisputeRef & { hash: Hash; proof: Hash[] }>({
      args: { disputeId: "u64", hash: "H256", proof: "Vec<H256>" },
      weight: PROVING,
      docs: "The defender's turn: its claim at the position the game asks for, with an inclusion proof where bound to a root.",
      handler: (ctx, origin, args) => respond(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    bisect: defineCall<DisputeRef & { agree: boolean }>({
      args: { disputeId: "u64", agree: "bool" },
      weight: LIGHT,
      docs: "The challenger's turn: agree or disagree with the defender's answer at the midpoint.",
      handler: (ctx, origin, args) => bisect(ctx, ensureNode(ctx, ensureSigned(origin)), args),
    }),
    claimTimeout: defineCall<DisputeRef>({
      args: { disputeId: "u64" },
      weight: LIGHT,
      docs: "After a turn's deadline: the party whose turn it was loses the dispute.",
      handler: (ctx, origin, args) => {
        ensureSigned(origin);
        claimTimeout(ctx, args.disputeId);
      },
    }),
    resolveDispute: defineCall<DisputeRef & { output: Hash }>({
      args: { disputeId: "u64", output: "H256" },
      weight: LIGHT,
      docs: "Root as referee: the hash of the narrowed operator's correct output; the defender wins if it matches its claim.",
      handler: (ctx, origin, args) => resolveDispute(ctx, origin, args),
    }),
    reassignTask: defineCall<TaskRef>({
      args: { taskId: "u64" },
      weight: SCANNING,
      docs: "Slashes a worker that missed its commit deadline and draws another, or retries an unassigned task.",
      handler: (ctx, origin, args) => {
        ensureSigned(origin);
        reassignTask(ctx, args.taskId);
      },
    }),
    finalize: defineCall<TaskRef>({
      args: { taskId: "u64" },
      weight: LIGHT,
      docs: "Pays the worker, the verifiers and the jackpot tax from escrow and refunds the rest to the submitter.",
      handler: (ctx, origin, args) => {
        ensureSigned(origin);
        finalize(ctx, args.taskId);
      },
    }),
    cancelTask: defineCall<TaskRef>({
      args: { taskId: "u64" },
      weight: LIGHT,
      docs: "The submitter cancels a task whose worker has not committed; the escrow is refunded.",
      handler: (ctx, origin, args) => cancelTask(ctx, ensureSigned(origin), args.taskId),
    }),
    setParameters: defineCall<{ parameters: ProtocolParameters }>({
      args: { parameters: "Parameters" },
      weight: LIGHT,
      docs: "Root sets every protocol parameter at once.",
      handler: (ctx, origin, args) => {
        ensureRoot(origin);
        ensure(validParameters(args.parameters), "InvalidParameters");
        parameters.set(ctx, args.parameters);
        emit(ctx, "ParametersSet", {});
      },
    }),
  },
  storage: {
    Parameters: parameters,
    Nodes: nodes,
    NextTaskId: nextTaskId,
    Tasks: tasks,
    NextDisputeId: nextDisputeId,
    Disputes: disputes,
  },
  events: computeEvents,
  errors: computeErrors,
  constants: {
    JackpotAccount: {
      type: "AccountId32",
      value: JACKPOT_ACCOUNT,
      docs: "The keyless account holding the jackpot pot.",
    },
  },
});
