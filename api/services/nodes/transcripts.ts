// Verdict transcripts through the gateway (chain/PROTOCOL.md §5.4, §5.6). The chain keeps only the
// Merkle root of a verdict's strided transcript; its verifier publishes the leaves here right after
// the verdict lands, and whistleblowers read them to name the first leaf their own replay disagrees
// with, so a transcript dispute opens on the stride a verifier invented rather than on a guess.
//
// The chain is the authority on what is accepted: only the audit's verifier publishes, only once
// its verdict is on chain, exactly the n leaves of the audit's layout (the body is read no further
// than n × 32 bytes), and only leaves whose root is the verdict's. So a stored transcript is the
// verdict's, whoever reads it, and the gateway judges nothing else about it.
import type { Readable } from "node:stream";
import { type AuditView, auditLayout, type TaskView } from "../../../chain-bridge/index.ts";
import type { Database } from "../../../prisma/client.ts";
import { merkleRoot } from "../../../protocol/merkle.ts";
import type { PublishedTranscript } from "../../../protocol/node-wire.ts";
import { sha256Hex } from "../../../protocol/signed-messages.ts";
import type { TranscriptLayout } from "../../../protocol/transcript.ts";
import { ApiError } from "../../errors.ts";
import { type GatewayChainReads, requireChain } from "./chain-reads.ts";
import type { NodeRegistry } from "./registry.ts";

const LEAF_BYTES = 32;

interface Verdict {
  task: TaskView;
  audit: AuditView & { verdict: NonNullable<AuditView["verdict"]> };
  layout: TranscriptLayout;
}

/**
 * The stream's bytes, refused (413) when there are more than `maxBytes`. Past the limit nothing is
 * kept, but the rest is still read: a request body left unread makes the server reset the
 * connection, and the node would get no answer, or lose its next request on the same connection.
 */
async function readAtMost(content: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of content) {
    size += (chunk as Buffer).length;
    if (size <= maxBytes) chunks.push(chunk as Buffer);
  }
  if (size > maxBytes) {
    throw new ApiError(
      413,
      "invalid_request_error",
      "body_too_large",
      `the transcript's ${size} bytes exceed the ${maxBytes} bytes of its audit's leaves`,
    );
  }
  return Buffer.concat(chunks);
}

export class PublishedTranscripts {
  constructor(
    private readonly db: Database,
    private readonly registry: NodeRegistry,
    private readonly chain: GatewayChainReads | null,
  ) {}

  /**
   * Stores the verifier's leaves (n × 32 bytes, in order) of its verdict on audit `auditIndex` of
   * chain task `chainTaskId`. Publishing the same leaves again changes nothing.
   */
  async publish(
    node: string,
    chainTaskId: bigint,
    auditIndex: number,
    sha256: string,
    content: Readable,
  ): Promise<PublishedTranscript> {
    const { task, audit, layout } = await this.verdictOf(chainTaskId, auditIndex);
    if (audit.verifier !== node) {
      throw new ApiError(
        403,
        "permission_error",
        "not_audit_verifier",
        `node ${node} is not the verifier of audit ${auditIndex} of chain task ${chainTaskId}`,
        "auditIndex",
      );
    }
    const bytes = await readAtMost(content, layout.leaves * LEAF_BYTES);
    if (sha256Hex(bytes) !== sha256) {
      throw ApiError.badRequest(
        "content_hash_mismatch",
        `the uploaded transcript has SHA-256 ${sha256Hex(bytes)}, not the ${sha256} that was signed`,
        "x-content-sha256",
      );
    }
    if (bytes.length !== layout.leaves * LEAF_BYTES) {
      throw new ApiError(
        422,
        "invalid_request_error",
        "transcript_size_mismatch",
        `audit ${auditIndex} of chain task ${chainTaskId} has a transcript of ${layout.leaves} leaves of ${LEAF_BYTES} bytes; got ${bytes.length} bytes`,
      );
    }
    const leaves = Array.from({ length: layout.leaves }, (_, i) =>
      bytes.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES),
    );
    const root = `0x${Buffer.from(merkleRoot(leaves)).toString("hex")}`;
    if (root !== audit.verdict.transcript) {
      throw new ApiError(
        422,
        "invalid_request_error",
        "transcript_root_mismatch",
        `these leaves' Merkle root is ${root}, not the verdict's transcript root ${audit.verdict.transcript} on chain`,
      );
    }
    const key = { chainTaskId, attempt: task.attempt, auditIndex };
    const row = await this.db.transcriptLeaves.upsert({
      where: { chainTaskId_attempt_auditIndex: key },
      create: { ...key, verifier: node, root, leaves: new Uint8Array(bytes) },
      update: {},
    });
    return viewOf(row);
  }

  /** The leaves the verifier of the audit's current verdict published, for any registered node. */
  async read(node: string, chainTaskId: bigint, auditIndex: number): Promise<PublishedTranscript> {
    if (!(await this.registry.rolesOf(node))) {
      throw new ApiError(
        403,
        "permission_error",
        "node_not_registered",
        `node ${node} is not registered; POST /v1/nodes/register first`,
      );
    }
    const { task, audit } = await this.verdictOf(chainTaskId, auditIndex);
    const row = await this.db.transcriptLeaves.findUnique({
      where: { chainTaskId_attempt_auditIndex: { chainTaskId, attempt: task.attempt, auditIndex } },
    });
    if (!row || row.root !== audit.verdict.transcript) {
      throw new ApiError(
        404,
        "not_found_error",
        "transcript_not_published",
        `the verifier of audit ${auditIndex} of chain task ${chainTaskId} has not published its transcript`,
        "auditIndex",
      );
    }
    return viewOf(row);
  }

  private async verdictOf(chainTaskId: bigint, auditIndex: number): Promise<Verdict> {
    const task = await requireChain(this.chain).task(chainTaskId);
    const audit = task?.audits[auditIndex];
    const layout = task && auditLayout(task, auditIndex);
    if (!task || !audit || !layout) {
      throw new ApiError(
        404,
        "not_found_error",
        "audit_not_found",
        `chain task ${chainTaskId} has no audit ${auditIndex} on chain`,
        "auditIndex",
      );
    }
    if (!audit.verdict) {
      throw new ApiError(
        409,
        "invalid_request_error",
        "verdict_not_on_chain",
        `audit ${auditIndex} of chain task ${chainTaskId} has no verdict on chain yet: a transcript is published after its verdict`,
        "auditIndex",
      );
    }
    return { task, audit: { ...audit, verdict: audit.verdict }, layout };
  }
}

function viewOf(row: {
  chainTaskId: bigint;
  attempt: number;
  auditIndex: number;
  verifier: string;
  root: string;
  leaves: Uint8Array;
}): PublishedTranscript {
  const bytes = Buffer.from(row.leaves);
  return {
    chain_task_id: row.chainTaskId.toString(),
    attempt: row.attempt,
    audit_index: row.auditIndex,
    verifier: row.verifier,
    root: row.root,
    leaves: Array.from({ length: bytes.length / LEAF_BYTES }, (_, i) =>
      bytes.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES).toString("hex"),
    ),
  };
}
