// Receipts: what the platform attests about a finished job, built from the records the chain
// produced (the watcher's journal of Compute events gives every anchor) and the signatures nodes
// made (the worker's commitment, each verifier's verdict), then signed with the platform key.
// Every claim in it can be checked offline with the SDK's verifyReceipt.
import type { Database } from "../../prisma/client.ts";
import type {
  ChainAnchor,
  Receipt,
  ReceiptAudit,
  ReceiptBody,
  ReceiptChallenge,
} from "../../protocol/receipt.ts";
import { checkpointRoot, specHash } from "../../protocol/receipt.ts";
import { receiptMessage } from "../../protocol/signed-messages.ts";
import { disputedSegment, disputesOfTask, settledOutcome } from "./dispute-journal.ts";
import { checkpointEveryOf } from "./job-dispatch.ts";
import { startingModelSha256 } from "./job-init.ts";
import type { PlatformKey } from "./platform-key.ts";

/** The Compute events a receipt anchors to, by what they mean for the job. */
const ANCHORED_EVENTS: Readonly<Record<string, string>> = {
  TaskCreated: "escrow",
  WorkerAssigned: "worker_assigned",
  CheckpointsCommitted: "checkpoints_committed",
  AuditsSelected: "audits_selected",
  VerdictSubmitted: "verdict",
  AuditsClosed: "audits_closed",
  TaskFinalized: "finalized",
  // A delivery challenge (PROTOCOL.md §7) of any attempt and how it ended: a worker slashed for
  // withholding what it committed, or an honest one ruled to have delivered.
  DeliveryChallenged: "delivery_challenged",
  DeliveryRuled: "delivery_ruled",
  DeliveryLapsed: "delivery_lapsed",
};

export interface ReceiptKeyView {
  id: string;
  algorithm: "ed25519";
  public_key: string;
  public_key_pem: string;
  created_at: string | null;
}

export class ReceiptError extends Error {
  constructor(
    readonly code: "NOT_READY",
    message: string,
  ) {
    super(message);
  }
}

export class Receipts {
  constructor(
    private readonly db: Database,
    private readonly key: PlatformKey,
    /** The chain's genesis hash, which names the chain the anchors are on; null without a chain. */
    private readonly genesisHash: string | null,
  ) {}

  get publicKeyHex(): string {
    return this.key.publicKeyHex;
  }

  /** The keys anyone may verify receipts against: one, until keys are rotated. */
  publishedKeys(): { data: ReceiptKeyView[]; has_more: false } {
    const { key } = this;
    return {
      data: [
        {
          id: key.id,
          algorithm: "ed25519",
          public_key: key.publicKeyHex,
          public_key_pem: key.publicKeyPem,
          created_at: key.createdAt?.toISOString() ?? null,
        },
      ],
      has_more: false,
    };
  }

