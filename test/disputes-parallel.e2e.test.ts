// A node party to several disputes at once plays them all (issue 11: a node never loses a game it
// is right about by default). An honest worker holds four tasks of a real training run; each is
// audited by another verifier that griefs it: it publishes a transcript ending in a made-up state
// and disagrees at every turn. The four disputes open in the same block, with turns of a few
// blocks, and every player runs as its daemon runs it (playUntilStopped). A worker answering them
// one after another would let some deadline pass while it waits for its other answers' inclusion
// and be slashed by the verifier's claim_timeout; playing each on its own, it wins all four at the
// referee and keeps its whole stake.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Devnet, startDevnet } from "../chain/index.ts";
import {
  type ChainConnection,
  connectChain,
  NodeChainClient,
  newForcedErrorSecret,
  PLANCK_PER_VT,
  palletEventsSince,
  readOpenDisputes,
  setProtocolParameters,
} from "../chain-bridge/index.ts";
import { merkleInclusionProof, merkleRoot } from "../protocol/merkle.ts";
import { TranscriptLayout } from "../protocol/transcript.ts";
import { directoryEvidence } from "../worker-runtime/node/dispute-evidence.ts";
import { DisputePlayer } from "../worker-runtime/node/dispute-player.ts";
import {
  disputeRecords,
  keepVerifierRecord,
  keepWorkerRecord,
} from "../worker-runtime/node/dispute-records.ts";
import { Referee } from "../worker-runtime/node/referee.ts";
import { sha256Hex } from "../worker-runtime/train/checkpoint.ts";
import { CheckpointDir } from "../worker-runtime/train/checkpoint-dir.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { stepGraphOf } from "../worker-runtime/train/pinpoint.ts";
import { graphNodes } from "../worker-runtime/train/pinpoint-graphs.ts";
import { replayTranscript } from "../worker-runtime/train/replay.ts";
import { train } from "../worker-runtime/train/trainer.ts";
import { computeCall, submitAs } from "./support/chain-fixture.ts";

const STEPS = 8;
const BLOCK_MS = 200;
/**
 * Each turn's deadline. An answer takes about two blocks to be finalized, so a worker answering
 * four disputes in turn needs about eight; one answering each on its own needs about two.
 */
const ROUND_BLOCKS = 5;
const VERIFIERS = ["//Charlie", "//Dave", "//Eve", "//Ferdie"];
const PROFILE = `0x${"31".repeat(32)}`;
const mlp = loadFixture("mlp");
// One segment of 8 steps: the whole run is the audited segment.
const spec = { ...mlp.spec, epochs: undefined, max_steps: STEPS, checkpoint_every: STEPS };
const run = { model: mlp.model, dataset: mlp.dataset, spec, threads: 1 };
const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const tree = (leaves: readonly string[]) => leaves.map((leaf) => Buffer.from(leaf, "hex"));
const proofOf = (leaves: readonly string[], index: number) =>
  merkleInclusionProof(tree(leaves), index).map(hex);

