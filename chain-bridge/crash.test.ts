// The crash the bridge is built for: the process that submitted the escrow extrinsic dies
// (SIGKILL) before it records the outcome. A new process reconciles the journal and the chain
// ends up with exactly one escrow, the treasury charged once, the task row complete.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ApiPromise } from "@polkadot/api";
import { newId } from "../api/ids.ts";
import {
  type ChainFixture,
  sampleSpec,
  seedJob,
  stakedNode,
  startChainFixture,
} from "../test/support/chain-fixture.ts";
import { ChainBridge } from "./bridge.ts";
import { readBalance, readTask } from "./compute-state.ts";
import { escrowFor, parseTokenRate } from "./conversion.ts";
import { signerFromSeed } from "./signer.ts";
import { eventOf } from "./task-effects.ts";

const BLOCK_TIME_MS = 100;
const USD_CENTS = 2_500n;

/**
 * Seals a block every BLOCK_TIME_MS on a manual-seal chain until paused: the test, not a timer
 * racing the child process, decides whether the extrinsic is still in the pool when it is killed.
 */
class Sealer {
  #paused = false;
  #running = true;
  #sealing: Promise<unknown> = Promise.resolve();
  readonly #loop: Promise<void>;

  constructor(api: ApiPromise) {
    this.#loop = (async () => {
      while (this.#running) {
        if (!this.#paused) {
          this.#sealing = api.rpc.engine!.createBlock!(true, true);
          await this.#sealing;
        }
        await sleep(BLOCK_TIME_MS);
      }
    })();
  }

  /** Resolves once no block is being sealed and none will be until `resume`. */
  async pause(): Promise<void> {
    this.#paused = true;
    await this.#sealing;
  }

  resume(): void {
    this.#paused = false;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

describe("a crash between submitting and recording the escrow", () => {
  let fixture: ChainFixture;
  let jobId: string;
  let treasury: string;
  let sealer: Sealer;

  before(async () => {
    fixture = await startChainFixture({ manualSeal: true });
    sealer = new Sealer(fixture.chain.api);
    jobId = await seedJob(fixture.database);
    treasury = (await signerFromSeed("//Alice")).address;
    await stakedNode(fixture.chain, "//Bob", { worker: true });
  });

  after(async () => {
    await sealer.stop();
    await fixture.stop();
  });

  const nextTaskId = async () =>
    BigInt(String((await fixture.chain.api.query.compute!.nextTaskId!()).toPrimitive()));

  function spawnEscrow(taskId: string): ChildProcess {
    const spec = sampleSpec();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("../test/support/escrow-process.ts", import.meta.url))],
      {
        env: {
          ...process.env,
          CHAIN_WS_URL: fixture.devnet.wsUrl,
          DATABASE_URL: fixture.database.url,
          TASK_ID: taskId,
          JOB_ID: jobId,
          USD_CENTS: String(USD_CENTS),
          SPEC: JSON.stringify(spec, (_, value) => (typeof value === "bigint" ? String(value) : value)),
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    return child;
  }

  /**
   * Kills the child with SIGKILL once its extrinsic is journaled as submitted: at once (it may not
   * even have reached the node), or once the node's pool holds it.
   */
  async function killOnceSubmitted(child: ChildProcess, taskId: string, inPool: boolean): Promise<void> {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const row = await fixture.database.db.chainTransaction.findUnique({
        where: { causeKey: `task:${taskId}:create` },
      });
      assert.notEqual(row?.status, "succeeded", "the child recorded the outcome before it could be killed");
      assert.ok(Date.now() < deadline, "the child never submitted");
      if (row?.status === "submitted") {
        if (!inPool) break;
        const pending = await fixture.chain.api.rpc.author.pendingExtrinsics();
        if (pending.some((extrinsic) => extrinsic.hash.toHex() === row.extrinsicHash)) break;
      }
      await sleep(10);
    }
    child.kill("SIGKILL");
    await exited;
  }

  for (const moment of ["still in the pool", "already in a block"] as const) {
    it(`escrows exactly once when the extrinsic was ${moment} at the crash`, async () => {
      const taskId = newId("task");
      const tasksBefore = await nextTaskId();
      const treasuryBefore = await readBalance(fixture.chain.api, treasury);
      await sealer.pause();
      const child = spawnEscrow(taskId);
      await killOnceSubmitted(child, taskId, moment === "already in a block");
      if (moment === "already in a block") sealer.resume();
      const journaled = await fixture.database.db.chainTransaction.findUniqueOrThrow({
        where: { causeKey: `task:${taskId}:create` },
      });
      assert.equal(journaled.status, "submitted");
      if (moment === "already in a block") {
        while ((await nextTaskId()) === tasksBefore) await sleep(100);
      }

      // The restarted process: creating the bridge reconciles the journal. A paused chain has
      // the extrinsic (if it got there) still in its pool as reconciliation starts.
      const restarted = ChainBridge.create({
        api: fixture.chain.api,
        db: fixture.database.db,
        operatorSeed: "//Alice",
        tokenUsdRate: "0.01",
      });
      sealer.resume();
      const bridge = await restarted;
      const record = await fixture.database.db.chainTransaction.findUniqueOrThrow({
        where: { causeKey: `task:${taskId}:create` },
      });
      assert.equal(record.status, "succeeded", `${record.errorCode}: ${record.error}`);
      assert.equal(
        record.extrinsicHash,
        journaled.extrinsicHash,
        "the very extrinsic signed before the crash",
      );
      assert.equal(record.nonce, journaled.nonce);

      const task = await fixture.database.db.task.findUniqueOrThrow({ where: { id: taskId } });
      assert.equal(task.status, "assigned");
      assert.equal(task.chainTaskId, tasksBefore);
      // The jobs service asking again after the restart gets the same escrow, nothing new.
      const escrow = await bridge.openEscrow({ taskId, jobId, usdCents: USD_CENTS, spec: sampleSpec() });
      assert.equal(escrow.chainTaskId, tasksBefore);

      assert.equal(await nextTaskId(), tasksBefore + 1n, "exactly one task created on chain");
      const planck = escrowFor(USD_CENTS, parseTokenRate("0.01")).planck;
      const onChain = await readTask(fixture.chain.api, tasksBefore);
      assert.equal(onChain?.price, planck);
      const treasuryAfter = await readBalance(fixture.chain.api, bridge.operatorAddress);
      assert.equal(treasuryAfter.reserved - treasuryBefore.reserved, planck, "escrow reserved once");
      // The journal stores the decoded events as JSON; eventOf reads that same shape.
      const events = (record.events ?? []) as unknown as Parameters<typeof eventOf>[0];
      const fee = BigInt(
        String(eventOf(events, "TransactionPayment", "TransactionFeePaid")?.data.actualFee ?? 0),
      );
      assert.ok(fee > 0n);
      assert.equal(treasuryBefore.free - treasuryAfter.free, planck + fee, "one fee, one escrow");
      // Frees the worker (one task at a time) for the next case.
      await bridge.cancel(taskId);
    });
  }
});