  /**
   * Builds and signs the receipt of a job whose task the chain finalized. Rejects with NOT_READY
   * while the event journal has not yet seen the finalization (its anchors would be missing).
   */
  async issue(jobId: string, taskId: string): Promise<Receipt> {
    if (this.genesisHash === null) throw new Error("issuing receipts needs the chain");
    const job = await this.db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    const task = await this.db.task.findUniqueOrThrow({ where: { id: taskId } });
    // A null commitment signature is a completion on the worker's behalf after a Delivered ruling.
    if (task.chainTaskId === null || job.resultSha256 === null) {
      throw new ReceiptError("NOT_READY", `task ${taskId} has no committed result yet`);
    }
    const events = await this.db.chainEvent.findMany({
      where: { chainTaskId: task.chainTaskId, pallet: "Compute" },
      orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
    });
    if (!events.some((event) => event.name === "TaskFinalized")) {
      throw new ReceiptError("NOT_READY", `the finalization of task ${taskId} is not journaled yet`);
    }
    const [model, dataset, checkpoints, audits] = await Promise.all([
      this.db.file.findUniqueOrThrow({ where: { id: job.modelFileId } }),
      this.db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } }),
      this.db.checkpoint.findMany({ where: { taskId }, orderBy: { step: "asc" } }),
      this.db.taskAudit.findMany({
        where: { taskId, attempt: task.attempt },
        orderBy: { auditIndex: "asc" },
      }),
    ]);
    const steps = checkpoints.map((c) => c.step);
    const leaves = checkpoints.map((c) => c.sha256);
    const receiptAudits: ReceiptAudit[] = audits.flatMap((audit) => {
      // An audit whose verifier never reported a signed verdict attests nothing.
      if (audit.verdictSignature === null || audit.agrees === null) return [];
      return [
        {
          verifier: audit.verifierAddress,
          from_step: steps[audit.segment]!,
          to_step: steps[audit.segment + 1]!,
          leaf_from: leaves[audit.segment]!,
          leaf_to: leaves[audit.segment + 1]!,
          agrees: audit.agrees,
          signature: audit.verdictSignature,
        },
      ];
    });
    const anchors: ChainAnchor[] = events.flatMap((event) => {
      const purpose = Object.hasOwn(ANCHORED_EVENTS, event.name) ? ANCHORED_EVENTS[event.name] : undefined;
      if (purpose === undefined || event.extrinsicHash === null) return [];
      return [
        {
          purpose,
          block_number: event.blockNumber,
          block_hash: event.blockHash,
          extrinsic_hash: event.extrinsicHash,
        },
      ];
    });
    const body: ReceiptBody = {
      version: 1,
      job_id: job.id,
      task_id: task.id,
      issued_at: new Date().toISOString(),
      model_sha256: startingModelSha256(job, model),
      dataset_sha256: dataset.sha256,
      spec_sha256: specHash(job.spec),
      spec: job.spec,
      profile_blake2_256: job.profileHash,
      verification_level: job.verificationLevel,
      result: {
        model_sha256: job.resultSha256,
        metrics: (job.resultMetrics ?? {}) as Record<string, unknown>,
      },
      checkpoints: {
        interval: checkpointEveryOf(job),
        steps,
        leaves,
        root: checkpointRoot(leaves),
      },
      worker: {
        address: task.workerAddress!,
        attempt: task.attempt,
        commitment_signature: task.commitmentSignature,
      },
      audits: receiptAudits,
      challenges: await this.challenges(task.id, task.chainTaskId, checkpointEveryOf(job), job.totalSteps),
      chain: { genesis_hash: this.genesisHash, task_id: task.chainTaskId.toString(), anchors },
      platform: { public_key: this.key.publicKeyHex },
    };
    return { body, signature: this.key.signHex(receiptMessage(body)) };
  }

  /**
   * Every dispute of the task's audits, with its rounds, outcome and anchors from the event
   * journal. The task is finalized, so none is open: one that never resolved was aborted.
   */
  private async challenges(
    taskId: string,
    chainTaskId: bigint,
    interval: number,
    lastStep: number,
  ): Promise<ReceiptChallenge[]> {
    const records = await disputesOfTask(this.db, chainTaskId);
    return Promise.all(
      records.map(async (record) => {
        const { from_step, to_step } = await disputedSegment(this.db, taskId, record, interval, lastStep);
        const anchors = [record.opened, ...record.rounds.map((r) => r.anchor)];
        if (record.resolved) anchors.push(record.resolved.anchor);
        const resolved = record.resolved;
        return {
          dispute_id: record.disputeId,
          kind: record.kind,
          attempt: record.attempt,
          audit_index: record.auditIndex,
          segment: { from_step, to_step },
          challenger: record.challenger,
          defender: record.defender,
          rounds: record.rounds.length,
          disputed_step: record.step === null ? null : Number(record.step),
          disputed_operator: record.operator,
          outcome: settledOutcome(record),
          loser: resolved ? { role: resolved.loserRole, address: resolved.loser } : null,
          decided_by: resolved?.by ?? null,
          anchors,
        };
      }),
    );
  }
}