describe("a node party to several disputes at once", () => {
  let devnet: Devnet;
  let chain: ChainConnection;
  let scratch: string;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "veritrain-disputes-parallel-"));
    devnet = await startDevnet({ port: 0, blockTimeMs: BLOCK_MS });
    chain = await connectChain(devnet.wsUrl);
    await setProtocolParameters(devnet.wsUrl, "//Alice", {
      roundBlocks: ROUND_BLOCKS,
      verdictBlocks: 60,
      challengeBlocks: 3,
      revealBlocks: 30,
      forcedErrorPpm: 0,
    });
  });

  after(async () => {
    await chain?.close();
    await devnet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function untilBlock(block: number): Promise<void> {
    while ((await chain.api.rpc.chain.getHeader()).number.toNumber() <= block) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function succeeded(tx: Promise<{ status: string; error: string | null }>): Promise<void> {
    const record = await tx;
    assert.equal(record.status, "succeeded", record.error ?? undefined);
  }

  it("an honest worker answers four griefing disputes in time and wins every one", async () => {
    const runDir = join(scratch, "run");
    const trained = await train({ ...mlp, spec, checkpointDir: runDir });
    const leaves = trained.checkpoints.map((c) => c.sha256);
    const start = CheckpointDir.open(runDir).read(0).bytes;
    const nodeCount = graphNodes(await stepGraphOf(run, 1)).length;

    // The worker's bond backs the four tasks; each verifier's only one audit, so that every task
    // draws another verifier.
    const worker = await NodeChainClient.create(chain.api, "//Bob");
    await succeeded(
      worker.register({
        roles: { worker: true, verifier: false, whistleblower: false },
        profile: PROFILE,
        commitment: newForcedErrorSecret().commitment,
        bond: BigInt(VERIFIERS.length) * 1_000n * PLANCK_PER_VT,
      }),
    );
    const verifiers = new Map<string, { client: NodeChainClient; secret: string }>();
    for (const seed of VERIFIERS) {
      const client = await NodeChainClient.create(chain.api, seed);
      const secret = newForcedErrorSecret();
      await succeeded(
        client.register({
          roles: { worker: false, verifier: true, whistleblower: false },
          profile: PROFILE,
          commitment: secret.commitment,
          bond: 500n * PLANCK_PER_VT,
        }),
      );
      verifiers.set(client.address, { client, secret: secret.secret });
    }

    const tasks: Array<{ chainTaskId: bigint; verifier: string }> = [];
    for (const _ of VERIFIERS) {
      const chainTaskId = BigInt((await chain.api.query.compute!.nextTaskId!()).toPrimitive() as number);
      await succeeded(
        submitAs(
          chain.api,
          "//Alice",
          "Compute.create_task",
          computeCall(chain.api, "createTask")(
            {
              modelHash: `0x${sha256Hex(mlp.model)}`,
              datasetHash: `0x${sha256Hex(mlp.dataset.bytes)}`,
              specHash: `0x${sha256Hex(JSON.stringify(spec))}`,
              profile: PROFILE,
              maxSteps: STEPS,
              checkpointInterval: STEPS,
              graphNodes: nodeCount,
              verificationLevel: 1,
            },
            100n * PLANCK_PER_VT,
          ),
        ),
      );
      await succeeded(
        worker.commit({
          chainTaskId,
          root: hex(merkleRoot(tree(leaves))),
          checkpoints: leaves.length,
          steps: BigInt(STEPS),
          result: `0x${leaves.at(-1)!}`,
        }),
      );
      await untilBlock((await worker.task(chainTaskId))!.commitment!.committedAt + 1);
      await succeeded(
        submitAs(
          chain.api,
          "//Alice",
          "Compute.select_audits",
          computeCall(chain.api, "selectAudits")(chainTaskId),
        ),
      );
      const verifier = (await worker.task(chainTaskId))!.audits[0]!.verifier;
      tasks.push({ chainTaskId, verifier });
      keepWorkerRecord(join(scratch, "worker"), chainTaskId, run, runDir, leaves);
    }
    assert.equal(new Set(tasks.map((t) => t.verifier)).size, VERIFIERS.length, "one verifier per task");

    // Every verifier publishes the same griefing transcript: the honest replay but its last leaf.
    const first = (await worker.task(tasks[0]!.chainTaskId))!;
    const stride = Number(new TranscriptLayout(0n, BigInt(STEPS), BigInt(first.transcriptStride)).stride);
    const replayed = await replayTranscript({ ...run, from: start, fromStep: 0, toStep: STEPS, stride });
    const grief = [...replayed.leaves.slice(0, -1), sha256Hex("grief")];
    let challengeEnd = 0;
    for (const { chainTaskId, verifier } of tasks) {
      const { client } = verifiers.get(verifier)!;
      await succeeded(
        client.submitVerdict({
          chainTaskId,
          auditIndex: 0,
          agrees: false,
          transcript: hex(merkleRoot(tree(grief))),
          endState: `0x${grief.at(-1)!}`,
          endStateProof: proofOf(grief, grief.length - 1),
          leaf: `0x${leaves[1]!}`,
          leafProof: proofOf(leaves, 1),
        }),
      );
      keepVerifierRecord(
        join(scratch, verifier),
        chainTaskId,
        run,
        { step: 0, bytes: start, proof: proofOf(leaves, 0).map((h) => h.slice(2)) },
        grief,
      );
      challengeEnd = Math.max(challengeEnd, (await client.task(chainTaskId))!.challengeEnd);
    }
    await untilBlock(challengeEnd);
    const openedFrom = (await chain.api.rpc.chain.getHeader()).number.toNumber();
    // The four reveals go out together, so the four disputes open within a block or two.
    await Promise.all(
      tasks.map(({ chainTaskId, verifier }) =>
        succeeded(
          verifiers.get(verifier)!.client.reveal({
            chainTaskId,
            auditIndex: 0,
            secret: verifiers.get(verifier)!.secret,
            nextCommitment: newForcedErrorSecret().commitment,
          }),
        ),
      ),
    );
    const disputes = (await readOpenDisputes(chain.api)).filter((d) =>
      tasks.some((t) => t.chainTaskId === d.chainTaskId),
    );
    assert.equal(disputes.length, VERIFIERS.length, "every disagreeing verdict opened a dispute");
    assert.ok(disputes.every((d) => d.defender === worker.address));
    const workerBond = (await worker.node())!.bonded;

    const evidenceDir = join(scratch, "evidence");
    const player = (client: NodeChainClient, dataDir: string, grieving: boolean) =>
      new DisputePlayer({
        chain: client,
        record: disputeRecords(dataDir),
        evidence: directoryEvidence(evidenceDir),
        log: () => {},
        pollMs: 100,
        alwaysDisagree: grieving,
      });
    const referee = new Referee({
      chain: await NodeChainClient.create(chain.api, "//Alice"),
      sudoSeed: "//Alice",
      evidence: [directoryEvidence(evidenceDir)],
      runOf: async () => run,
      log: () => {},
      pollMs: 100,
    });
    const stop = new AbortController();
    const playing = [
      player(worker, join(scratch, "worker"), false).playUntilStopped(stop.signal),
      ...tasks.map(({ verifier }) =>
        player(verifiers.get(verifier)!.client, join(scratch, verifier), true).playUntilStopped(stop.signal),
      ),
      referee.watchUntilStopped(stop.signal),
    ];
    try {
      const deadline = Date.now() + 150_000;
      const ids = new Set(disputes.map((d) => d.disputeId));
      while ((await readOpenDisputes(chain.api)).some((d) => ids.has(d.disputeId))) {
        assert.ok(Date.now() < deadline, "the disputes are still open");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      stop.abort();
      await Promise.all(playing);
    }

    const resolved = await resolutions(openedFrom);
    for (const { disputeId } of disputes) {
      const outcome = resolved.get(disputeId);
      assert.ok(outcome, `dispute ${disputeId} was resolved`);
      assert.equal(outcome.winner, worker.address, `dispute ${disputeId}: ${JSON.stringify(outcome)}`);
    }
    assert.equal((await worker.node())!.bonded, workerBond, "the honest worker keeps its whole stake");
  });

  /** Every DisputeResolved event from block `from` on, by dispute. */
  async function resolutions(from: number) {
    const found = new Map<bigint, { winner: string; by: string }>();
    for (const event of await palletEventsSince(chain.api, "Compute", from)) {
      if (event.name !== "DisputeResolved") continue;
      found.set(BigInt(String(event.data.disputeId)), {
        winner: String(event.data.winner),
        by: JSON.stringify(event.data.by),
      });
    }
    return found;
  }
});
