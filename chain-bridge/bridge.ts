// The chain bridge as the API's services use it, in domain terms: open a job's escrow from the
// operator's treasury, read a task, select and close its audits, finalize, cancel. Every call is
// caused by a task row and journaled before it is signed (submitter.ts), so calling an operation
// again after a crash or a timeout resumes it instead of repeating it.
import type { ApiPromise } from "@polkadot/api";
import type { Database } from "../prisma/client.ts";
import type { Prisma, Task } from "../prisma/generated/client.ts";
import {
  computeCall,
  type Payout,
  type ProtocolParameters,
  readJackpot,
  readParameters,
  readTask,
  type TaskView,
} from "./compute-state.ts";
import { type ChainConnection, connectChain } from "./connection.ts";
import { escrowFor, type PlanckAmount, parseTokenRate, type TokenRate } from "./conversion.ts";
import { type DeliveryClaimInput, deliveryClaimArgument } from "./delivery-state.ts";
import { type DisputeView, readDispute } from "./dispute-state.ts";
import { BridgeError } from "./errors.ts";
import { EventWatcher, type EventWatcherOptions } from "./event-watcher.ts";
import { signerFromSeed } from "./signer.ts";
import { type Extrinsic, Submitter, type SubmitterOptions } from "./submitter.ts";
import { disputeCause, type TaskAction, taskCause, taskEffects } from "./task-effects.ts";
import { PrismaTransactionStore, type TxRecord } from "./transaction-store.ts";
import { hashArgument } from "./values.ts";

/** What the chain needs to know of a job (PROTOCOL.md §5.1); hashes are SHA-256 hex, 0x optional. */
export interface TaskSpecInput {
  modelSha256: string;
  datasetSha256: string;
  specSha256: string;
  /** Required determinism profile hash, or null for any. */
  profile: string | null;
  maxSteps: bigint;
  checkpointInterval: bigint;
  graphNodes: number;
  verificationLevel: number;
}

export interface OpenEscrowRequest {
  /** The task row's id (`task_...`): the cause of the escrow, created here if it does not exist. */
  taskId: string;
  jobId: string;
  /** The dollars reserved for the job, converted at the configured rate (rounded up). */
  usdCents: bigint;
  spec: TaskSpecInput;
}

export interface Escrow {
  taskId: string;
  chainTaskId: bigint;
  escrowCents: bigint;
  escrowPlanck: bigint;
  /** The TOKEN_USD_RATE used, as recorded with the task. */
  usdPerVt: string;
  worker: string | null;
  commitDeadline: number | null;
  extrinsicHash: string | null;
  blockHash: string | null;
  blockNumber: number | null;
}

/** A finalized or cancelled task in both currencies; the cents always add up to the escrow. */
export interface Settlement {
  payout: Payout;
  spentCents: bigint;
  refundCents: bigint;
}

export interface ChainBridgeOptions {
  api: ApiPromise;
  db: Database;
  /** The treasury that escrows every job (OPERATOR_SEED). */
  operatorSeed: string;
  /** TOKEN_USD_RATE: US dollars per VT. */
  tokenUsdRate: string;
  submitter?: SubmitterOptions;
}

function validSpec(spec: TaskSpecInput) {
  const positive = (value: bigint, name: string) => {
    if (value < 1n)
      throw new BridgeError("INVALID_ARGUMENT", `spec.${name} must be at least 1, got ${value}`);
    return value;
  };
  if (!Number.isInteger(spec.graphNodes) || spec.graphNodes < 1) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `spec.graphNodes must be a positive integer, got ${spec.graphNodes}`,
    );
  }
  if (
    !Number.isInteger(spec.verificationLevel) ||
    spec.verificationLevel < 0 ||
    spec.verificationLevel > 255
  ) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `spec.verificationLevel must be an integer from 0 to 255, got ${spec.verificationLevel}`,
    );
  }
  if (spec.checkpointInterval > spec.maxSteps) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `spec.checkpointInterval (${spec.checkpointInterval}) must not exceed spec.maxSteps (${spec.maxSteps})`,
    );
  }
  return {
    modelHash: hashArgument(spec.modelSha256, "spec.modelSha256"),
    datasetHash: hashArgument(spec.datasetSha256, "spec.datasetSha256"),
    specHash: hashArgument(spec.specSha256, "spec.specSha256"),
    profile: spec.profile === null ? null : hashArgument(spec.profile, "spec.profile"),
    maxSteps: positive(spec.maxSteps, "maxSteps"),
    checkpointInterval: positive(spec.checkpointInterval, "checkpointInterval"),
    graphNodes: spec.graphNodes,
    verificationLevel: spec.verificationLevel,
  };
}

