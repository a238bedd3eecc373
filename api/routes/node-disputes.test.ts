// Evidence bundles through the node gateway, against a real dispute on the dev chain: a party
// uploads its bundle and the referee (the operator's key) reads it back by dispute id; every other
// upload is refused with a typed error and leaves nothing behind — a stranger's, an oversize one,
// one whose bytes are not the signed hash, one for a dispute that does not exist. And the
// whistleblowers' read of audited segments, refused to anyone else and outside a challenge window.
// And verdict transcripts: the verifier publishes the leaves of its verdict, any registered node
// reads them; leaves that are not the verdict's (another root, another count, a hostile size), or
// from another node than the verifier, are refused with a typed error and leave nothing behind.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type Devnet, startDevnet } from "../../chain/index.ts";
import {
  type ChainConnection,
  connectChain,
  type DisputeView,
  setProtocolParameters,
} from "../../chain-bridge/index.ts";
import type { NodeRole } from "../../protocol/node-wire.ts";
import { NODE_HEADERS, nodeRequestMessage, sha256Hex } from "../../protocol/signed-messages.ts";
import { QUEUE_POLICIES } from "../../queue/policies.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { openCommitmentDispute } from "../../test/support/chain-fixture.ts";
import { type GatewayApp, RecordingLifecycle, startGatewayApp } from "../../test/support/gateway.ts";
import {
  encodeEvidence,
  gatewayEvidence,
  type PublishedEvidence,
} from "../../worker-runtime/node/dispute-evidence.ts";
import { NodeError } from "../../worker-runtime/node/errors.ts";
import { GatewayClient } from "../../worker-runtime/node/gateway-client.ts";
import { loadIdentity, type NodeIdentity } from "../../worker-runtime/node/identity.ts";
import { chainReadsOf } from "../services/nodes/chain-reads.ts";

const MAX_UPLOAD_BYTES = 64 * 1024;

function bundleOf(disputeId: bigint, party: string): PublishedEvidence {
  return {
    disputeId,
    party,
    segmentStartProof: [],
    evidence: {
      step: 4,
      node: 12,
      name: "assembly",
      opType: "Checkpoint",
      agreedCheckpoint: randomBytes(256),
      inputs: new Map([["x", { dtype: "float32", dims: [2], data: Float32Array.from([1.5, -2]) }]]),
      outputHashes: ["ab".repeat(32)],
      producers: new Map(),
    },
  };
}

/** The dev chain with one open commitment dispute, and a node gateway reading that chain. */
interface DisputeGateway {
  chain: ChainConnection;
  t: TestApp;
  served: GatewayApp;
  dispute: DisputeView;
  /** The disagreeing verifier's transcript leaves (0x hex). */
  transcript: string[];
  close(): Promise<void>;
}

/**
 * `leaf` is the worker's committed end state; the dispute stays open (at the worker's turn) for the
 * whole test, its verdict's challenge window closed. `operators` may read evidence.
 */
async function disputeGateway(leaf: string, operators: string[]): Promise<DisputeGateway> {
  const devnet: Devnet = await startDevnet({ port: 0, blockTimeMs: 200 });
  const chain = await connectChain(devnet.wsUrl);
  await setProtocolParameters(devnet.wsUrl, "//Alice", {
    challengeBlocks: 2,
    verdictBlocks: 20,
    revealBlocks: 20,
    roundBlocks: 5_000,
    forcedErrorPpm: 0,
  });
  const { dispute, transcript } = await openCommitmentDispute(chain, "//Bob", "//Charlie", leaf);
  const t = await createTestApp({}, { queues: true });
  const served = await startGatewayApp(
    t,
    new RecordingLifecycle(),
    QUEUE_POLICIES.audit,
    MAX_UPLOAD_BYTES,
    operators,
    chainReadsOf(chain),
  );
  return {
    chain,
    t,
    served,
    dispute,
    transcript,
    async close() {
      await served.close();
      await t.close();
      await chain.close();
      await devnet.stop();
    },
  };
}

