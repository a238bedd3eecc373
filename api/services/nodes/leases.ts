// Nodes lease the work the chain gave them from their own queues (queue/leases.ts): one broker per
// node and kind of work, opened on the node's first claim. Lease failures become the API's errors
// here, and work the chain has since given to another node is dropped instead of handed out.
import type {
  Acknowledged,
  CheckpointRef,
  ClaimRequest,
  FailureReport,
  Lease as LeaseView,
  NodeRole,
} from "../../../protocol/node-wire.ts";
import { LeaseError } from "../../../queue/errors.ts";
import { type Lease, LeaseBroker } from "../../../queue/leases.ts";
import { type QueueConnection, TASK_KINDS, type TaskKind } from "../../../queue/names.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "../../../queue/policies.ts";
import { taskIdOfJob } from "../../../queue/producers.ts";
import { ApiError } from "../../errors.ts";
import type { JobLifecycle } from "../job-lifecycle.ts";
import type { NodeRegistry } from "./registry.ts";

// How long a claim without a body waits; a body without wait_seconds gets the schema's same default.
const CLAIM_WAIT_SECONDS = 20;

/** The role a node registers to be given work of each kind. */
const ROLE_OF: Record<TaskKind, NodeRole> = { training: "worker", audit: "verifier" };

export interface NodeLeasesOptions {
  queues: QueueConnection;
  policies?: Record<TaskKind, QueuePolicy>;
  registry: NodeRegistry;
  lifecycle: JobLifecycle;
  /** Background failures (exhausted-task reports) are logged here. */
  logError: (error: unknown, message: string) => void;
  /** Most brokers kept open at once (each holds three Redis connections); the least recently used is closed. */
  maxBrokers?: number;
}

const MAX_BROKERS = 512;

function fromLeaseError(error: unknown): never {
  if (error instanceof LeaseError) {
    if (error.code === "MALFORMED_LEASE") throw ApiError.badRequest("invalid_lease", error.message, "lease");
    throw new ApiError(409, "invalid_request_error", "lease_lost", error.message, "lease");
  }
  throw error;
}

/** The kind of work a lease id is for; the broker refuses an id that is not a lease at all. */
const kindOf = (leaseId: string): TaskKind => (leaseId.startsWith("audit.") ? "audit" : "training");

export class NodeLeases {
  /** Open brokers by "<kind> <node>", least recently used first; each is a LeaseBroker of that kind. */
  private readonly brokers = new Map<string, Promise<Pick<LeaseBroker<TaskKind>, "close">>>();
  private readonly policies: Record<TaskKind, QueuePolicy>;
  private closed = false;

  constructor(private readonly options: NodeLeasesOptions) {
    this.policies = options.policies ?? QUEUE_POLICIES;
  }

