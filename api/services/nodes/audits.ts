// What a verifier does with an audit it leased: replay the segment between two proven checkpoints
// and report whether it lands on the worker's, signed, for the jobs service to record.
import type { Database } from "../../../prisma/client.ts";
import type { Acknowledged, AuditClaim, ClaimRequest, VerdictReport } from "../../../protocol/node-wire.ts";
import { auditVerdictMessage } from "../../../protocol/signed-messages.ts";
import { ApiError } from "../../errors.ts";
import type { JobLifecycle } from "../job-lifecycle.ts";
import type { NodeLeases } from "./leases.ts";
import { verifyNodeSignature } from "./signatures.ts";
import { checkComputeReport } from "./training-tasks.ts";

export class Audits {
  constructor(
    private readonly leases: NodeLeases,
    private readonly lifecycle: JobLifecycle,
    private readonly db: Database,
  ) {}

  async claim(
    node: string,
    request: ClaimRequest | undefined,
    signal?: AbortSignal,
  ): Promise<AuditClaim | null> {
    const lease = await this.leases.claim("audit", node, request, signal);
    if (!lease) return null;
    return { lease: this.leases.view(lease), attempt: lease.attempt, audit: lease.data.task };
  }

  async verdict(node: string, leaseId: string, report: VerdictReport): Promise<Acknowledged> {
    const lease = await this.leases.renew("audit", node, leaseId);
    const audit = lease.data.task;
    checkComputeReport(report.compute, audit.to.step - audit.from.step);
    if (!(await verifyNodeSignature(node, auditVerdictMessage(audit, report.agrees), report.signature))) {
      throw ApiError.badRequest(
        "verdict_invalid",
        "signature is not this node's sr25519 signature of its verdict",
        "signature",
      );
    }
    await this.lifecycle.auditCompleted(audit.task_id, {
      chain: audit.chain && {
        attempt: audit.chain.attempt,
        auditIndex: audit.chain.audit_index,
        segment: audit.from.leaf_index,
      },
      verifierAddress: node,
      fromStep: audit.from.step,
      toStep: audit.to.step,
      agrees: report.agrees,
      signature: report.signature,
    });
    if (report.compute && audit.chain) {
      await this.db.taskAudit.updateMany({
        where: { taskId: audit.task_id, attempt: audit.chain.attempt, auditIndex: audit.chain.audit_index },
        data: { replayCpuSeconds: report.compute.cpu_seconds, replaySteps: report.compute.steps },
      });
    }
    await this.leases.complete("audit", node, leaseId, { agrees: report.agrees });
    return { status: "completed" };
  }
}
