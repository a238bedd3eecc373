// pallet_compute: the compute market of chain-bridge/PROTOCOL.md — staked nodes, escrowed tasks,
// checkpoint commits, audits with forced errors, whistleblower challenges, the two-phase pinpoint
// game, slashing and settlement. This file is the call table; each concern lives in a compute-*.ts.
import {
  type AccountId,
  type CallDefinition,
  type DispatchContext,
  defineCall,
  definePallet,
  ensureRoot,
  ensureSigned,
  type NativeRecord,
} from "../pallet.ts";
import { challenge, closeAudits, reveal, submitVerdict, type VerdictEvidence } from "./compute-audits.ts";
import { challengeDelivery, closeDelivery, ruleDelivery } from "./compute-delivery.ts";
import { bisect, claimTimeout, resolveDispute, respond } from "./compute-disputes.ts";
import { computeErrors, ensure } from "./compute-errors.ts";
import { computeEvents, emit } from "./compute-events.ts";
import {
  bondExtra,
  deregister,
  getNode,
  JACKPOT_ACCOUNT,
  register,
  rotateCommitment,
  unbond,
  withdrawUnbonded,
} from "./compute-stake.ts";
import { disputes, nextDisputeId, nextTaskId, nodes, parameters, tasks } from "./compute-storage.ts";
import { cancelTask, commit, createTask, finalize, reassignTask, selectAudits } from "./compute-tasks.ts";
import {
  AUDIT_REF,
  type AuditRef,
  computeTypes,
  type DeliveryClaim,
  type DeliveryOutcome,
  DISPUTE_REF,
  type DisputeRef,
  type Hash,
  type Parameters as ProtocolParameters,
  type Roles,
  TASK_REF,
  type TaskRef,
  type TaskSpec,
} from "./compute-types.ts";

/** ref_time weights in picoseconds: bookkeeping calls, calls that scan the node list, proof checks. */
const LIGHT = () => 30_000_000n;
const SCANNING = () => 120_000_000n;
/** A proof costs one hash per sibling; its length is capped (MAX_PROOF_LENGTH), so the weight is bounded. */
const PROVING = (args: { proof: readonly Hash[] }) => 30_000_000n + 2_000_000n * BigInt(args.proof.length);
const PROVING_VERDICT = (args: { endStateProof: readonly Hash[]; leafProof: readonly Hash[] }) =>
  30_000_000n + 2_000_000n * BigInt(args.endStateProof.length + args.leafProof.length);

/** One sr25519 verification of a bounded message. */
const PROVING_CLAIM = () => 150_000_000n;

/** A call table entry whose origin check is the helper's: `run` gets what the check yields. */
type CallEntry<A extends NativeRecord, Run> = Omit<CallDefinition<A>, "handler"> & { run: Run };
type ByAccount<A> = (ctx: DispatchContext, who: AccountId, args: A) => void;

/** A call any signed account makes for itself. */
function signedCall<A extends NativeRecord>({
  run,
  ...entry
}: CallEntry<A, ByAccount<A>>): CallDefinition<A> {
  return defineCall<A>({ ...entry, handler: (ctx, origin, args) => run(ctx, ensureSigned(origin), args) });
}

/** A call only a registered node may make: the node must exist before any other check. */
function nodeCall<A extends NativeRecord>({ run, ...entry }: CallEntry<A, ByAccount<A>>): CallDefinition<A> {
  return signedCall<A>({
    ...entry,
    run: (ctx, who, args) => {
      getNode(ctx, who);
      run(ctx, who, args);
    },
  });
}

/** A call that moves a task or dispute along once its time has come: anyone may sign it. */
function anyoneCall<A extends NativeRecord>({
  run,
  ...entry
}: CallEntry<A, (ctx: DispatchContext, args: A) => void>): CallDefinition<A> {
  return signedCall<A>({ ...entry, run: (ctx, _who, args) => run(ctx, args) });
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
    p.minWhistleblowerStake > 0n &&
    p.transcriptStride > 0
  );
}

