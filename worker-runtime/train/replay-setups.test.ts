import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadFixture } from "./fixtures.ts";
import { withReplaySetup } from "./replay-setups.ts";
import type { RunSetup } from "./run-setup.ts";

describe("run setups kept between replays", () => {
  const mlp = loadFixture("mlp");
  const specWith = (seed: number) => ({ ...mlp.spec, seed });
  const setupFor = (spec: unknown, work: (setup: RunSetup) => Promise<void> = async () => {}) =>
    withReplaySetup(mlp.model, mlp.dataset, spec, {}, async (setup) => {
      await work(setup);
      return setup;
    });

  it("gives a replay of the same task the setup an earlier one used, and another task its own", async () => {
    const first = await setupFor(specWith(1));
    assert.equal(await setupFor(specWith(1)), first);
    // Same model and data, another spec: another run, another setup.
    const other = await setupFor(specWith(2));
    assert.notEqual(other, first);
    assert.notEqual(other.spec.seed, first.spec.seed);
    assert.equal(await setupFor(specWith(1)), first);
  });

  it("never shares a setup between replays running at once", async () => {
    let inner: RunSetup | undefined;
    const outer = await setupFor(specWith(3), async () => {
      inner = await setupFor(specWith(3));
    });
    assert.notEqual(inner, outer);
  });

  it("keeps at most two idle, releasing the oldest", async () => {
    const kept = await setupFor(specWith(4));
    await setupFor(specWith(5));
    await setupFor(specWith(6));
    assert.notEqual(await setupFor(specWith(4)), kept);
  });
});
