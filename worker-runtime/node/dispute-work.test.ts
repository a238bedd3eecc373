import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeadlineQueue, DisputeWork } from "./dispute-work.ts";

/** A job that records when it starts and ends, and ends only when released. */
function gatedJob(name: string, log: string[]) {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    release,
    job: async () => {
      log.push(`start ${name}`);
      await gate;
      log.push(`end ${name}`);
      return name;
    },
  };
}

/** A job that records its run and returns its name. */
const recorded = (name: string, log: string[]) => async () => {
  log.push(name);
  return name;
};

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("DeadlineQueue", () => {
  it("runs one job at a time, the earliest deadline first, equal deadlines in arrival order", async () => {
    const queue = new DeadlineQueue();
    const log: string[] = [];
    const running = gatedJob("running", log);
    const first = queue.run(50, running.job).result;
    await settle();
    const results = [
      queue.run(30, recorded("late", log)).result,
      queue.run(10, recorded("urgent", log)).result,
      queue.run(10, recorded("urgent, later", log)).result,
    ];
    await settle();
    assert.deepEqual(log, ["start running"], "nothing starts while a job runs");
    running.release();
    assert.deepEqual(await Promise.all([first, ...results]), ["running", "late", "urgent", "urgent, later"]);
    assert.deepEqual(log, ["start running", "end running", "urgent", "urgent, later", "late"]);
  });

  it("goes on after a job that fails", async () => {
    const queue = new DeadlineQueue();
    const failing = queue.run(1, async () => {
      throw new Error("replay failed");
    }).result;
    const next = queue.run(2, async () => "next").result;
    await assert.rejects(failing, /replay failed/);
    assert.equal(await next, "next");
  });
});

describe("DisputeWork", () => {
  it("computes a key once for every dispute asking for it, and forgets it when none holds it", async () => {
    const work = new DisputeWork();
    let computed = 0;
    const compute = async () => {
      computed += 1;
      return computed;
    };
    const [a, b] = await Promise.all([work.shared("k", 1n, 10, compute), work.shared("k", 2n, 20, compute)]);
    assert.deepEqual([a, b, computed], [1, 1, 1]);
    work.release(1n);
    assert.equal(await work.shared("k", 3n, 10, compute), 1, "still held by dispute 2");
    work.release(2n);
    work.release(3n);
    assert.equal(work.kept, 0);
    assert.equal(await work.shared("k", 4n, 10, compute), 2, "computed again once forgotten");
  });

  it("moves a waiting computation forward when a more urgent dispute asks for it", async () => {
    const work = new DisputeWork();
    const log: string[] = [];
    const running = gatedJob("running", log);
    const busy = work.shared("running", 1n, 5, running.job);
    await settle();
    const shared = work.shared("shared", 1n, 100, recorded("shared", log));
    const other = work.shared("other", 2n, 50, recorded("other", log));
    // Dispute 3's turn ends at block 10: the replay it shares with dispute 1 goes before dispute 2's.
    const urgent = work.shared("shared", 3n, 10, async () => "never computed twice");
    running.release();
    assert.deepEqual(await Promise.all([busy, shared, other, urgent]), [
      "running",
      "shared",
      "other",
      "shared",
    ]);
    assert.deepEqual(log, ["start running", "end running", "shared", "other"]);
  });

  it("keeps no failure: the next turn computes again", async () => {
    const work = new DisputeWork();
    let attempts = 0;
    const flaky = async () => {
      attempts += 1;
      if (attempts === 1) throw new Error("out of memory");
      return "replayed";
    };
    await assert.rejects(work.shared("k", 1n, 10, flaky), /out of memory/);
    assert.equal(await work.shared("k", 1n, 10, flaky), "replayed");
  });
});
