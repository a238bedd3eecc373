import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BatchOrder, batchesPerEpoch } from "./batches.ts";
import { Xoshiro128 } from "./prng.ts";

const start = (seed: number) => ({ epoch: 0, batch: 0, rngAtEpochStart: Xoshiro128.fromSeed(seed).state() });
const take = (order: BatchOrder, count: number) =>
  Array.from({ length: count }, () => Array.from(order.next().indices));

describe("BatchOrder", () => {
  it("keeps the last partial batch unless drop_last", () => {
    const plan = { samples: 10, batchSize: 4, shuffle: false, dropLast: false };
    assert.equal(batchesPerEpoch(plan), 3);
    assert.deepEqual(take(new BatchOrder(plan, start(0)), 4), [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
      [0, 1, 2, 3],
    ]);
    assert.equal(batchesPerEpoch({ ...plan, dropLast: true }), 2);
    assert.deepEqual(take(new BatchOrder({ ...plan, dropLast: true }, start(0)), 3), [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [0, 1, 2, 3],
    ]);
  });

  it("reshuffles every epoch, each epoch a permutation", () => {
    const plan = { samples: 9, batchSize: 3, shuffle: true, dropLast: false };
    const batches = take(new BatchOrder(plan, start(5)), 6);
    const first = batches.slice(0, 3).flat();
    const second = batches.slice(3).flat();
    assert.deepEqual([...first].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...second].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.notDeepEqual(first, second);
    const expectedFirst = Array.from(Xoshiro128.fromSeed(5).permutation(9));
    assert.deepEqual(first, expectedFirst);
  });

  it("resumes from any saved position with the same batches", () => {
    const plan = { samples: 23, batchSize: 5, shuffle: true, dropLast: false };
    const reference = take(new BatchOrder(plan, start(3)), 20);
    for (let cut = 0; cut <= 20; cut++) {
      const first = new BatchOrder(plan, start(3));
      take(first, cut);
      const resumed = new BatchOrder(plan, first.position());
      assert.deepEqual(take(resumed, 20 - cut), reference.slice(cut), `cut at ${cut}`);
    }
  });
});