function planckOf(value: Prisma.Decimal | null): bigint {
  return value === null ? 0n : BigInt(value.toFixed(0));
}

export class ChainBridge {
  private constructor(
    readonly api: ApiPromise,
    private readonly db: Database,
    readonly submitter: Submitter,
    private readonly store: PrismaTransactionStore,
    /** TOKEN_USD_RATE, parsed: every escrow is converted at it and records it. */
    readonly rate: TokenRate,
    private readonly connection: ChainConnection | null,
  ) {}

  /**
   * A bridge over an open API connection. Resumes whatever the operator's journal left unsettled
   * (a crash between submitting and recording) before it returns: call it once per process.
   */
  static async create(
    options: ChainBridgeOptions,
    connection: ChainConnection | null = null,
  ): Promise<ChainBridge> {
    const rate = parseTokenRate(options.tokenUsdRate);
    const operator = await signerFromSeed(options.operatorSeed, options.api.registry.chainSS58 ?? 42);
    const store = new PrismaTransactionStore(options.db, taskEffects);
    const submitter = new Submitter(options.api, operator, store, options.submitter);
    const bridge = new ChainBridge(options.api, options.db, submitter, store, rate, connection);
    await submitter.reconcile();
    return bridge;
  }

  /** Connects to the node at `url` and creates the bridge; `close()` disconnects. */
  static async connect(url: string, options: Omit<ChainBridgeOptions, "api">): Promise<ChainBridge> {
    const connection = await connectChain(url);
    try {
      return await ChainBridge.create({ ...options, api: connection.api }, connection);
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  get operatorAddress(): string {
    return this.submitter.address;
  }

  /** The escrow `usdCents` buys at the configured rate (rounded up), without touching the chain. */
  quoteEscrow(usdCents: bigint): PlanckAmount {
    return escrowFor(usdCents, this.rate);
  }

  /**
   * Opens the job's escrow: `compute.create_task` from the operator's treasury. Idempotent per
   * task id: a second call resumes or returns the first one's escrow. Rejects with
   * DISPATCH_FAILED (e.g. Compute.NoEligibleWorker, Balances/Compute.InsufficientBalance) when the
   * chain refuses it; the task is then `open_failed` and a later call tries again.
   */
  async openEscrow(request: OpenEscrowRequest): Promise<Escrow> {
    const spec = validSpec(request.spec);
    if (request.usdCents < 1n) {
      throw new BridgeError("INVALID_ARGUMENT", `usdCents must be at least 1, got ${request.usdCents}`);
    }
    const createTask = computeCall(this.api, "createTask");
    const pending = await this.db.$transaction(async (tx) => {
      let task = await tx.task.findUnique({ where: { id: request.taskId } });
      if (task === null) {
        const escrow = escrowFor(request.usdCents, this.rate);
        task = await tx.task.create({
          data: {
            id: request.taskId,
            jobId: request.jobId,
            status: "opening",
            escrowCents: request.usdCents,
            escrowPlanck: escrow.planck.toString(),
            usdPerVt: escrow.rate.usdPerVt,
          },
        });
      } else if (task.jobId !== request.jobId || task.escrowCents !== request.usdCents) {
        throw new BridgeError(
          "CAUSE_CONFLICT",
          `task ${request.taskId} already escrows ${task.escrowCents} cents for job ${task.jobId}`,
        );
      }
      if (task.status !== "opening" && task.status !== "open_failed") return null;
      if (task.status === "open_failed") {
        await tx.task.update({ where: { id: task.id }, data: { status: "opening", failureReason: null } });
      }
      const call = createTask(spec, planckOf(task.escrowPlanck));
      return this.#record(tx, task.id, "create", "Compute.create_task", call);
    });
    const record = pending ? await this.submitter.resume(pending.record, pending.expected) : null;
    const task = await this.db.task.findUniqueOrThrow({ where: { id: request.taskId } });
    return this.#escrowOf(task, record ?? (await this.store.succeeded(taskCause(task.id, "create"))));
  }

  /** The task's state on chain, read from storage now. */
  async taskState(taskId: string): Promise<TaskView> {
    const chainTaskId = await this.#chainTaskId(taskId);
    const view = await readTask(this.api, chainTaskId);
    if (view === null) {
      throw new BridgeError("UNKNOWN_TASK", `task ${taskId} (chain task ${chainTaskId}) is not on chain`);
    }
    return view;
  }

  /**
   * Draws the audits of `attempt` once its commit is old enough (anyone may; the operator does it
   * on time); `round` > 0 draws again, from other verifiers, after every audit of the last failed.
   */
  async selectAudits(taskId: string, attempt: number, round = 0): Promise<TxRecord> {
    return this.#taskCall(taskId, "select_audits", "Compute.select_audits", "selectAudits", attempt, round);
  }

  /** Settles every audit of `attempt`'s audit `round` after the reveal window. */
  async closeAudits(taskId: string, attempt: number, round = 0): Promise<TxRecord> {
    return this.#taskCall(taskId, "close_audits", "Compute.close_audits", "closeAudits", attempt, round);
  }

  /**
   * Gives the task of a worker that missed its commit deadline (`attempt` being the missed one)
   * to another worker; the chain slashes the one that missed it. The escrow stays as it was.
   */
  async reassign(taskId: string, attempt: number): Promise<TxRecord> {
    return this.#taskCall(taskId, "reassign", "Compute.reassign_task", "reassignTask", attempt);
  }

  /**
   * Challenges the delivery of `attempt`'s commit (PROTOCOL.md §7): its checkpoints or model never
   * arrived, or `claim`, the worker's own signed commitment, names a model its checkpoints do not
   * give. Reserves the challenge bond; the referee rules. Journaled once per attempt.
   */
  async challengeDelivery(
    taskId: string,
    attempt: number,
    claim: DeliveryClaimInput | null,
  ): Promise<TxRecord> {
    return this.#taskCall(
      taskId,
      "challenge_delivery",
      "Compute.challenge_delivery",
      "challengeDelivery",
      attempt,
      0,
      [deliveryClaimArgument(claim)],
    );
  }

  /** Closes a delivery challenge no referee ruled on in time: the attempt is void, nobody slashed. */
  async closeDelivery(taskId: string, attempt: number): Promise<TxRecord> {
    return this.#taskCall(taskId, "close_delivery", "Compute.close_delivery", "closeDelivery", attempt);
  }

  /** An open dispute of the pinpoint game (PROTOCOL.md §6), or null once it is resolved. */
  dispute(disputeId: bigint): Promise<DisputeView | null> {
    return readDispute(this.api, disputeId);
  }

  /**
   * Ends a dispute whose defender or challenger missed its turn (`now > deadline`, PROTOCOL.md
   * §6.5): that party loses. Anyone may call it; the operator does, so that a party that stalls
   * neither keeps the task's escrow locked nor its stake. Journaled once per dispute and task.
   */
  async claimTimeout(taskId: string, disputeId: bigint): Promise<TxRecord> {
    await this.#chainTaskId(taskId);
    const extrinsic = computeCall(this.api, "claimTimeout")(disputeId);
    const expected = { callHex: extrinsic.method.toHex(), signer: this.submitter.address };
    const record = await this.db.$transaction((tx) =>
      this.store.recordRetryable(tx, {
        causeKey: disputeCause(taskId, disputeId),
        purpose: "Compute.claim_timeout",
        ...expected,
      }),
    );
    return this.submitter.resume(record, expected);
  }

  /** The number of the best block: deadlines on chain are block numbers. */
  async head(): Promise<number> {
    return (await this.api.rpc.chain.getHeader()).number.toNumber();
  }

  /** The chain's genesis hash, which names the chain in a receipt. */
  get genesisHash(): string {
    return this.api.genesisHash.toHex();
  }

  /** The protocol's parameters now (PROTOCOL.md §2). */
  parameters(): Promise<ProtocolParameters> {
    return readParameters(this.api);
  }

  /** The jackpot pot's balance in planck: what the jackpot tax and slashes put in, less what it paid. */
  async jackpotBalance(): Promise<bigint> {
    return (await readJackpot(this.api)).free;
  }

  /** Pays the worker and verifiers from the escrow and refunds the rest to the treasury. */
  async finalize(taskId: string): Promise<Settlement> {
    await this.#taskCall(taskId, "finalize", "Compute.finalize", "finalize");
    return this.settlement(taskId);
  }

  /**
   * Cancels a task not yet committed, committed but never delivered, or whose every audit failed
   * (PROTOCOL.md §9); the whole escrow returns to the treasury.
   */
  async cancel(taskId: string): Promise<Settlement> {
    await this.#taskCall(taskId, "cancel", "Compute.cancel_task", "cancelTask");
    return this.settlement(taskId);
  }

  /**
   * A finalized or cancelled task's payout in planck and in cents. The dollars reserved bought the
   * escrow's tokens, so the share of the escrow spent is the share of the dollars charged, rounded
   * up to the cent (never charge less than the tokens paid out); the refund is the rest, so the
   * two always add up to the reservation. Working on the escrow's own ratio, not the rate, keeps
   * the rounding of the escrow (a fraction of a planck) from ever costing the user a cent.
   */
  async settlement(taskId: string): Promise<Settlement> {
    const task = await this.db.task.findUnique({ where: { id: taskId } });
    if (task === null || (task.status !== "finalized" && task.status !== "cancelled")) {
      throw new BridgeError("UNKNOWN_TASK", `task ${taskId} is not finalized or cancelled`);
    }
    const payout: Payout = {
      worker: planckOf(task.workerPayPlanck),
      verifiers: planckOf(task.verifierPayPlanck),
      jackpot: planckOf(task.jackpotTaxPlanck),
      refund: planckOf(task.refundPlanck),
    };
    const escrowPlanck = planckOf(task.escrowPlanck);
    const spentPlanck = escrowPlanck - payout.refund;
    if (spentPlanck < 0n || escrowPlanck === 0n) {
      throw new BridgeError(
        "RECONCILE_FAILED",
        `task ${taskId} refunded ${payout.refund} planck from an escrow of ${escrowPlanck}`,
      );
    }
    const scaled = task.escrowCents * spentPlanck;
    const spentCents = scaled / escrowPlanck + (scaled % escrowPlanck === 0n ? 0n : 1n);
    return { payout, spentCents, refundCents: task.escrowCents - spentCents };
  }

  /**
   * Starts reconciling Compute events into the database from the stored cursor; `onEvent` sees
   * each event after its block is committed. Stop the returned watcher before `close()`.
   */
  async watch(
    onEvent?: EventWatcherOptions["onEvent"],
    options: Omit<EventWatcherOptions, "api" | "db" | "onEvent"> = {},
  ): Promise<EventWatcher> {
    const watcher = new EventWatcher({ ...options, api: this.api, db: this.db, onEvent });
    await watcher.start();
    return watcher;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  async #chainTaskId(taskId: string): Promise<bigint> {
    const task = await this.db.task.findUnique({ where: { id: taskId } });
    if (task === null) throw new BridgeError("UNKNOWN_TASK", `no task ${taskId} in the database`);
    if (task.chainTaskId === null) {
      throw new BridgeError(
        "UNKNOWN_TASK",
        `task ${taskId} has no escrow on chain yet (status ${task.status})`,
      );
    }
    return task.chainTaskId;
  }

  async #taskCall(
    taskId: string,
    action: TaskAction,
    purpose: string,
    call: string,
    attempt?: number,
    round?: number,
    args: readonly unknown[] = [],
  ): Promise<TxRecord> {
    const chainTaskId = await this.#chainTaskId(taskId);
    const extrinsic = computeCall(this.api, call)(chainTaskId, ...args);
    const pending = await this.db.$transaction((tx) =>
      this.#record(tx, taskId, action, purpose, extrinsic, attempt, round),
    );
    return this.submitter.resume(pending.record, pending.expected);
  }

