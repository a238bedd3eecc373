// The chain as a node daemon (worker, verifier, whistleblower) uses it: staking, the checkpoint
// commit, audit verdicts, forced-error reveals and challenges, the turns of a pinpoint game, each signed with the node's own
// key through its own submission queue. A node keeps no database, so its journal is in memory;
// what protects it from doing a duty twice is the chain itself: a second commit or verdict is
// refused with WrongTaskStatus / AlreadySubmitted, surfaced as a DISPATCH_FAILED BridgeError.
// Each call is a cause of its own, so a call refused for timing (TooEarly, RevealTooEarly) can
// simply be made again later.
import type { ApiPromise } from "@polkadot/api";
import {
  computeCall,
  type NodeView,
  type ProtocolParameters,
  readBalance,
  readNode,
  readParameters,
  readTask,
  type TaskView,
} from "./compute-state.ts";
import { type ChainConnection, connectChain } from "./connection.ts";
import { type DisputeView, readDispute, readOpenDisputes } from "./dispute-state.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { Submitter, type SubmitterOptions } from "./submitter.ts";
import { MemoryTransactionStore, type TxRecord } from "./transaction-store.ts";
import { hashArgument } from "./values.ts";
import { readVerdictEvents, type VerdictEvent } from "./verdict-events.ts";

export interface NodeRoles {
  worker: boolean;
  verifier: boolean;
  whistleblower: boolean;
}

export interface Registration {
  roles: NodeRoles;
  /** blake2-256 of the node's determinism profile (its canonical JSON). */
  profile: string;
  /** blake2-256 of the node's current forced-error secret (forced-errors.ts). */
  commitment: string;
  /** Planck to bond; at least the highest minimum stake of its roles. */
  bond: bigint;
}

export interface CheckpointCommit {
  chainTaskId: bigint;
  root: string;
  checkpoints: number;
  steps: bigint;
  result: string;
}

export interface AuditRef {
  chainTaskId: bigint;
  auditIndex: number;
}

/** A verdict and the proofs that tie its opinion to its transcript (PROTOCOL.md §5.4); hashes `0x` hex. */
export interface VerdictSubmission {
  agrees: boolean;
  /** Merkle root of the strided transcript. */
  transcript: string;
  /** The replay's end state: the transcript's last leaf, with its inclusion proof. */
  endState: string;
  endStateProof: string[];
  /** The worker's committed leaf for the segment's end, with its inclusion proof in the commitment root. */
  leaf: string;
  leafProof: string[];
}

function positive(amount: bigint, name: string): bigint {
  if (amount < 1n)
    throw new BridgeError("INVALID_ARGUMENT", `${name} must be at least 1 planck, got ${amount}`);
  return amount;
}

export class NodeChainClient {
  #sequence = 0;

  private constructor(
    readonly api: ApiPromise,
    private readonly submitter: Submitter,
    private readonly connection: ChainConnection | null,
  ) {}

  static async create(
    api: ApiPromise,
    seed: string,
    options: SubmitterOptions = {},
    connection: ChainConnection | null = null,
  ): Promise<NodeChainClient> {
    const signer = await signerFromSeed(seed, api.registry.chainSS58 ?? 42);
    return new NodeChainClient(
      api,
      new Submitter(api, signer, new MemoryTransactionStore(), options),
      connection,
    );
  }

