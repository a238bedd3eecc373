// The exact bytes that nodes and the platform sign: each gateway request, a worker's commitment
// to its checkpoint root, a verifier's verdict and a receipt. The gateway verifies, the node
// daemon signs and receipt verification re-derives the same messages from this one file, so no
// two sides can drift. Every message starts with a domain tag, so a signature made for one
// purpose is never valid for another.
import { createHash } from "node:crypto";
import { canonicalBytes } from "./canonical-json.ts";
import type { AuditTask } from "./node-wire.ts";

export const NODE_HEADERS = {
  address: "x-node-address",
  timestamp: "x-node-timestamp",
  nonce: "x-node-nonce",
  signature: "x-node-signature",
  /** For streamed uploads, the SHA-256 the body will have; the signature covers it. */
  contentSha256: "x-content-sha256",
} as const;

const encoder = new TextEncoder();

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export const EMPTY_BODY_SHA256 = sha256Hex("");

export interface NodeRequestParts {
  method: string;
  /** Path and query string exactly as sent, e.g. "/v1/nodes/blobs/ab..?x=1". */
  path: string;
  /** Milliseconds since the epoch, as a decimal string. */
  timestamp: string;
  nonce: string;
  bodySha256: string;
}

export function nodeRequestMessage(parts: NodeRequestParts): Uint8Array {
  return encoder.encode(
    [
      "veritrain/node-request/v1",
      parts.method.toUpperCase(),
      parts.path,
      parts.timestamp,
      parts.nonce,
      parts.bodySha256,
    ].join("\n"),
  );
}

export interface Commitment {
  taskId: string;
  checkpointRoot: string;
  leafCount: number;
  modelSha256: string;
}

export function commitmentMessage(c: Commitment): Uint8Array {
  return encoder.encode(
    ["veritrain/commitment/v1", c.taskId, c.checkpointRoot, String(c.leafCount), c.modelSha256].join("\n"),
  );
}

export interface Verdict {
  taskId: string;
  checkpointRoot: string;
  fromStep: number;
  fromSha256: string;
  toStep: number;
  toSha256: string;
  agrees: boolean;
}

export function verdictMessage(v: Verdict): Uint8Array {
  return encoder.encode(
    [
      "veritrain/verdict/v1",
      v.taskId,
      v.checkpointRoot,
      `${v.fromStep}:${v.fromSha256}`,
      `${v.toStep}:${v.toSha256}`,
      v.agrees ? "agree" : "disagree",
    ].join("\n"),
  );
}

/** The verdict on an audit as the gateway hands it out (node-wire.ts): what its verifier signs. */
export function auditVerdictMessage(audit: AuditTask, agrees: boolean): Uint8Array {
  return verdictMessage({
    taskId: audit.task_id,
    checkpointRoot: audit.checkpoint_root,
    fromStep: audit.from.step,
    fromSha256: audit.from.sha256,
    toStep: audit.to.step,
    toSha256: audit.to.sha256,
    agrees,
  });
}

export function receiptMessage(body: unknown): Uint8Array {
  return canonicalBytes({ domain: "veritrain/receipt/v1", body });
}