  /**
   * Opens the brokers of every node registered for a role, so their stalled work is returned to
   * their queues even before they come back to claim it.
   */
  async start(): Promise<void> {
    const nodes = await this.options.registry.list();
    await Promise.all(
      nodes.flatMap(({ address, roles }) =>
        TASK_KINDS.filter((kind) => roles.includes(ROLE_OF[kind])).map((kind) => this.open(kind, address)),
      ),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.brokers.values()].map(async (broker) => (await broker).close()));
  }

  /**
   * Claims the next piece of work that is still the node's duty on chain, for nodes registered
   * with the kind's role. Work the chain has since given to another node (a re-assignment after
   * a missed deadline) is dropped, not handed out.
   */
  async claim<K extends TaskKind>(
    kind: K,
    node: string,
    request: ClaimRequest | undefined,
    signal?: AbortSignal,
  ): Promise<Lease<K> | null> {
    const broker = await this.broker(kind, node);
    const deadline = Date.now() + (request?.wait_seconds ?? CLAIM_WAIT_SECONDS) * 1000;
    for (;;) {
      const lease = await broker.claim(Math.max(0, deadline - Date.now()), signal);
      if (!lease || (await this.options.lifecycle.isCurrentDuty(lease.data.task, node))) {
        return lease;
      }
      await broker.complete(lease.id, { superseded: true });
    }
  }

  /** Extends a lease of `kind` held by `node`; every report is also a heartbeat. */
  async renew<K extends TaskKind>(kind: K, node: string, leaseId: string): Promise<Lease<K>> {
    const broker = await this.broker(kind, node);
    return broker.renew(leaseId).catch(fromLeaseError);
  }

  async heartbeat(node: string, leaseId: string): Promise<LeaseView> {
    return this.view(await this.renew(kindOf(leaseId), node, leaseId));
  }

  /** Keeps a stored checkpoint on the queued task, so a later claim resumes from it. */
  async recordCheckpoint(node: string, leaseId: string, checkpoint: CheckpointRef): Promise<void> {
    const broker = await this.broker("training", node);
    await broker.recordCheckpoint(leaseId, checkpoint).catch(fromLeaseError);
  }

  /** Ends a lease whose work is done; `result` is kept on the finished queue job. */
  async complete(kind: TaskKind, node: string, leaseId: string, result: unknown): Promise<void> {
    const broker = await this.broker(kind, node);
    await broker.complete(leaseId, result).catch(fromLeaseError);
  }

  /**
   * Gives a task back; the node gets it again after a backoff while attempts remain. Work the chain
   * has meanwhile given to another node is dropped instead: its failure is no longer the job's.
   */
  async fail(node: string, leaseId: string, report: FailureReport): Promise<Acknowledged> {
    const broker = await this.broker(kindOf(leaseId), node);
    const lease = await broker.renew(leaseId).catch(fromLeaseError);
    if (!(await this.options.lifecycle.isCurrentDuty(lease.data.task, node))) {
      await broker.complete(leaseId, { superseded: true }).catch(fromLeaseError);
      return { status: "failed" };
    }
    const { retried } = await broker.fail(leaseId, report.reason).catch(fromLeaseError);
    return { status: retried ? "retried" : "failed" };
  }

  /**
   * Whether `node` holds a live lease on work that references the blob `sha256`. Only the queues of
   * the roles a registered node has are looked at: an unregistered key opens no broker.
   */
  async leasesBlob(node: string, sha256: string): Promise<boolean> {
    const roles = await this.options.registry.rolesOf(node);
    if (!roles) return false;
    for (const kind of TASK_KINDS) {
      if (roles.includes(ROLE_OF[kind]) && (await (await this.open(kind, node)).leasedBlob(sha256))) {
        return true;
      }
    }
    return false;
  }

  /** A lease as the node sees it. */
  view(lease: Lease<TaskKind>): LeaseView {
    const lockMs = this.policies[lease.kind].lockMs;
    return {
      id: lease.id,
      expires_at: new Date(lease.expiresAt).toISOString(),
      // Three heartbeats fit in a lease, so one lost request does not cost the task.
      heartbeat_interval_seconds: Math.max(1, Math.floor(lockMs / 3000)),
    };
  }

  /** How many brokers are open now. */
  get openBrokers(): number {
    return this.brokers.size;
  }

  /**
   * The broker over `node`'s queue of `kind`, for a node registered with the kind's role only: a
   * broker holds Redis connections, which a stranger's signed request must not be able to open.
   */
  private async broker<K extends TaskKind>(kind: K, node: string): Promise<LeaseBroker<K>> {
    await this.options.registry.requireRole(node, ROLE_OF[kind]);
    return this.open(kind, node);
  }

  /** The broker over `node`'s queue of `kind`, opened once and kept while recently used. */
  private open<K extends TaskKind>(kind: K, node: string): Promise<LeaseBroker<K>> {
    if (this.closed) throw new Error("the node gateway is closed");
    const key = `${kind} ${node}`;
    const cached = this.brokers.get(key) as Promise<LeaseBroker<K>> | undefined;
    if (cached) {
      this.brokers.delete(key);
      this.brokers.set(key, cached);
      return cached;
    }
    const { lifecycle, logError } = this.options;
    const opened = new LeaseBroker(kind, node, this.options.queues, this.policies[kind]);
    opened.onError((error) => logError(error, `reporting an exhausted ${kind} task failed`));
    // A training task its worker cannot finish is the job services' to judge (JobReports
    // .trainingAbandoned: a cheat's task goes to another worker, other failures fail the job at no
    // cost to the user). An audit its verifier cannot finish does not fail the job: the chain settles it as failed, slashes the verifier
    // for the missed deadline, and the job goes on to finalization.
    opened.onExhausted(async (jobId, reason) => {
      if (kind === "training") {
        // The node's own words (anything it chose to write) are for the operator's log only.
        logError(new Error(reason), `node ${node} gave up training ${jobId} on every attempt`);
        await lifecycle.trainingAbandoned(taskIdOfJob(jobId));
      } else {
        logError(new Error(reason), `node ${node} gave up audit ${jobId}`);
      }
    });
    const broker = opened.start().then(() => opened);
    this.brokers.set(key, broker);
    this.evictBeyond(this.options.maxBrokers ?? MAX_BROKERS);
    return broker;
  }

  // An evicted node's queue keeps its tasks: its next request opens the broker again, whose
  // stalled checker then returns the leases that lapsed meanwhile.
  private evictBeyond(max: number): void {
    for (const [key, broker] of this.brokers) {
      if (this.brokers.size <= max) return;
      this.brokers.delete(key);
      broker
        .then((evicted) => evicted.close())
        .catch((error: unknown) => this.options.logError(error, `closing the lease broker of ${key} failed`));
    }
  }
}