export const computePallet = definePallet({
  name: "Compute",
  index: 6,
  docs: "The Veritrain compute market (chain-bridge/PROTOCOL.md).",
  types: computeTypes,
  calls: {
    register: signedCall<{ roles: Roles; profile: Hash; commitment: Hash; bond: bigint }>({
      args: { roles: "Roles", profile: "H256", commitment: "H256", bond: "u128" },
      weight: LIGHT,
      docs: "Registers the caller as a node with roles, a determinism profile, a forced-error commitment and a bond.",
      run: register,
    }),
    bondExtra: signedCall<{ amount: bigint }>({
      args: { amount: "u128" },
      weight: LIGHT,
      docs: "Adds to the node's bonded stake.",
      run: (ctx, who, args) => bondExtra(ctx, who, args.amount),
    }),
    unbond: signedCall<{ amount: bigint }>({
      args: { amount: "u128" },
      weight: LIGHT,
      docs: "Starts unbonding: the amount stays reserved and slashable for `unbonding_blocks`.",
      run: (ctx, who, args) => unbond(ctx, who, args.amount),
    }),
    withdrawUnbonded: signedCall<Record<string, never>>({
      args: {},
      weight: LIGHT,
      docs: "Unreserves unbonded stake once the delay has passed and the node has no open duty.",
      run: withdrawUnbonded,
    }),
    deregister: signedCall<Record<string, never>>({
      args: {},
      weight: LIGHT,
      docs: "Removes a node without stake and duties.",
      run: deregister,
    }),
    createTask: signedCall<{ spec: TaskSpec; price: bigint }>({
      args: { spec: "TaskSpec", price: "u128" },
      weight: SCANNING,
      docs: "Reserves `price` as escrow and assigns a random eligible worker.",
      run: createTask,
    }),
    commit: nodeCall<{ taskId: bigint; root: Hash; checkpoints: number; steps: bigint; result: Hash }>({
      args: { taskId: "u64", root: "H256", checkpoints: "u32", steps: "u64", result: "H256" },
      weight: LIGHT,
      docs: "The worker commits the Merkle root of its checkpoints, their number, the steps trained and the result hash.",
      run: commit,
    }),
    selectAudits: anyoneCall<TaskRef>({
      args: TASK_REF,
      weight: SCANNING,
      docs: "Draws the audited segments and their verifiers from the randomness of a block after the commit.",
      run: (ctx, args) => selectAudits(ctx, args.taskId),
    }),
    submitVerdict: nodeCall<AuditRef & VerdictEvidence>({
      args: {
        ...AUDIT_REF,
        agrees: "bool",
        transcript: "H256",
        endState: "H256",
        endStateProof: "Vec<H256>",
        leaf: "H256",
        leafProof: "Vec<H256>",
      },
      weight: PROVING_VERDICT,
      docs: "The audit's verifier: whether its replay ends in the worker's checkpoint, the replay's strided transcript root, and proofs that its end state is the transcript's last leaf and `leaf` the worker's committed one; `agrees` must equal `end_state == leaf`.",
      run: submitVerdict,
    }),
    challenge: nodeCall<AuditRef & { firstWrongStep: bigint }>({
      args: { ...AUDIT_REF, firstWrongStep: "u64" },
      weight: LIGHT,
      docs: "A whistleblower bonds that the verdict's transcript is wrong from the state after `first_wrong_step`.",
      run: challenge,
    }),
    reveal: nodeCall<AuditRef & { secret: Hash; nextCommitment: Hash }>({
      args: { ...AUDIT_REF, secret: "H256", nextCommitment: "H256" },
      weight: LIGHT,
      docs: "The verifier reveals its forced-error secret after the challenge window and commits to the next one.",
      run: reveal,
    }),
    closeAudits: anyoneCall<TaskRef>({
      args: TASK_REF,
      weight: SCANNING,
      docs: "After the reveal window: settles every audit left (timeouts) and closes the audit phase.",
      run: (ctx, args) => closeAudits(ctx, args.taskId),
    }),
    respond: nodeCall<DisputeRef & { hash: Hash; proof: Hash[] }>({
      args: { ...DISPUTE_REF, hash: "H256", proof: "Vec<H256>" },
      weight: PROVING,
      docs: "The defender's turn: its claim at the position the game asks for, with an inclusion proof where bound to a root.",
      run: respond,
    }),
    bisect: nodeCall<DisputeRef & { agree: boolean }>({
      args: { ...DISPUTE_REF, agree: "bool" },
      weight: LIGHT,
      docs: "The challenger's turn: agree or disagree with the defender's answer at the midpoint.",
      run: bisect,
    }),
    claimTimeout: anyoneCall<DisputeRef>({
      args: DISPUTE_REF,
      weight: LIGHT,
      docs: "After a turn's deadline: the party whose turn it was loses the dispute.",
      run: (ctx, args) => claimTimeout(ctx, args.disputeId),
    }),
    resolveDispute: defineCall<DisputeRef & { output: Hash }>({
      args: { ...DISPUTE_REF, output: "H256" },
      weight: LIGHT,
      docs: "Root as referee: the hash of the narrowed operator's correct output; the defender wins if it matches its claim.",
      handler: (ctx, origin, args) => resolveDispute(ctx, origin, args),
    }),
    reassignTask: anyoneCall<TaskRef>({
      args: TASK_REF,
      weight: SCANNING,
      docs: "Slashes a worker that missed its commit deadline and draws another, or retries an unassigned task.",
      run: (ctx, args) => reassignTask(ctx, args.taskId),
    }),
    finalize: anyoneCall<TaskRef>({
      args: TASK_REF,
      weight: LIGHT,
      docs: "Pays the worker, the verifiers and the jackpot tax from escrow and refunds the rest to the submitter.",
      run: (ctx, args) => finalize(ctx, args.taskId),
    }),
    cancelTask: signedCall<TaskRef>({
      args: TASK_REF,
      weight: LIGHT,
      docs: "The submitter cancels a task not committed, committed but undelivered, or whose every audit failed; the escrow is refunded.",
      run: (ctx, who, args) => cancelTask(ctx, who, args.taskId),
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
    rotateCommitment: nodeCall<{ commitment: Hash }>({
      args: { commitment: "H256" },
      weight: LIGHT,
      docs: "A verifier commits to a new forced-error secret, so that it may take another audit while earlier ones are open.",
      run: (ctx, who, args) => rotateCommitment(ctx, who, args.commitment),
    }),
    challengeDelivery: signedCall<TaskRef & { claim: DeliveryClaim | null }>({
      args: { ...TASK_REF, claim: "Option<DeliveryClaim>" },
      weight: PROVING_CLAIM,
      docs: "The submitter bonds that a commit past its delivery window never delivered its checkpoints, or named a model (the worker's signed claim) that is not theirs.",
      run: challengeDelivery,
    }),
    ruleDelivery: defineCall<TaskRef & { outcome: DeliveryOutcome }>({
      args: { ...TASK_REF, outcome: "DeliveryOutcome" },
      weight: SCANNING,
      docs: "Root as referee rules a delivery challenge: Delivered pays the bond to the worker; Undelivered or FalseClaim slashes the worker and re-assigns the task.",
      handler: (ctx, origin, args) => ruleDelivery(ctx, origin, args),
    }),
    closeDelivery: anyoneCall<TaskRef>({
      args: TASK_REF,
      weight: SCANNING,
      docs: "After a delivery challenge lapsed without a ruling: the bond returns, the attempt is void, nobody is slashed.",
      run: (ctx, args) => closeDelivery(ctx, args.taskId),
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
