// The node gateway: what untrusted nodes may do, checked at the boundary. Nodes authenticate
// every request with their sr25519 key, lease the work the chain gave them from their own queues
// (queue/leases.ts; one broker per node and kind, opened on the node's first claim), store
// checkpoints and models in the blob store by hash, and report; every report is validated here
// and then handed to the jobs service through the JobLifecycle contract.
import type { Readable } from "node:stream";
import type { Redis } from "ioredis";
import type { Database } from "../../prisma/client.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import type { NodeRole } from "../../protocol/node-wire.ts";
import {
  commitmentMessage,
  type NodeRequestParts,
  nodeRequestMessage,
  verdictMessage,
} from "../../protocol/signed-messages.ts";
import { LeaseError } from "../../queue/errors.ts";
import { type Lease, LeaseBroker } from "../../queue/leases.ts";
import { type QueueConnection, TASK_KINDS, type TaskKind } from "../../queue/names.ts";
import type { AuditTask, CheckpointRef, TrainingTask } from "../../queue/payloads.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "../../queue/policies.ts";
import { taskIdOfJob } from "../../queue/producers.ts";
import { ApiError, type ApiErrorCode } from "../errors.ts";
import { type BlobStore, BlobStoreError } from "./blobs.ts";
import { ExpiringCache } from "./expiring-cache.ts";
import type { JobLifecycle, TrainingProgress } from "./job-lifecycle.ts";
import { verifyNodeSignature } from "./node-signatures.ts";

/** How far a request's timestamp may be from the gateway's clock. */
export const REQUEST_CLOCK_SKEW_MS = 60_000;
// A nonce must be remembered as long as its timestamp is acceptable: on either side of now.
const NONCE_TTL_MS = 2 * REQUEST_CLOCK_SKEW_MS + 5_000;

export interface NodeGatewayOptions {
  db: Database;
  /** For nonces; its key prefix (if any) isolates them. */
  redis: Redis;
  blobs: BlobStore;
  lifecycle: JobLifecycle;
  queues: QueueConnection;
  policies?: Record<TaskKind, QueuePolicy>;
  /** Largest checkpoint and trained model a node may upload, in bytes. */
  limits: { checkpointBytes: number; modelBytes: number };
  /** Background failures (exhausted-task reports) are logged here. */
  logError: (error: unknown, message: string) => void;
}

export interface SignedRequest extends NodeRequestParts {
  address: string;
  signature: string;
}

export interface NodeRecord {
  address: string;
  roles: NodeRole[];
  profileHash: string;
  registeredAt: Date;
}

export interface LeaseView {
  id: string;
  expiresAt: Date;
  heartbeatIntervalSeconds: number;
}

export interface TrainingClaim {
  lease: LeaseView;
  task: TrainingTask;
  attempt: number;
  /** Every checkpoint stored for the task so far; a resumed run's Merkle leaves start with them. */
  checkpoints: CheckpointRef[];
  /** The last stored checkpoint: training continues from it. */
  resumeFrom: CheckpointRef | null;
}

export interface AuditClaim {
  lease: LeaseView;
  audit: AuditTask;
  attempt: number;
}

export interface Completion {
  modelSha256: string;
  checkpointRoot: string;
  leaves: string[];
  metrics: Record<string, unknown>;
  commitmentSignature: string;
}

export interface VerdictReport {
  agrees: boolean;
  signature: string;
}

const unauthenticated = (code: ApiErrorCode, message: string) =>
  new ApiError(401, "authentication_error", code, message);

const badRequest = (code: ApiErrorCode, message: string, param: string | null = null) =>
  ApiError.badRequest(code, message, param);

function fromLeaseError(error: unknown): never {
  if (error instanceof LeaseError) {
    if (error.code === "MALFORMED_LEASE") throw badRequest("invalid_lease", error.message, "lease");
    throw new ApiError(409, "invalid_request_error", "lease_lost", error.message, "lease");
  }
  throw error;
}

