// What a whistleblower reads to re-check a verdict (PROTOCOL.md §5.6): the audited segment exactly
// as its verifier got it (model, dataset, spec, the two bounding checkpoints with their proofs).
// Only a node registered as a whistleblower, only for an audit whose verdict is on chain and whose
// challenge window is still open, and never the task's worker or the audit's verifier (the chain
// would refuse their challenge). Reading it grants the segment's blobs until that window closes.
import type { Database } from "../../../prisma/client.ts";
import type { Task, TrainingJob } from "../../../prisma/generated/client.ts";
import { merkleInclusionProof } from "../../../protocol/merkle.ts";
import type { AuditTask, ProvenCheckpoint, WorkInputs } from "../../../protocol/node-wire.ts";
import { ApiError } from "../../errors.ts";
import type { BlobGrants } from "./blob-grants.ts";
import { type GatewayChainReads, requireChain } from "./chain-reads.ts";
import type { NodeRegistry } from "./registry.ts";

/** The job-side inputs of a task's work (the dispatcher's `workInputs`). */
export type WorkInputsOf = (task: Task) => Promise<{ job: TrainingJob; inputs: WorkInputs }>;

/** Checkpoint `leafIndex` of a task's stored checkpoints with its inclusion proof among them. */
export function provenCheckpoint(
  stored: readonly { step: number; sha256: string }[],
  leafIndex: number,
): ProvenCheckpoint {
  const leaves = stored.map((c) => Buffer.from(c.sha256, "hex"));
  return {
    step: stored[leafIndex]!.step,
    sha256: stored[leafIndex]!.sha256,
    leaf_index: leafIndex,
    proof: merkleInclusionProof(leaves, leafIndex).map((node) => Buffer.from(node).toString("hex")),
  };
}

export class AuditedSegments {
  constructor(
    private readonly db: Database,
    private readonly registry: NodeRegistry,
    private readonly chain: GatewayChainReads | null,
    private readonly workInputs: WorkInputsOf | null,
    private readonly grants: BlobGrants,
  ) {}

  async read(node: string, chainTaskId: bigint, auditIndex: number): Promise<AuditTask> {
    await this.registry.requireRole(node, "whistleblower");
    const chain = requireChain(this.chain);
    const [state, head] = await Promise.all([chain.task(chainTaskId), chain.head()]);
    const audit = state?.audits[auditIndex];
    const refuse = (why: string) =>
      new ApiError(
        403,
        "permission_error",
        "segment_not_challengeable",
        `audit ${auditIndex} of chain task ${chainTaskId} ${why}`,
        "chainTaskId",
      );
    if (!state || !audit || !state.commitment) throw refuse("does not exist on chain");
    if (!audit.verdict) throw refuse("has no verdict yet");
    if (state.status !== "Auditing" || head > state.challengeEnd)
      throw refuse("is past its challenge window");
    if (node === state.worker || node === audit.verifier) throw refuse("is this node's own work");
    const task = await this.db.task.findUnique({ where: { chainTaskId } });
    if (!task || !this.workInputs) throw refuse("is not a task of this operator");
    const { inputs } = await this.workInputs(task);
    const stored = await this.db.checkpoint.findMany({
      where: { taskId: task.id },
      orderBy: { step: "asc" },
    });
    if (stored.length !== state.commitment.checkpoints)
      throw refuse("has checkpoints this gateway does not hold");
    const work: AuditTask = {
      ...inputs,
      checkpoint_root: state.commitment.root.replace(/^0x/, ""),
      tree_size: stored.length,
      from: provenCheckpoint(stored, audit.segment),
      to: provenCheckpoint(stored, audit.segment + 1),
      chain: { chain_task_id: chainTaskId.toString(), attempt: state.attempt, audit_index: auditIndex },
    };
    await this.grants.grant(
      node,
      [work.model_sha256, work.dataset_sha256, work.from.sha256, work.to.sha256],
      state.challengeEnd,
    );
    return work;
  }
}