  static async connect(url: string, seed: string, options: SubmitterOptions = {}): Promise<NodeChainClient> {
    const connection = await connectChain(url);
    try {
      return await NodeChainClient.create(connection.api, seed, options, connection);
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  get address(): string {
    return this.submitter.address;
  }

  register(registration: Registration): Promise<TxRecord> {
    const roles = registration.roles;
    if (!roles.worker && !roles.verifier && !roles.whistleblower) {
      throw new BridgeError(
        "INVALID_ARGUMENT",
        "a node needs at least one role: worker, verifier or whistleblower",
      );
    }
    const call = computeCall(this.api, "register")(
      roles,
      hashArgument(registration.profile, "profile"),
      hashArgument(registration.commitment, "commitment"),
      positive(registration.bond, "bond"),
    );
    return this.#submit("Compute.register", call);
  }

  bondExtra(amount: bigint): Promise<TxRecord> {
    return this.#submit("Compute.bond_extra", computeCall(this.api, "bondExtra")(positive(amount, "amount")));
  }

  unbond(amount: bigint): Promise<TxRecord> {
    return this.#submit("Compute.unbond", computeCall(this.api, "unbond")(positive(amount, "amount")));
  }

  withdrawUnbonded(): Promise<TxRecord> {
    return this.#submit("Compute.withdraw_unbonded", computeCall(this.api, "withdrawUnbonded")());
  }

  /** Commits to a fresh forced-error secret, so the chain may draw this verifier for another audit. */
  rotateCommitment(commitment: string): Promise<TxRecord> {
    const call = computeCall(this.api, "rotateCommitment")(hashArgument(commitment, "commitment"));
    return this.#submit("Compute.rotate_commitment", call);
  }

  commit(commit: CheckpointCommit): Promise<TxRecord> {
    const call = computeCall(this.api, "commit")(
      commit.chainTaskId,
      hashArgument(commit.root, "root"),
      commit.checkpoints,
      commit.steps,
      hashArgument(commit.result, "result"),
    );
    return this.#submit("Compute.commit", call);
  }

  submitVerdict(audit: AuditRef & VerdictSubmission): Promise<TxRecord> {
    const call = computeCall(this.api, "submitVerdict")(
      audit.chainTaskId,
      audit.auditIndex,
      audit.agrees,
      hashArgument(audit.transcript, "transcript"),
      hashArgument(audit.endState, "endState"),
      audit.endStateProof.map((sibling, i) => hashArgument(sibling, `endStateProof[${i}]`)),
      hashArgument(audit.leaf, "leaf"),
      audit.leafProof.map((sibling, i) => hashArgument(sibling, `leafProof[${i}]`)),
    );
    return this.#submit("Compute.submit_verdict", call);
  }

  reveal(audit: AuditRef & { secret: string; nextCommitment: string }): Promise<TxRecord> {
    const call = computeCall(this.api, "reveal")(
      audit.chainTaskId,
      audit.auditIndex,
      hashArgument(audit.secret, "secret"),
      hashArgument(audit.nextCommitment, "nextCommitment"),
    );
    return this.#submit("Compute.reveal", call);
  }

  challenge(audit: AuditRef & { firstWrongStep: bigint }): Promise<TxRecord> {
    const call = computeCall(this.api, "challenge")(
      audit.chainTaskId,
      audit.auditIndex,
      audit.firstWrongStep,
    );
    return this.#submit("Compute.challenge", call);
  }

  /**
   * The defender's turn in dispute `disputeId` (PROTOCOL.md §6): its claim at the position the game
   * asks for (askedPosition), with an inclusion proof where the claim is bound to a root.
   */
  respond(disputeId: bigint, hash: string, proof: readonly string[] = []): Promise<TxRecord> {
    const call = computeCall(this.api, "respond")(
      disputeId,
      hashArgument(hash, "hash"),
      proof.map((sibling, i) => hashArgument(sibling, `proof[${i}]`)),
    );
    return this.#submit("Compute.respond", call);
  }

  /** The challenger's turn: whether it agrees with the defender's pending answer. */
  bisect(disputeId: bigint, agree: boolean): Promise<TxRecord> {
    return this.#submit("Compute.bisect", computeCall(this.api, "bisect")(disputeId, agree));
  }

  /** After a turn's deadline: the party whose turn it was loses (PROTOCOL.md §6.5). */
  claimTimeout(disputeId: bigint): Promise<TxRecord> {
    return this.#submit("Compute.claim_timeout", computeCall(this.api, "claimTimeout")(disputeId));
  }

  /** An open dispute, or null once it is over. */
  dispute(disputeId: bigint): Promise<DisputeView | null> {
    return readDispute(this.api, disputeId);
  }

  /** Every open dispute this node is a party to. */
  async myDisputes(): Promise<DisputeView[]> {
    const open = await readOpenDisputes(this.api);
    return open.filter((d) => d.challenger === this.address || d.defender === this.address);
  }

  /** The verdicts submitted in blocks `from..to` (both included): what a whistleblower re-checks. */
  verdictsSubmitted(from: number, to: number): Promise<VerdictEvent[]> {
    return readVerdictEvents(this.api, from, to);
  }

  /** The number of the best block: the chain's deadlines are block numbers. */
  async head(): Promise<number> {
    return (await this.api.rpc.chain.getHeader()).number.toNumber();
  }

  parameters(): Promise<ProtocolParameters> {
    return readParameters(this.api);
  }

  node(): Promise<NodeView | null> {
    return readNode(this.api, this.address);
  }

  task(chainTaskId: bigint): Promise<TaskView | null> {
    return readTask(this.api, chainTaskId);
  }

  balance(): Promise<{ free: bigint; reserved: bigint }> {
    return readBalance(this.api, this.address);
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  #submit(purpose: string, call: ReturnType<ReturnType<typeof computeCall>>): Promise<TxRecord> {
    this.#sequence += 1;
    return this.submitter.submit({ causeKey: `node:${this.address}:${this.#sequence}`, purpose }, call);
  }
}