type Brokers = { [K in TaskKind]: Map<string, Promise<LeaseBroker<K>>> };

export class NodeGateway {
  private readonly brokers: Brokers = { training: new Map(), audit: new Map() };
  private readonly policies: Record<TaskKind, QueuePolicy>;
  private readonly roles = new ExpiringCache<NodeRole[]>(10_000, 30_000);
  private closed = false;

  constructor(private readonly options: NodeGatewayOptions) {
    this.policies = options.policies ?? QUEUE_POLICIES;
  }

  /**
   * Opens the brokers of every node registered for a role, so their stalled work is returned to
   * their queues even before they come back to claim it.
   */
  async start(): Promise<void> {
    const nodes = await this.options.db.node.findMany({ select: { address: true, roles: true } });
    await Promise.all(
      nodes.flatMap(({ address, roles }) => [
        ...(roles.includes("worker") ? [this.broker("training", address)] : []),
        ...(roles.includes("verifier") ? [this.broker("audit", address)] : []),
      ]),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const open = TASK_KINDS.flatMap((kind) => [...this.brokers[kind].values()]);
    await Promise.all(open.map(async (broker) => (await broker).close()));
  }

  /** The broker over `node`'s queue of `kind`, opened once. */
  private broker<K extends TaskKind>(kind: K, node: string): Promise<LeaseBroker<K>> {
    if (this.closed) throw new Error("the node gateway is closed");
    const brokers = this.brokers[kind] as Map<string, Promise<LeaseBroker<K>>>;
    let broker = brokers.get(node);
    if (!broker) {
      const { lifecycle, logError } = this.options;
      const opened = new LeaseBroker(kind, node, this.options.queues, this.policies[kind]);
      opened.onError((error) => logError(error, `reporting an exhausted ${kind} task failed`));
      // A training task its worker cannot finish fails the job (at no cost to the user). An audit
      // its verifier cannot finish does not: the chain settles it as failed, slashes the verifier
      // for the missed deadline, and the job goes on to finalization.
      opened.onExhausted(async (jobId, reason) => {
        if (kind === "training") {
          await lifecycle.taskFailed(
            taskIdOfJob(jobId),
            `training failed on every attempt of its node: ${reason}`,
            true,
          );
        } else {
          logError(new Error(reason), `node ${node} gave up audit ${jobId}`);
        }
      });
      broker = opened.start().then(() => opened);
      brokers.set(node, broker);
    }
    return broker;
  }

  /** Checks a request's signature, freshness and nonce; returns the signing node's address. */
  async authenticate(request: SignedRequest, now: number = Date.now()): Promise<string> {
    const timestamp = Number(request.timestamp);
    if (!/^\d{1,15}$/.test(request.timestamp) || Math.abs(now - timestamp) > REQUEST_CLOCK_SKEW_MS) {
      throw unauthenticated(
        "stale_request",
        `x-node-timestamp must be the current time in milliseconds since the epoch, within ${REQUEST_CLOCK_SKEW_MS / 1000} s of the gateway's clock (${now}); got "${request.timestamp.slice(0, 32)}"`,
      );
    }
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(request.nonce)) {
      throw unauthenticated("bad_signature", "x-node-nonce must be 16 to 64 characters of [A-Za-z0-9_-]");
    }
    if (!(await verifyNodeSignature(request.address, nodeRequestMessage(request), request.signature))) {
      throw unauthenticated(
        "bad_signature",
        "x-node-signature is not the sr25519 signature of this request by the key of x-node-address",
      );
    }
    const fresh = await this.options.redis.set(
      `node-nonce:${request.address}:${request.nonce}`,
      "1",
      "PX",
      NONCE_TTL_MS,
      "NX",
    );
    if (fresh !== "OK") {
      throw unauthenticated(
        "replayed_request",
        "this nonce was already used; sign every request with a new one",
      );
    }
    return request.address;
  }

