// The daemon's side of the node gateway: signs every request the way api/plugins/node-auth.ts
// checks it, and checks every blob it downloads against the hash it asked for.
import { randomBytes } from "node:crypto";
import type {
  AuditClaim,
  AuditTask,
  ClaimRequest,
  Completion,
  ComputeReport,
  DeliveryRecord,
  DisputeEvidenceRef,
  FailureReport,
  Lease,
  NodeInfo,
  NodeRole,
  Progress,
  PublishedTranscript,
  RegisterRequest,
  TrainingClaim,
  VerdictReport,
} from "../../protocol/node-wire.ts";
import {
  EMPTY_BODY_SHA256,
  NODE_HEADERS,
  nodeRequestMessage,
  sha256Hex,
} from "../../protocol/signed-messages.ts";
import { NodeError } from "./errors.ts";
import type { NodeIdentity } from "./identity.ts";

interface Body {
  json?: unknown;
  bytes?: Uint8Array;
}

export class GatewayClient {
  private readonly base: string;

  constructor(
    apiUrl: string,
    private readonly identity: NodeIdentity,
  ) {
    this.base = apiUrl.replace(/\/+$/, "");
  }

  register(roles: NodeRole[], profileHash: string): Promise<NodeInfo> {
    const body: RegisterRequest = { roles, profile_hash: profileHash };
    return this.json("POST", "/v1/nodes/register", body);
  }

  claimTraining(waitSeconds: number, signal?: AbortSignal): Promise<TrainingClaim | null> {
    const body: ClaimRequest = { wait_seconds: waitSeconds };
    return this.json("POST", "/v1/nodes/training-tasks/claim", body, signal);
  }

  claimAudit(waitSeconds: number, signal?: AbortSignal): Promise<AuditClaim | null> {
    const body: ClaimRequest = { wait_seconds: waitSeconds };
    return this.json("POST", "/v1/nodes/audits/claim", body, signal);
  }

  heartbeat(lease: string): Promise<Lease> {
    return this.json("POST", `/v1/nodes/leases/${lease}/heartbeat`, undefined);
  }

  progress(lease: string, progress: Progress): Promise<Lease> {
    return this.json("POST", `/v1/nodes/leases/${lease}/progress`, progress);
  }

  async uploadCheckpoint(lease: string, step: number, bytes: Uint8Array): Promise<void> {
    await this.send("PUT", `/v1/nodes/leases/${lease}/checkpoints/${step}`, { bytes });
  }

  async uploadModel(lease: string, bytes: Uint8Array): Promise<string> {
    await this.send("PUT", `/v1/nodes/leases/${lease}/model`, { bytes });
    return sha256Hex(bytes);
  }

  async complete(lease: string, completion: Completion): Promise<void> {
    await this.json("POST", `/v1/nodes/leases/${lease}/complete`, completion);
  }

  async verdict(lease: string, agrees: boolean, signature: string, compute?: ComputeReport): Promise<void> {
    const body: VerdictReport = { agrees, signature, ...(compute ? { compute } : {}) };
    await this.json("POST", `/v1/nodes/leases/${lease}/verdict`, body);
  }

  async fail(lease: string, reason: string): Promise<void> {
    const body: FailureReport = { reason: reason.slice(0, 2000) };
    await this.json("POST", `/v1/nodes/leases/${lease}/fail`, body);
  }

  /** Uploads this node's evidence bundle for a dispute it is party to (PROTOCOL.md §6.4). */
  async uploadEvidence(chainDisputeId: bigint, bytes: Uint8Array): Promise<DisputeEvidenceRef> {
    const response = await this.send("PUT", `/v1/nodes/disputes/${chainDisputeId}/evidence`, { bytes });
    return (await response.json()) as DisputeEvidenceRef;
  }

  /** The bundles uploaded for a dispute: for the referee (the operator's key) or a party. */
  async evidenceOf(chainDisputeId: bigint): Promise<DisputeEvidenceRef[]> {
    const list = await this.json<{ data: DisputeEvidenceRef[] }>(
      "GET",
      `/v1/nodes/disputes/${chainDisputeId}/evidence`,
      undefined,
    );
    return list.data;
  }

