// Disputes played to the end on the dev chain with a real training run: two node players answer
// every turn from their own records (checkpoints, replays, traced steps), publish the narrowed
// node's evidence, and the referee re-executes that one node and rules through Sudo. No API: the
// task is driven on chain directly. A `swap-operator` worker, whose own step graph has other nodes
// than the task's, still claims at the task's positions, and the game lands on the operator it
// swapped.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { denseMlp } from "../bench/compute-bound.ts";
import { type Devnet, startDevnet } from "../chain/index.ts";
import {
  BridgeError,
  type ChainConnection,
  connectChain,
  type DisputeView,
  NodeChainClient,
  newForcedErrorSecret,
  PLANCK_PER_VT,
  palletEventsSince,
  readOpenDisputes,
  setProtocolParameters,
  signerFromSeed,
} from "../chain-bridge/index.ts";
import { merkleInclusionProof, merkleRoot } from "../protocol/merkle.ts";
import { TranscriptLayout } from "../protocol/transcript.ts";
import { directoryEvidence } from "../worker-runtime/node/dispute-evidence.ts";
import { DisputePlayer } from "../worker-runtime/node/dispute-player.ts";
import {
  disputeRecords,
  keepVerifierRecord,
  keepWorkerRecord,
  pruneRecords,
  recordedRun,
  type TrainedJob,
} from "../worker-runtime/node/dispute-records.ts";
import { Referee, type Ruling } from "../worker-runtime/node/referee.ts";
import { swapOperator, swappedNodeNames } from "../worker-runtime/node/swap-operator.ts";
import { decodeCheckpoint, encodeCheckpoint, sha256Hex } from "../worker-runtime/train/checkpoint.ts";
import { CheckpointDir } from "../worker-runtime/train/checkpoint-dir.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { stepGraphOf, traceStep } from "../worker-runtime/train/pinpoint.ts";
import { gamePositions, graphNodes } from "../worker-runtime/train/pinpoint-graphs.ts";
import { replayTranscript } from "../worker-runtime/train/replay.ts";
import type { DatasetSource } from "../worker-runtime/train/run-setup.ts";
import { train } from "../worker-runtime/train/trainer.ts";
import { computeCall, submitAs as submitSigned } from "./support/chain-fixture.ts";
import { pinpointedNodeName } from "./support/fraud-pinpoint.ts";

const STEPS = 8;
const mlp = loadFixture("mlp");
// One segment of 8 steps: the whole run is the audited segment.
const spec = { ...mlp.spec, epochs: undefined, max_steps: STEPS, checkpoint_every: STEPS };
// A model whose step graph two threads pad (a [256, 300] bias-gradient sum: more rows than the
// Gemm of ones takes, autodiff/leading-sum.ts).
const wide = denseMlp({ widths: [16, 300, 4], batch: 256, samples: 256 * STEPS });
const wideSpec = { ...wide.spec, epochs: undefined, max_steps: STEPS, checkpoint_every: STEPS };
const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const prefixed = (h: string) => `0x${h}`;