  async register(address: string, roles: NodeRole[], profileHash: string): Promise<NodeRecord> {
    const unique = [...new Set(roles)].sort();
    const row = await this.options.db.node.upsert({
      where: { address },
      create: { address, roles: unique, profileHash, lastSeenAt: new Date() },
      update: { roles: unique, profileHash, lastSeenAt: new Date() },
    });
    this.roles.evict(address);
    return {
      address: row.address,
      roles: unique,
      profileHash: row.profileHash,
      registeredAt: row.registeredAt,
    };
  }

  /** Refuses nodes that are not registered with `role`; roles are cached for a few seconds. */
  async requireRole(address: string, role: NodeRole): Promise<void> {
    let roles = this.roles.get(address);
    if (!roles) {
      const generation = this.roles.generation;
      const row = await this.options.db.node.findUnique({ where: { address }, select: { roles: true } });
      if (!row) {
        throw new ApiError(
          403,
          "permission_error",
          "node_not_registered",
          `node ${address} is not registered; POST /v1/nodes/register first`,
        );
      }
      roles = row.roles as NodeRole[];
      if (generation === this.roles.generation) this.roles.set(address, roles);
    }
    if (!roles.includes(role)) {
      throw new ApiError(
        403,
        "permission_error",
        "role_not_registered",
        `node ${address} is registered as ${roles.join(", ")}, not as a ${role}; register again with that role`,
      );
    }
  }

  async claimTraining(address: string, waitMs: number, signal?: AbortSignal): Promise<TrainingClaim | null> {
    await this.requireRole(address, "worker");
    const broker = await this.broker("training", address);
    const lease = await this.claimCurrent(broker, waitMs, signal);
    if (!lease) return null;
    await this.options.lifecycle.taskStarted(lease.data.task.taskId, address);
    return {
      lease: this.view(lease),
      task: lease.data.task,
      attempt: lease.attempt,
      checkpoints: lease.data.checkpoints,
      resumeFrom: lease.data.checkpoints.at(-1) ?? null,
    };
  }

  async claimAudit(address: string, waitMs: number, signal?: AbortSignal): Promise<AuditClaim | null> {
    await this.requireRole(address, "verifier");
    const lease = await this.claimCurrent(await this.broker("audit", address), waitMs, signal);
    if (!lease) return null;
    return { lease: this.view(lease), audit: lease.data.task, attempt: lease.attempt };
  }

  async heartbeat(address: string, leaseId: string): Promise<LeaseView> {
    return this.view(await this.renew(address, leaseId));
  }

  async progress(address: string, leaseId: string, progress: TrainingProgress): Promise<LeaseView> {
    const lease = await this.renewTraining(address, leaseId);
    const { task } = lease.data;
    if (progress.step > task.totalSteps || progress.totalSteps !== task.totalSteps) {
      throw badRequest(
        "progress_invalid",
        `step ${progress.step} of ${progress.totalSteps} does not fit the task's ${task.totalSteps} steps`,
        "step",
      );
    }
    await this.options.lifecycle.progress(task.taskId, progress);
    return this.view(lease);
  }

  /** Streams a checkpoint into the blob store, checks its hash and records it on the task. */
  async storeCheckpoint(
    address: string,
    leaseId: string,
    step: number,
    sha256: string,
    content: Readable,
  ): Promise<CheckpointRef> {
    const lease = await this.renewTraining(address, leaseId).catch((error: unknown) => {
      content.resume();
      throw error;
    });
    const { task } = lease.data;
    if (step > task.totalSteps || (step % task.checkpointEvery !== 0 && step !== task.totalSteps)) {
      content.resume();
      throw badRequest(
        "checkpoint_step_invalid",
        `checkpoints are taken every ${task.checkpointEvery} steps and at step ${task.totalSteps}; ${step} is neither`,
        "step",
      );
    }
    const recorded = lease.data.checkpoints.find((c) => c.step === step);
    if (recorded && recorded.sha256 !== sha256) {
      content.resume();
      throw new ApiError(
        409,
        "invalid_request_error",
        "checkpoint_conflict",
        `a checkpoint with another hash (${recorded.sha256}) is already stored for step ${step}`,
        "step",
      );
    }
    const sizeBytes = await this.storeBlob(
      content,
      sha256,
      this.options.limits.checkpointBytes,
      "checkpoint",
    );
    const checkpoint = { step, sha256 };
    const broker = await this.broker("training", address);
    await broker.recordCheckpoint(leaseId, checkpoint).catch(fromLeaseError);
    await this.options.lifecycle.checkpointStored(task.taskId, { step, sha256, sizeBytes });
    return checkpoint;
  }

