import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadZooFixture, zooModels } from "./fixtures.ts";
import { train } from "./trainer.ts";

// The model zoo (fixtures/zoo/): small models of every kind users export with torch.onnx.export
// (residual CNN with BatchNorm, depthwise convolutions, LSTM on tokens and on packed sequences of
// different lengths, GRU and RNN on floats,
// 1-D convolutions, a transformer encoder, a ViT, U-Nets with upsampling and with transposed
// convolutions, GroupNorm, MLP-Mixer, embeddings, binary and regression heads), each trained three
// epochs by PyTorch on the same batches. Every one must follow PyTorch step for step.

const close = (ours: number, theirs: number, tolerance: number) =>
  Math.abs(ours - theirs) <= tolerance * Math.max(1, Math.abs(theirs));

describe("the model zoo trains as PyTorch does", () => {
  for (const name of zooModels()) {
    it(name, async () => {
      const fixture = loadZooFixture(name);
      const { losses, epochs } = fixture.reference;
      const result = await train(fixture);
      const ours = result.metrics.steps.map((s) => s.loss);
      assert.equal(ours.length, losses.length);
      // The second loss is the first one computed with weights the optimizer updated.
      for (const i of [0, 1]) {
        assert.ok(close(ours[i]!, losses[i]!, 1e-5), `step ${i + 1}: ${ours[i]} vs PyTorch ${losses[i]}`);
      }
      ours.forEach((loss, i) => {
        assert.ok(close(loss, losses[i]!, 1e-4), `step ${i + 1}: ${loss} vs PyTorch ${losses[i]}`);
      });
      result.metrics.epochs.forEach((epoch, i) => {
        const expected = epochs[i]!;
        assert.ok(close(epoch.train_loss, expected.train_loss, 1e-4), `epoch ${i} train loss`);
        assert.ok(close(epoch.val_loss!, expected.val_loss, 1e-4), `epoch ${i} validation loss`);
        if (expected.val_accuracy !== null) assert.equal(epoch.val_accuracy, expected.val_accuracy);
      });
    });
  }
});

it("the zoo stays small enough to commit", () => {
  const bytes = zooModels().reduce((sum, name) => {
    const fixture = loadZooFixture(name);
    return sum + fixture.model.byteLength + JSON.stringify(fixture.reference).length;
  }, loadZooFixture(zooModels()[0]!).dataset.bytes.byteLength);
  assert.ok(bytes < 600_000, `${bytes} bytes`);
});