describe("dispute evidence through the node gateway", () => {
  let gateway: DisputeGateway;
  let t: TestApp;
  let served: GatewayApp;
  let dispute: DisputeView;
  let worker: NodeIdentity;
  let verifier: NodeIdentity;
  let stranger: NodeIdentity;
  let operator: NodeIdentity;

  before(async () => {
    worker = await loadIdentity("//Bob");
    verifier = await loadIdentity("//Charlie");
    stranger = await loadIdentity("//Dave");
    operator = await loadIdentity("//Alice");
    gateway = await disputeGateway(`0x${"31".repeat(32)}`, [operator.address]);
    ({ t, served, dispute } = gateway);
  });

  after(async () => {
    await gateway?.close();
  });

  const client = (identity: NodeIdentity) => new GatewayClient(served.url, identity);

  async function refused(work: Promise<unknown>, status: number, code: string) {
    await assert.rejects(work, (error: unknown) => {
      assert.ok(error instanceof NodeError, String(error));
      assert.equal(error.status, status, error.message);
      assert.equal(error.apiCode, code, error.message);
      return true;
    });
  }

  /** Nothing of `bytes` entered the store, and the dispute's index holds only `parties`. */
  async function storedNothingOf(bytes: Uint8Array, parties: string[]) {
    assert.equal(await served.gateway.blobs.has(sha256Hex(bytes)), false);
    const rows = await t.database.db.disputeEvidence.findMany({
      where: { chainDisputeId: dispute.disputeId },
    });
    assert.deepEqual(rows.map((r) => r.party).sort(), [...parties].sort());
  }

  it("stores a party's bundle once, by hash, and the referee reads it back by dispute id", async () => {
    assert.equal(dispute.defender, worker.address);
    const bundle = bundleOf(dispute.disputeId, worker.address);
    const bytes = encodeEvidence(bundle);
    const stored = await client(worker).uploadEvidence(dispute.disputeId, bytes);
    assert.deepEqual(stored, {
      chain_dispute_id: dispute.disputeId.toString(),
      party: worker.address,
      sha256: sha256Hex(bytes),
      size_bytes: bytes.length,
    });
    // The same upload again changes nothing.
    assert.deepEqual(await client(worker).uploadEvidence(dispute.disputeId, bytes), stored);
    assert.deepEqual(await client(operator).evidenceOf(dispute.disputeId), [stored]);
    const [read] = await gatewayEvidence(client(operator)).bundles(dispute.disputeId);
    assert.equal(read?.party, worker.address);
    assert.deepEqual(read?.evidence.agreedCheckpoint, Buffer.from(bundle.evidence.agreedCheckpoint));
    // A party reads the list while its dispute is open; a stranger reads neither list nor bytes.
    assert.deepEqual(await client(verifier).evidenceOf(dispute.disputeId), [stored]);
    await refused(client(stranger).evidenceOf(dispute.disputeId), 403, "not_dispute_party");
    await refused(client(stranger).download(stored.sha256), 403, "blob_not_leased");
  });

  it("refuses a node that is not a party of the dispute", async () => {
    const bytes = encodeEvidence(bundleOf(dispute.disputeId, stranger.address));
    await refused(client(stranger).uploadEvidence(dispute.disputeId, bytes), 403, "not_dispute_party");
    await storedNothingOf(bytes, [worker.address]);
  });

  it("refuses a bundle over the size limit", async () => {
    const bytes = randomBytes(MAX_UPLOAD_BYTES + 1);
    await refused(client(verifier).uploadEvidence(dispute.disputeId, bytes), 413, "body_too_large");
    await storedNothingOf(bytes, [worker.address]);
  });

  it("refuses a bundle whose bytes do not hash to the signed SHA-256", async () => {
    const bytes = encodeEvidence(bundleOf(dispute.disputeId, verifier.address));
    const declared = sha256Hex(encodeEvidence(bundleOf(dispute.disputeId, verifier.address)));
    const path = `/v1/nodes/disputes/${dispute.disputeId}/evidence`;
    const timestamp = String(Date.now());
    const nonce = randomBytes(16).toString("hex");
    const response = await fetch(`${served.url}${path}`, {
      method: "PUT",
      headers: {
        [NODE_HEADERS.address]: verifier.address,
        [NODE_HEADERS.timestamp]: timestamp,
        [NODE_HEADERS.nonce]: nonce,
        [NODE_HEADERS.signature]: verifier.sign(
          nodeRequestMessage({ method: "PUT", path, timestamp, nonce, bodySha256: declared }),
        ),
        [NODE_HEADERS.contentSha256]: declared,
        "content-type": "application/octet-stream",
      },
      body: bytes,
    });
    assert.equal(response.status, 400);
    assert.equal(
      ((await response.json()) as { error: { code: string } }).error.code,
      "content_hash_mismatch",
    );
    await storedNothingOf(bytes, [worker.address]);
    assert.equal(await served.gateway.blobs.has(declared), false);
  });

  it("refuses a bundle for a dispute that does not exist", async () => {
    const missing = dispute.disputeId + 1_000n;
    const bytes = encodeEvidence(bundleOf(missing, worker.address));
    await refused(client(worker).uploadEvidence(missing, bytes), 404, "dispute_not_found");
    assert.equal(await served.gateway.blobs.has(sha256Hex(bytes)), false);
    assert.equal(await t.database.db.disputeEvidence.count({ where: { chainDisputeId: missing } }), 0);
  });
});