  /** Streams the trained model into the blob store; `complete` then names it by hash. */
  async storeModel(address: string, leaseId: string, sha256: string, content: Readable): Promise<void> {
    await this.renewTraining(address, leaseId).catch((error: unknown) => {
      content.resume();
      throw error;
    });
    await this.storeBlob(content, sha256, this.options.limits.modelBytes, "model");
  }

  async complete(address: string, leaseId: string, completion: Completion): Promise<void> {
    const lease = await this.renewTraining(address, leaseId);
    const { task, checkpoints } = lease.data;
    const stored = checkpoints.map((c) => c.sha256);
    if (
      checkpoints.at(-1)?.step !== task.totalSteps ||
      completion.leaves.length !== stored.length ||
      completion.leaves.some((leaf, i) => leaf !== stored[i])
    ) {
      throw badRequest(
        "commitment_invalid",
        `leaves must be the hashes of the checkpoints stored for this task, in step order, ending at step ${task.totalSteps} (stored steps: ${checkpoints.map((c) => c.step).join(", ") || "none"})`,
        "leaves",
      );
    }
    const root = Buffer.from(merkleRoot(completion.leaves.map((l) => Buffer.from(l, "hex")))).toString("hex");
    if (root !== completion.checkpointRoot) {
      throw badRequest(
        "commitment_invalid",
        `checkpoint_root ${completion.checkpointRoot} is not the Merkle root of the leaves (${root})`,
        "checkpoint_root",
      );
    }
    if (!(await this.options.blobs.has(completion.modelSha256))) {
      throw badRequest(
        "model_missing",
        `no model with SHA-256 ${completion.modelSha256} was uploaded; PUT it to the lease's model first`,
        "model_sha256",
      );
    }
    const commitment = {
      taskId: task.taskId,
      checkpointRoot: root,
      leafCount: stored.length,
      modelSha256: completion.modelSha256,
    };
    if (
      !(await verifyNodeSignature(address, commitmentMessage(commitment), completion.commitmentSignature))
    ) {
      throw badRequest(
        "commitment_invalid",
        "commitment_signature is not this node's sr25519 signature of its commitment",
        "commitment_signature",
      );
    }
    await this.options.lifecycle.trainingCompleted(task.taskId, {
      modelSha256: completion.modelSha256,
      checkpointRoot: root,
      leaves: completion.leaves,
      metrics: completion.metrics,
      workerAddress: address,
      commitmentSignature: completion.commitmentSignature,
    });
    const broker = await this.broker("training", address);
    await broker.complete(leaseId, { checkpointRoot: root }).catch(fromLeaseError);
  }

  async verdict(address: string, leaseId: string, report: VerdictReport): Promise<void> {
    const broker = await this.broker("audit", address);
    const lease = await broker.renew(leaseId).catch(fromLeaseError);
    const audit = lease.data.task;
    const verdict = {
      taskId: audit.taskId,
      checkpointRoot: audit.checkpointRoot,
      fromStep: audit.from.step,
      fromSha256: audit.from.sha256,
      toStep: audit.to.step,
      toSha256: audit.to.sha256,
      agrees: report.agrees,
    };
    if (!(await verifyNodeSignature(address, verdictMessage(verdict), report.signature))) {
      throw badRequest(
        "verdict_invalid",
        "signature is not this node's sr25519 signature of its verdict",
        "signature",
      );
    }
    await this.options.lifecycle.auditCompleted(audit.taskId, {
      chain: audit.chain && {
        attempt: audit.chain.attempt,
        auditIndex: audit.chain.auditIndex,
        segment: audit.from.leafIndex,
      },
      verifierAddress: address,
      fromStep: audit.from.step,
      toStep: audit.to.step,
      agrees: report.agrees,
      signature: report.signature,
    });
    await broker.complete(leaseId, { agrees: report.agrees }).catch(fromLeaseError);
  }