  /** Whistleblowers: an audited segment in its challenge window, as its verifier got it. */
  auditedSegment(chainTaskId: bigint, auditIndex: number): Promise<AuditTask> {
    return this.json("GET", `/v1/nodes/audited-segments/${chainTaskId}/${auditIndex}`, undefined);
  }

  /**
   * The audit's verifier, once its verdict is on chain: publishes the verdict's transcript leaves
   * (hex, in order) so whistleblowers can name the first wrong one (PROTOCOL.md §5.6).
   */
  async publishTranscript(
    chainTaskId: bigint,
    auditIndex: number,
    leaves: readonly string[],
  ): Promise<PublishedTranscript> {
    const bytes = Buffer.concat(leaves.map((leaf) => Buffer.from(leaf, "hex")));
    const path = `/v1/nodes/audits/${chainTaskId}/${auditIndex}/transcript`;
    return (await (await this.send("PUT", path, { bytes })).json()) as PublishedTranscript;
  }

  /** The transcript leaves the audit's verifier published; refused (404 transcript_not_published) until it did. */
  transcriptOf(chainTaskId: bigint, auditIndex: number): Promise<PublishedTranscript> {
    return this.json("GET", `/v1/nodes/audits/${chainTaskId}/${auditIndex}/transcript`, undefined);
  }

  /** The referee (the operator's key): what the platform holds of a committed task (PROTOCOL.md §7). */
  delivery(chainTaskId: bigint): Promise<DeliveryRecord> {
    return this.json("GET", `/v1/nodes/deliveries/${chainTaskId}`, undefined);
  }

  /** A worker named in an open delivery challenge republishes a checkpoint it committed (PROTOCOL.md §7). */
  async republishCheckpoint(chainTaskId: bigint, step: number, bytes: Uint8Array): Promise<void> {
    await this.send("PUT", `/v1/nodes/deliveries/${chainTaskId}/checkpoints/${step}`, { bytes });
  }

  /** A blob by hash; refuses content that does not hash to what was asked for. */
  async download(sha256: string): Promise<Uint8Array> {
    const response = await this.send("GET", `/v1/nodes/blobs/${sha256}`, {});
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (sha256Hex(bytes) !== sha256) {
      throw new NodeError("BLOB_CORRUPT", `the gateway sent content for ${sha256} that hashes differently`);
    }
    return bytes;
  }

  private async json<T>(method: string, path: string, json: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, json === undefined ? {} : { json }, signal);
    if (response.status === 204) return null as T;
    return (await response.json()) as T;
  }

  private async send(method: string, path: string, body: Body, signal?: AbortSignal): Promise<Response> {
    const payload =
      body.json !== undefined ? Buffer.from(JSON.stringify(body.json)) : body.bytes ? body.bytes : undefined;
    const bodySha256 = payload ? sha256Hex(payload) : EMPTY_BODY_SHA256;
    const timestamp = String(Date.now());
    const nonce = randomBytes(16).toString("hex");
    const signature = this.identity.sign(nodeRequestMessage({ method, path, timestamp, nonce, bodySha256 }));
    const headers: Record<string, string> = {
      [NODE_HEADERS.address]: this.identity.address,
      [NODE_HEADERS.timestamp]: timestamp,
      [NODE_HEADERS.nonce]: nonce,
      [NODE_HEADERS.signature]: signature,
    };
    if (body.json !== undefined) headers["content-type"] = "application/json";
    if (body.bytes) {
      headers["content-type"] = "application/octet-stream";
      headers[NODE_HEADERS.contentSha256] = bodySha256;
    }
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { method, headers, body: payload, signal });
    } catch (error) {
      throw new NodeError("GATEWAY_UNREACHABLE", `${method} ${path}: ${(error as Error).message}`);
    }
    if (response.ok) return response;
    const text = await response.text();
    let code = "unknown";
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code ?? code;
      message = parsed.error?.message ?? message;
    } catch {
      // Not the API's error shape (a proxy's page): the text itself is the message.
    }
    if (response.status === 409 && code === "lease_lost") {
      throw new NodeError("LEASE_LOST", message, response.status, code);
    }
    throw new NodeError(
      "GATEWAY_REJECTED",
      `${method} ${path}: ${response.status} ${code}: ${message}`,
      response.status,
      code,
    );
  }
}