describe("audited segments through the node gateway", () => {
  let gateway: DisputeGateway;
  let served: GatewayApp;
  let chainTaskId: bigint;

  before(async () => {
    gateway = await disputeGateway(`0x${"32".repeat(32)}`, []);
    ({ served } = gateway);
    chainTaskId = gateway.dispute.chainTaskId;
  });

  after(async () => {
    await gateway?.close();
  });

  async function refusedRead(seed: string, roles: NodeRole[], task: bigint, code: string) {
    const client = new GatewayClient(served.url, await loadIdentity(seed));
    if (roles.length > 0) await client.register(roles, "e".repeat(64));
    await assert.rejects(client.auditedSegment(task, 0), (error: unknown) => {
      assert.ok(error instanceof NodeError, String(error));
      assert.equal(error.status, 403, error.message);
      assert.equal(error.apiCode, code, error.message);
      return true;
    });
  }

  it("refuses nodes that are not whistleblowers", async () => {
    await refusedRead("//Eve", [], chainTaskId, "node_not_registered");
    await refusedRead("//Ferdie", ["verifier"], chainTaskId, "role_not_registered");
  });

  it("refuses a whistleblower outside a challenge window, or for a task that does not exist", async () => {
    await refusedRead("//Dave", ["whistleblower"], chainTaskId, "segment_not_challengeable");
    await refusedRead("//Dave", ["whistleblower"], chainTaskId + 100n, "segment_not_challengeable");
  });
});

describe("verdict transcripts through the node gateway", () => {
  let gateway: DisputeGateway;
  let served: GatewayApp;
  let chainTaskId: bigint;
  let leaves: string[];
  let verifier: GatewayClient;

  before(async () => {
    gateway = await disputeGateway(`0x${"33".repeat(32)}`, []);
    ({ served } = gateway);
    chainTaskId = gateway.dispute.chainTaskId;
    leaves = gateway.transcript.map((leaf) => leaf.slice(2));
    verifier = new GatewayClient(served.url, await loadIdentity("//Charlie"));
  });

  after(async () => {
    await gateway?.close();
  });

  const registered = async (seed: string) => {
    const client = new GatewayClient(served.url, await loadIdentity(seed));
    await client.register(["whistleblower"], "e".repeat(64));
    return client;
  };

  async function refused(work: Promise<unknown>, status: number, code: string) {
    await assert.rejects(work, (error: unknown) => {
      assert.ok(error instanceof NodeError, String(error));
      assert.equal(error.status, status, error.message);
      assert.equal(error.apiCode, code, error.message);
      return true;
    });
  }

  const storedRows = () => gateway.t.database.db.transcriptLeaves.count({ where: { chainTaskId } });

  it("refuses leaves from another node than the audit's verifier", async () => {
    const stranger = await registered("//Dave");
    await refused(stranger.publishTranscript(chainTaskId, 0, leaves), 403, "not_audit_verifier");
    await refused(stranger.transcriptOf(chainTaskId, 0), 404, "transcript_not_published");
    assert.equal(await storedRows(), 0);
  });

  it("refuses leaves whose root is not the verdict's, or that are not its count", async () => {
    const forged = [leaves[0]!.replace(/^./, (c) => (c === "0" ? "1" : "0")), ...leaves.slice(1)];
    await refused(verifier.publishTranscript(chainTaskId, 0, forged), 422, "transcript_root_mismatch");
    await refused(
      verifier.publishTranscript(chainTaskId, 0, leaves.slice(1)),
      422,
      "transcript_size_mismatch",
    );
    assert.equal(await storedRows(), 0);
  });

  it("refuses a hostile size as soon as it exceeds the audit's leaves", async () => {
    const hostile = Array.from({ length: 32_768 }, () => randomBytes(32).toString("hex"));
    await refused(verifier.publishTranscript(chainTaskId, 0, hostile), 413, "body_too_large");
    assert.equal(await storedRows(), 0);
  });

  it("refuses an audit that does not exist", async () => {
    await refused(verifier.publishTranscript(chainTaskId + 100n, 0, leaves), 404, "audit_not_found");
    await refused(verifier.publishTranscript(chainTaskId, 1, leaves), 404, "audit_not_found");
  });

  it("stores the verifier's leaves once, and any registered node reads them back", async () => {
    const published = await verifier.publishTranscript(chainTaskId, 0, leaves);
    const task = (await chainReadsOf(gateway.chain).task(chainTaskId))!;
    assert.deepEqual(published, {
      chain_task_id: chainTaskId.toString(),
      attempt: task.attempt,
      audit_index: 0,
      verifier: (await loadIdentity("//Charlie")).address,
      root: task.audits[0]!.verdict!.transcript,
      leaves,
    });
    assert.deepEqual(await verifier.publishTranscript(chainTaskId, 0, leaves), published);
    assert.deepEqual(await (await registered("//Eve")).transcriptOf(chainTaskId, 0), published);
    assert.equal(await storedRows(), 1);
    const unregistered = new GatewayClient(served.url, await loadIdentity("//Ferdie"));
    await refused(unregistered.transcriptOf(chainTaskId, 0), 403, "node_not_registered");
  });
});