  /**
   * Journals the call under the task's cause key. A cause whose last extrinsic failed on chain
   * (a definite, final outcome) gets a numbered retry key; any other state is resumed as is.
   */
  async #record(
    tx: Prisma.TransactionClient,
    taskId: string,
    action: TaskAction,
    purpose: string,
    call: Extrinsic,
    attempt?: number,
    round?: number,
  ) {
    const expected = { callHex: call.method.toHex(), signer: this.submitter.address };
    const record = await this.store.recordRetryable(tx, {
      causeKey: taskCause(taskId, action, attempt, round),
      purpose,
      ...expected,
    });
    return { record, expected };
  }

  #escrowOf(task: Task, record: TxRecord | null): Escrow {
    if (task.chainTaskId === null) {
      throw new BridgeError(
        "RECONCILE_FAILED",
        `task ${task.id} has no chain task id after its escrow opened`,
      );
    }
    return {
      taskId: task.id,
      chainTaskId: task.chainTaskId,
      escrowCents: task.escrowCents,
      escrowPlanck: planckOf(task.escrowPlanck),
      usdPerVt: task.usdPerVt.toFixed(),
      worker: task.workerAddress,
      commitDeadline: task.commitDeadline,
      extrinsicHash: record?.extrinsicHash ?? null,
      blockHash: record?.blockHash ?? null,
      blockNumber: record?.blockNumber ?? null,
    };
  }
}