  /**
   * Gives a task back; the node gets it again after a backoff while attempts remain. Work the chain
   * has meanwhile given to another node is dropped instead: its failure is no longer the job's.
   */
  async fail(address: string, leaseId: string, reason: string): Promise<{ retried: boolean }> {
    const broker = await this.brokerOf(address, leaseId);
    const lease = await broker.renew(leaseId).catch(fromLeaseError);
    if (!(await this.options.lifecycle.isCurrentDuty(lease.data.task, address))) {
      await broker.complete(leaseId, { superseded: true }).catch(fromLeaseError);
      return { retried: false };
    }
    return broker.fail(leaseId, reason).catch(fromLeaseError);
  }

  async openBlob(sha256: string): Promise<Readable> {
    try {
      return await this.options.blobs.read(sha256);
    } catch (error) {
      if (error instanceof BlobStoreError) throw ApiError.notFound("blob", sha256, "sha256");
      throw error;
    }
  }

  /**
   * Claims the next piece of work that is still the node's duty on chain. Work the chain has since
   * given to another node (a re-assignment after a missed deadline) is dropped, not handed out.
   */
  private async claimCurrent<K extends TaskKind>(
    broker: LeaseBroker<K>,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Lease<K> | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const lease = await broker.claim(Math.max(0, deadline - Date.now()), signal);
      if (!lease || (await this.options.lifecycle.isCurrentDuty(lease.data.task, broker.node))) {
        return lease;
      }
      await broker.complete(lease.id, { superseded: true });
    }
  }

  private brokerOf(address: string, leaseId: string): Promise<LeaseBroker<TaskKind>> {
    return this.broker(leaseId.startsWith("audit.") ? "audit" : "training", address);
  }

  private async renew(address: string, leaseId: string): Promise<Lease<TaskKind>> {
    const broker = await this.brokerOf(address, leaseId);
    return broker.renew(leaseId).catch(fromLeaseError);
  }

  private async renewTraining(address: string, leaseId: string): Promise<Lease<"training">> {
    const broker = await this.broker("training", address);
    return broker.renew(leaseId).catch(fromLeaseError);
  }

  private view(lease: Lease<TaskKind>): LeaseView {
    const lockMs = this.policies[lease.kind].lockMs;
    return {
      id: lease.id,
      expiresAt: new Date(lease.expiresAt),
      // Three heartbeats fit in a lease, so one lost request does not cost the task.
      heartbeatIntervalSeconds: Math.max(1, Math.floor(lockMs / 3000)),
    };
  }

  private async storeBlob(
    content: Readable,
    sha256: string,
    maxBytes: number,
    what: string,
  ): Promise<number> {
    let staged: Awaited<ReturnType<BlobStore["stage"]>>;
    try {
      staged = await this.options.blobs.stage(content, maxBytes);
    } catch (error) {
      if (error instanceof BlobStoreError && error.code === "BLOB_TOO_LARGE") {
        throw new ApiError(
          413,
          "invalid_request_error",
          "body_too_large",
          `the ${what} exceeds ${maxBytes} bytes`,
        );
      }
      throw error;
    }
    if (staged.sha256 !== sha256) {
      await staged.discard();
      throw badRequest(
        "content_hash_mismatch",
        `the uploaded ${what} has SHA-256 ${staged.sha256}, not the ${sha256} that was signed`,
        "x-content-sha256",
      );
    }
    await staged.commit();
    return staged.sizeBytes;
  }
}