describe("disputes played to the end by two nodes and the referee", () => {
  let devnet: Devnet;
  let chain: ChainConnection;
  let scratch: string;
  let evidenceDir: string;
  let job: Job;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "veritrain-disputes-"));
    evidenceDir = join(scratch, "evidence");
    devnet = await startDevnet({ port: 0, blockTimeMs: 200 });
    chain = await connectChain(devnet.wsUrl);
    await setProtocolParameters(devnet.wsUrl, "//Alice", {
      roundBlocks: 40,
      verdictBlocks: 30,
      challengeBlocks: 3,
      revealBlocks: 30,
      forcedErrorPpm: 0,
    });
    job = await trainedJob("run", { model: mlp.model, dataset: mlp.dataset, spec, threads: 1 });
  });

  after(async () => {
    await chain?.close();
    await devnet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A trained run the tasks are about: its inputs, checkpoints and leaves, and the N the quote counts. */
  interface Job {
    run: { model: Uint8Array; dataset: DatasetSource; spec: Record<string, unknown>; threads: number };
    dir: string;
    start: Uint8Array;
    leaves: string[];
    /** The task's graph_nodes as the API's quote counts it: on the one-thread step graph. */
    graphNodes: number;
  }

  async function trainedJob(name: string, run: Job["run"]): Promise<Job> {
    const dir = join(scratch, name);
    const result = await train({ ...run, checkpointDir: dir });
    return {
      run,
      dir,
      start: CheckpointDir.open(dir).read(0).bytes,
      leaves: result.checkpoints.map((c) => c.sha256),
      graphNodes: gamePositions(await stepGraphOf({ ...run, threads: 1 }, 1)).length,
    };
  }

  /** Each player's node: its chain client, data directory and the task its record is of. */
  const parties = new Map<DisputePlayer, { client: NodeChainClient; dataDir: string; chainTaskId: bigint }>();

  /** Prunes the player's node's records as its daemon does; whether the dispute's record is still kept. */
  async function keptAfterPruning(player: DisputePlayer): Promise<boolean> {
    const { client, dataDir, chainTaskId } = parties.get(player)!;
    await pruneRecords(dataDir, client);
    return recordedRun(dataDir, chainTaskId) !== null;
  }

  const submitAs = (seed: string, purpose: string, call: Parameters<typeof submitSigned>[3]) =>
    submitSigned(chain.api, seed, purpose, call);

  /** A fresh account funded by //Alice, for nodes beyond the dev chain's six. */
  async function funded(seed: string): Promise<string> {
    const address = (await signerFromSeed(seed)).address;
    const call = chain.api.tx.balances!.transferAllowDeath!(address, 5_000n * PLANCK_PER_VT);
    const tx = await submitAs("//Alice", "Balances.transfer_allow_death", call);
    assert.equal(tx.status, "succeeded", tx.error ?? undefined);
    return seed;
  }

  async function waitForBlock(client: NodeChainClient, block: number): Promise<void> {
    while ((await client.head()) <= block) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  /**
   * A task of the run assigned to `workerSeed`'s node (the only one of `profile`), committed with
   * `leaves`, audited by `verifierSeed`'s node, whose verdict opens a dispute at its reveal: a
   * commitment dispute when its transcript (`transcriptOf` the replay's leaves) ends elsewhere than
   * the worker's leaf, a transcript dispute when `whistleblower` challenges it at its first leaf.
   */
  async function disputedTask(
    job: Job,
    profile: string,
    workerSeed: string,
    verifierSeed: string,
    leaves: string[],
    transcriptOf: (replayed: string[]) => string[],
    whistleblower?: NodeChainClient,
  ) {
    const worker = await NodeChainClient.create(chain.api, workerSeed);
    const verifier = await NodeChainClient.create(chain.api, verifierSeed);
    const secret = newForcedErrorSecret();
    await worker.register({
      roles: { worker: true, verifier: false, whistleblower: false },
      profile,
      commitment: newForcedErrorSecret().commitment,
      bond: 2_000n * PLANCK_PER_VT,
    });
    await verifier.register({
      roles: { worker: false, verifier: true, whistleblower: false },
      profile,
      commitment: secret.commitment,
      bond: 1_000n * PLANCK_PER_VT,
    });
    const taskId = (await chain.api.query.compute!.nextTaskId!()).toPrimitive() as number;
    const chainTaskId = BigInt(taskId);
    const created = await submitAs(
      "//Alice",
      "Compute.create_task",
      computeCall(chain.api, "createTask")(
        {
          modelHash: prefixed(sha256Hex(job.run.model)),
          datasetHash: prefixed(sha256Hex(job.run.dataset.bytes)),
          specHash: prefixed(sha256Hex(JSON.stringify(job.run.spec))),
          profile,
          maxSteps: STEPS,
          checkpointInterval: STEPS,
          graphNodes: job.graphNodes,
          verificationLevel: 1,
        },
        100n * PLANCK_PER_VT,
      ),
    );
    assert.equal(created.status, "succeeded", created.error ?? undefined);
    const tree = leaves.map((leaf) => Buffer.from(leaf, "hex"));
    await worker.commit({
      chainTaskId,
      root: hex(merkleRoot(tree)),
      checkpoints: leaves.length,
      steps: BigInt(STEPS),
      result: prefixed(leaves.at(-1)!),
    });
    await waitForBlock(worker, (await worker.task(chainTaskId))!.commitment!.committedAt + 1);
    await submitAs("//Ferdie", "Compute.select_audits", computeCall(chain.api, "selectAudits")(chainTaskId));
    const task = (await verifier.task(chainTaskId))!;
    assert.equal(task.audits[0]?.verifier, verifier.address);
    const replayed = await replayTranscript({
      ...job.run,
      from: job.start,
      fromStep: 0,
      toStep: STEPS,
      stride: Number(new TranscriptLayout(0n, BigInt(STEPS), BigInt(task.transcriptStride)).stride),
    });
    const published = transcriptOf(replayed.leaves);
    const transcript = published.map((leaf) => Buffer.from(leaf, "hex"));
    await verifier.submitVerdict({
      chainTaskId,
      auditIndex: 0,
      agrees: published.at(-1) === leaves[1],
      transcript: hex(merkleRoot(transcript)),
      endState: hex(transcript.at(-1)!),
      endStateProof: merkleInclusionProof(transcript, transcript.length - 1).map(hex),
      leaf: prefixed(leaves[1]!),
      leafProof: merkleInclusionProof(tree, 1).map(hex),
    });
    if (whistleblower) {
      const layout = new TranscriptLayout(0n, BigInt(STEPS), BigInt(task.transcriptStride));
      const challenged = await whistleblower.challenge({
        chainTaskId,
        auditIndex: 0,
        firstWrongStep: layout.stepOf(0),
      });
      assert.equal(challenged.status, "succeeded", challenged.error ?? undefined);
    }
    await waitForBlock(verifier, task.challengeEnd);
    await verifier.reveal({
      chainTaskId,
      auditIndex: 0,
      secret: secret.secret,
      nextCommitment: newForcedErrorSecret().commitment,
    });
    const [dispute] = (await readOpenDisputes(chain.api)).filter((d) => d.chainTaskId === chainTaskId);
    assert.ok(dispute, "the verdict opened a dispute");
    return { worker, verifier, dispute, chainTaskId, published };
  }

  /** Lets the players and the referee take turns until the dispute is over; returns the ruling. */
  async function playOut(
    job: Job,
    dispute: DisputeView,
    players: DisputePlayer[],
    between: (current: DisputeView) => Promise<void> = async () => {},
    refereeLog: (message: string) => void = () => {},
  ): Promise<Ruling> {
    const referee = new Referee({
      chain: await NodeChainClient.create(chain.api, "//Alice"),
      sudoSeed: "//Alice",
      evidence: [directoryEvidence(evidenceDir)],
      runOf: async () => job.run,
      log: refereeLog,
    });
    const deadline = Date.now() + 120_000;
    let ruling: Ruling | undefined;
    for (;;) {
      const current = (await readOpenDisputes(chain.api)).find((d) => d.disputeId === dispute.disputeId);
      if (!current) break;
      assert.ok(Date.now() < deadline, `dispute ${dispute.disputeId} still open in phase ${current.phase}`);
      for (const player of players) {
        assert.ok(await keptAfterPruning(player), "pruning keeps a record while its dispute is open");
      }
      await between(current);
      for (const player of players) await player.playOnce();
      ruling = (await referee.ruleOnce()).find((r) => r.disputeId === dispute.disputeId) ?? ruling;
    }
    assert.ok(ruling, "the referee ruled");
    return ruling;
  }

  /**
   * A node's dispute player over the records its daemon keeps on disk: a worker's after its commit,
   * a verifier's after its disagreeing verdict (dispute-records.ts).
   */
  function player(
    job: Job,
    client: NodeChainClient,
    chainTaskId: bigint,
    kept: {
      role: "worker" | "verifier";
      leaves: string[];
      transcriptLeaves?: string[];
      /** A worker's that trained another job than the task's: that job, and its checkpoints. */
      trained?: { job: TrainedJob; checkpointDir: string };
    },
    options: { alwaysDisagree?: boolean } = {},
  ) {
    const dataDir = join(scratch, "nodes", client.address);
    if (kept.role === "worker") {
      const { trained } = kept;
      keepWorkerRecord(
        dataDir,
        chainTaskId,
        job.run,
        trained?.checkpointDir ?? job.dir,
        kept.leaves,
        trained?.job,
      );
    } else {
      // The verifier checked the segment's start checkpoint against the root with this proof.
      const tree = kept.leaves.map((leaf) => Buffer.from(leaf, "hex"));
      const proof = merkleInclusionProof(tree, 0).map((node) => Buffer.from(node).toString("hex"));
      keepVerifierRecord(
        dataDir,
        chainTaskId,
        job.run,
        { step: 0, bytes: job.start, proof },
        kept.transcriptLeaves,
      );
    }
    const played = new DisputePlayer({
      chain: client,
      record: disputeRecords(dataDir),
      evidence: directoryEvidence(evidenceDir),
      log: () => {},
      ...options,
    });
    parties.set(played, { client, dataDir, chainTaskId });
    return played;
  }

  it("a worker that perturbed its checkpoint loses at that step to an honest verifier, decided by the referee", async () => {
    await perturbedWorkerLoses(job, `0x${"21".repeat(32)}`, "//Bob", "//Charlie");
  });

  it("a two-thread worker's dispute is played to the referee on the N the quote counted on one thread", async () => {
    // The chain draws the worker, and so the task's thread count, after the quote fixed
    // graph_nodes on the one-thread graph; two threads pad a bias-gradient sum into more nodes, whose
    // layout helpers fold into the sum's position, so both two-thread players and the referee
    // play the quoted N instead of refusing phase 2.
    const padded = await trainedJob("wide", {
      model: wide.model,
      dataset: wide.dataset,
      spec: wideSpec,
      threads: 2,
    });
    assert.ok(graphNodes(await stepGraphOf(padded.run, 1)).length > padded.graphNodes);
    await perturbedWorkerLoses(
      padded,
      `0x${"26".repeat(32)}`,
      await funded("//DisputeWorker6"),
      await funded("//DisputeVerifier6"),
    );
  });

  /**
   * A worker committing its run's end state with one weight perturbed loses against an honest
   * verifier of its profile: the game lands on the last step's checkpoint assembly (node N), whose
   * correct output the referee recomputes from the agreed operator outputs, and the worker is slashed.
   */
  async function perturbedWorkerLoses(job: Job, profile: string, workerSeed: string, verifierSeed: string) {
    const forged = decodeCheckpoint(CheckpointDir.open(job.dir).read(STEPS).bytes);
    const weight = [...forged.params.values()].find((t) => t.data instanceof Float32Array)!;
    (weight.data as Float32Array)[0]! += 1e-3;
    const forgedLeaf = sha256Hex(encodeCheckpoint(forged));
    const leaves = [job.leaves[0]!, forgedLeaf];
    const { worker, verifier, dispute, chainTaskId } = await disputedTask(
      job,
      profile,
      workerSeed,
      verifierSeed,
      leaves,
      (replayed) => replayed,
    );
    assert.equal(dispute.defender, worker.address);
    const bonded = (await worker.node())!.bonded;
    const players = [
      player(job, worker, chainTaskId, { role: "worker", leaves }),
      player(job, verifier, chainTaskId, { role: "verifier", leaves }),
    ];
    const ruling = await playOut(job, dispute, players);
    assert.equal(ruling.step, BigInt(STEPS));
    assert.equal(ruling.node, job.graphNodes);
    assert.equal(ruling.output, prefixed(job.leaves[1]!));
    assert.equal(ruling.defenderWins, false);
    assert.ok((await worker.node())!.bonded < bonded, "the cheating worker is slashed");
    // The worker's attempt is void and the audit settled: no dispute can open about either record.
    for (const played of players) assert.equal(await keptAfterPruning(played), false);
  }

  /** The Compute events of dispute `disputeId` in blocks `from` … head, in order. */
  async function gameEvents(disputeId: bigint, from: number) {
    const events = await palletEventsSince(chain.api, "Compute", from);
    return events.filter((e) => String(e.data.disputeId) === disputeId.toString());
  }

  it("a swap-operator worker loses at exactly the operator it swapped, which the referee runs alone", async () => {
    // The cheat trains the whole run with the user's second Gemm fed float16-rounded inputs.
    const trained = { model: swapOperator(mlp.model), spec };
    const checkpointDir = join(scratch, "swap-run");
    const cheat = await train({ ...mlp, ...trained, checkpointDir });
    const leaves = cheat.checkpoints.map((c) => c.sha256);
    assert.equal(leaves[0], job.leaves[0], "its step-0 checkpoint is the task's");
    const from = (await chain.api.rpc.chain.getHeader()).number.toNumber();
    const { worker, verifier, dispute, chainTaskId } = await disputedTask(
      job,
      `0x${"27".repeat(32)}`,
      await funded("//DisputeWorker7"),
      await funded("//DisputeVerifier7"),
      leaves,
      (replayed) => replayed,
    );
    assert.equal(dispute.defender, worker.address);
    const bonded = (await worker.node())!.bonded;
    const refereeSaid: string[] = [];
    const ruling = await playOut(
      job,
      dispute,
      [
        player(job, worker, chainTaskId, {
          role: "worker",
          leaves,
          trained: { job: trained, checkpointDir },
        }),
        player(job, verifier, chainTaskId, { role: "verifier", leaves }),
      ],
      undefined,
      (message) => refereeSaid.push(message),
    );
    // The worker's record names the task's model, not the one it trained: a referee reading its
    // inputs from the cheat's directory still runs the user's operator.
    const kept = recordedRun(join(scratch, "nodes", worker.address), chainTaskId);
    assert.ok(kept && Buffer.from(kept.model).equals(Buffer.from(mlp.model)));

    const events = await gameEvents(dispute.disputeId, from);
    const narrowed = events.find((e) => e.name === "DisputeNarrowedToOperator");
    assert.ok(narrowed, `phase 2 reached one operator; the game's events: ${events.map((e) => e.name)}`);
    const step = Number(narrowed.data.step);
    const node = Number(narrowed.data.node);
    // Every step of the cheat's run differs, so the first one does, at the swapped Gemm.
    assert.equal(step, 1);
    const name = await pinpointedNodeName(job.run, step, node);
    assert.ok(name !== null && swappedNodeNames(mlp.model).has(name), `narrowed to node ${node} (${name})`);
    assert.equal(ruling.step, BigInt(step));
    assert.equal(ruling.node, node);

    // The referee's output is that node's alone, from the agreed state (the task's step-0
    // checkpoint): the honest o_node, not the cheat's claim.
    const honest = await traceStep({ ...job.run, from: job.start });
    assert.equal(ruling.output, prefixed(honest.outputs[node]!));
    assert.notEqual(ruling.output, dispute.claim);
    assert.equal(ruling.defenderWins, false);
    const nodeName = gamePositions(await stepGraphOf(job.run, step))[node]!.node.name!;
    assert.ok(
      refereeSaid.some(
        (m) => m.includes(`node ${node} (`) && m.includes(nodeName) && m.includes("challenger wins"),
      ),
      `the referee's log: ${refereeSaid.join("; ")}`,
    );
    assert.ok((await worker.node())!.bonded < bonded, "the cheating worker is slashed");

    // Rounds: the defender's answers (its opening and one per bisection, then its operator claim).
    const rounds = events.filter((e) => e.name === "DisputeResponded").length;
    const bound = Math.ceil(Math.log2(STEPS)) + Math.ceil(Math.log2(job.graphNodes)) + 2;
    assert.ok(rounds <= bound, `${rounds} rounds, bound ${bound}`);
  });

  it("a grief verifier loses against an honest worker, and claim_timeout cannot slash a worker that answers", async () => {
    const { worker, verifier, dispute, chainTaskId } = await disputedTask(
      job,
      `0x${"22".repeat(32)}`,
      "//Dave",
      "//Eve",
      job.leaves,
      // A transcript ending in a made-up state: the verifier disagrees with honest work.
      (replayed) => [...replayed.slice(0, -1), sha256Hex("grief")],
    );
    const workerBond = (await worker.node())!.bonded;
    const verifierBond = (await verifier.node())!.bonded;
    let refusedTimeouts = 0;
    const [honestWorker, griefVerifier] = [
      player(job, worker, chainTaskId, { role: "worker", leaves: job.leaves }),
      player(job, verifier, chainTaskId, { role: "verifier", leaves: job.leaves }, { alwaysDisagree: true }),
    ];
    const ruling = await playOut(
      job,
      dispute,
      [honestWorker, griefVerifier],
      // While the worker is on turn and in time, the verifier tries to win by timeout.
      async (current) => {
        if (current.turn !== "Defender") return;
        await assert.rejects(
          verifier.claimTimeout(current.disputeId),
          (error: unknown) => error instanceof BridgeError && error.module?.name === "TooEarly",
        );
        refusedTimeouts += 1;
      },
    );
    assert.ok(refusedTimeouts > 0);
    // Disagreeing with everything narrows to the first operator of the segment's first step.
    assert.equal(ruling.step, 1n);
    assert.equal(ruling.node, 0);
    assert.equal(ruling.defenderWins, true);
    assert.equal((await worker.node())!.bonded, workerBond, "the honest worker keeps its whole stake");
    assert.ok((await verifier.node())!.bonded < verifierBond, "the grief verifier is slashed");
    // The audit failed and the task is Closed: another audit round may still dispute the commit.
    assert.equal(await keptAfterPruning(honestWorker), true);
    assert.equal(await keptAfterPruning(griefVerifier), false);
  });

  it("a worker that stops answering loses by the verifier's claim_timeout", async () => {
    const leaves = [job.leaves[0]!, sha256Hex("never trained")];
    const { worker, verifier, dispute, chainTaskId } = await disputedTask(
      job,
      `0x${"23".repeat(32)}`,
      await funded("//DisputeWorker3"),
      await funded("//DisputeVerifier3"),
      leaves,
      (replayed) => replayed,
    );
    const bonded = (await worker.node())!.bonded;
    const honest = player(job, verifier, chainTaskId, { role: "verifier", leaves });
    const deadline = Date.now() + 60_000;
    while ((await verifier.dispute(dispute.disputeId)) !== null) {
      assert.ok(Date.now() < deadline, "the dispute is still open");
      await honest.playOnce();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok((await verifier.head()) > dispute.deadline, "not before the worker's deadline");
    assert.ok((await worker.node())!.bonded < bonded, "the silent worker is slashed");
  });

  it("a whistleblower that challenges an honest verdict loses its bond to the verifier, which defends its transcript", async () => {
    const whistleblower = await NodeChainClient.create(chain.api, await funded("//DisputeWhistleblower5"));
    await whistleblower.register({
      roles: { worker: false, verifier: false, whistleblower: true },
      profile: `0x${"25".repeat(32)}`,
      commitment: newForcedErrorSecret().commitment,
      bond: 1_000n * PLANCK_PER_VT,
    });
    const { verifier, dispute, chainTaskId, published } = await disputedTask(
      job,
      `0x${"25".repeat(32)}`,
      await funded("//DisputeWorker5"),
      await funded("//DisputeVerifier5"),
      job.leaves,
      (replayed) => replayed,
      whistleblower,
    );
    assert.equal(dispute.kind, "Transcript");
    assert.equal(dispute.defender, verifier.address);
    const verifierBond = (await verifier.node())!.bonded;
    const whistleblowerBalance = await whistleblower.balance();
    const players = [
      player(job, verifier, chainTaskId, {
        role: "verifier",
        leaves: job.leaves,
        transcriptLeaves: published,
      }),
      // The griefing challenger disagrees at every turn, whatever its own replay says.
      player(
        job,
        whistleblower,
        chainTaskId,
        { role: "verifier", leaves: job.leaves },
        { alwaysDisagree: true },
      ),
    ];
    const ruling = await playOut(job, dispute, players);
    assert.equal(ruling.step, 1n);
    assert.equal(ruling.node, 0);
    assert.equal(ruling.defenderWins, true);
    assert.equal((await verifier.node())!.bonded, verifierBond, "the honest verifier keeps its whole stake");
    const after = await whistleblower.balance();
    assert.ok(
      after.free + after.reserved < whistleblowerBalance.free + whistleblowerBalance.reserved,
      "the griefing whistleblower loses its challenge bond",
    );
    // The audit settled and its dispute is over: neither verdict record can be needed again.
    for (const played of players) assert.equal(await keptAfterPruning(played), false);
  });
});
