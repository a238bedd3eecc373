// The evidence a dispute party publishes once the pinpoint game narrows to one node (PROTOCOL.md
// §6.4): its bytes (JSON, tensors as base64 of their little-endian elements) and where they are
// kept. A node started against the API uploads its bundle through the node gateway, where the
// referee lists and downloads it by dispute id (gatewayEvidence); without a gateway (a test of the
// game alone), each party keeps its bundle in an evidence directory with the bundle's SHA-256 beside
// it, and the referee reads that directory (directoryEvidence).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { allocate, type DType, type Tensor } from "../onnx/dtypes.ts";
import type { OperatorEvidence } from "../train/pinpoint.ts";
import { NodeError } from "./errors.ts";
import type { GatewayClient } from "./gateway-client.ts";

interface TensorJson {
  dtype: DType;
  dims: number[];
  data: string;
}

interface EvidenceJson {
  dispute_id: string;
  party: string;
  step: number;
  node: number;
  name: string;
  op_type: string;
  agreed_checkpoint: string;
  inputs: Record<string, TensorJson>;
  output_hashes: string[];
  producers: Record<string, TensorJson[]>;
  segment_start_proof: string[];
}

const toJson = (t: Tensor): TensorJson => ({
  dtype: t.dtype,
  dims: t.dims,
  data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64"),
});

function fromJson(t: TensorJson): Tensor {
  const bytes = Buffer.from(t.data, "base64");
  const copy = allocate(t.dtype, bytes.length / allocate(t.dtype, 0).BYTES_PER_ELEMENT);
  new Uint8Array(copy.buffer).set(bytes);
  return { dtype: t.dtype, dims: t.dims, data: copy };
}

export interface PublishedEvidence {
  disputeId: bigint;
  /** The party's address. */
  party: string;
  evidence: OperatorEvidence;
  /**
   * When the agreed state is the segment's start: the inclusion proof (hex siblings) of its
   * checkpoint as leaf `segment` of the committed root; empty otherwise.
   */
  segmentStartProof: string[];
}

export function encodeEvidence({
  disputeId,
  party,
  evidence,
  segmentStartProof,
}: PublishedEvidence): Uint8Array {
  const body: EvidenceJson = {
    dispute_id: disputeId.toString(),
    party,
    step: evidence.step,
    node: evidence.node,
    name: evidence.name,
    op_type: evidence.opType,
    agreed_checkpoint: Buffer.from(evidence.agreedCheckpoint).toString("base64"),
    inputs: Object.fromEntries([...evidence.inputs].map(([name, t]) => [name, toJson(t)])),
    output_hashes: evidence.outputHashes,
    producers: Object.fromEntries(
      [...evidence.producers].map(([node, ts]) => [String(node), ts.map(toJson)]),
    ),
    segment_start_proof: segmentStartProof,
  };
  return Buffer.from(JSON.stringify(body));
}

export function decodeEvidence(bytes: Uint8Array): PublishedEvidence {
  let body: EvidenceJson;
  try {
    body = JSON.parse(Buffer.from(bytes).toString("utf8")) as EvidenceJson;
  } catch (error) {
    throw new NodeError("INVALID_EVIDENCE", `evidence is not JSON: ${(error as Error).message}`);
  }
  return {
    disputeId: BigInt(body.dispute_id),
    party: body.party,
    segmentStartProof: body.segment_start_proof ?? [],
    evidence: {
      step: body.step,
      node: body.node,
      name: body.name,
      opType: body.op_type,
      agreedCheckpoint: Buffer.from(body.agreed_checkpoint, "base64"),
      inputs: new Map(Object.entries(body.inputs).map(([name, t]) => [name, fromJson(t)])),
      outputHashes: body.output_hashes,
      producers: new Map(
        Object.entries(body.producers).map(([node, ts]) => [Number(node), ts.map(fromJson)]),
      ),
    },
  };
}

const disputeDir = (root: string, disputeId: bigint) => join(root, `dispute-${disputeId}`);

/** Writes the bundle as `<party>.json` with `<party>.sha256` beside it; returns the SHA-256. */
export function publishEvidence(root: string, published: PublishedEvidence): string {
  const dir = disputeDir(root, published.disputeId);
  mkdirSync(dir, { recursive: true });
  const bytes = encodeEvidence(published);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  // Written aside and renamed: a referee reading the directory never sees half a bundle.
  const file = join(dir, `${published.party}.json`);
  writeFileSync(`${file}.partial`, bytes);
  renameSync(`${file}.partial`, file);
  writeFileSync(join(dir, `${published.party}.sha256`), sha256);
  return sha256;
}

/** Every bundle published for a dispute whose bytes match the SHA-256 kept beside them. */
export function publishedEvidence(root: string, disputeId: bigint): PublishedEvidence[] {
  const dir = disputeDir(root, disputeId);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .flatMap((file) => {
      const bytes = readFileSync(join(dir, file));
      const hashFile = join(dir, file.replace(/\.json$/, ".sha256"));
      const expected = existsSync(hashFile) ? readFileSync(hashFile, "utf8").trim() : "";
      return createHash("sha256").update(bytes).digest("hex") === expected ? [decodeEvidence(bytes)] : [];
    });
}

/** Where a dispute party publishes its bundle; answers the bundle's SHA-256. */
export interface EvidenceSink {
  publish(published: PublishedEvidence): Promise<string>;
}

/** Where the referee reads a dispute's bundles: each one whose bytes match its recorded hash. */
export interface EvidenceSource {
  bundles(disputeId: bigint): Promise<PublishedEvidence[]>;
}

/** An evidence directory shared by the parties and the referee (one machine, or a shared disk). */
export function directoryEvidence(root: string): EvidenceSink & EvidenceSource {
  return {
    publish: async (published) => publishEvidence(root, published),
    bundles: async (disputeId) => publishedEvidence(root, disputeId),
  };
}

/**
 * The node gateway: a party uploads its bundle (the gateway checks it is a party and the bytes'
 * hash), the referee lists a dispute's bundles with the operator's key and downloads each by hash.
 * A bundle that names another party than the one that uploaded it, or that does not decode, is
 * left out: a party cannot speak for the other one.
 */
export function gatewayEvidence(client: GatewayClient): EvidenceSink & EvidenceSource {
  return {
    publish: async (published) =>
      (await client.uploadEvidence(published.disputeId, encodeEvidence(published))).sha256,
    bundles: async (disputeId) => {
      const bundles: PublishedEvidence[] = [];
      for (const ref of await client.evidenceOf(disputeId)) {
        try {
          const bundle = decodeEvidence(await client.download(ref.sha256));
          if (bundle.party === ref.party && bundle.disputeId === disputeId) bundles.push(bundle);
        } catch (error) {
          if (!(error instanceof NodeError && error.code === "INVALID_EVIDENCE")) throw error;
        }
      }
      return bundles;
    },
  };
}
