// The trained model a run delivers is for inference: a training-mode export (the documented way to
// keep BatchNorm trainable) comes back with its BatchNormalization and Dropout nodes in inference
// mode, so a sample's prediction does not depend on the batch it is predicted in.
import assert from "node:assert/strict";
import { it } from "node:test";
import ort from "onnxruntime-node";
import { loadModel } from "../onnx/index.ts";
import { readDataset } from "./data/dataset.ts";
import { gatherSamples, prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { loadZooFixture } from "./fixtures.ts";
import { parseTrainingSpec } from "./spec.ts";
import { train } from "./trainer.ts";

it("delivers a training-mode BatchNorm export in inference mode: predictions do not depend on the batch", async () => {
  const fixture = loadZooFixture("resnet_bn");
  const exported = loadModel(fixture.model);
  const training = exported.nodes.filter((n) => n.opType === "BatchNormalization");
  assert.ok(training.length > 0 && training.every((n) => n.attrs.int("training_mode", 0) === 1));

  const spec = { ...fixture.spec, epochs: undefined, max_steps: 3, checkpoint_every: 3 };
  const result = await train({ ...fixture, spec });
  const delivered = loadModel(result.model);
  for (const node of delivered.nodes.filter((n) => n.opType === "BatchNormalization")) {
    assert.equal(node.attrs.int("training_mode", 0), 0, node.name);
    assert.equal(node.outputs.length, 1, node.name);
  }

  const parsed = parseTrainingSpec(spec);
  const data = prepareData(
    exported,
    readDataset(fixture.dataset.bytes, fixture.dataset.fileName),
    parsed,
    Xoshiro128.fromSeed(0),
  );
  const [inputName, images] = [...data.train.inputs][0]!;
  const session = await ort.InferenceSession.create(result.model);
  const predict = async (indices: number[]) => {
    const batch = gatherSamples(images, indices) as Float32Array;
    const fed = new ort.Tensor("float32", batch, [indices.length, ...images.sampleDims]);
    const out = await session.run({ [inputName]: fed });
    return out[parsed.output]!.data as Float32Array;
  };
  const alone = await predict([0]);
  const inBatch = (await predict([0, 1, 2, 3, 4, 5, 6, 7])).subarray(0, alone.length);
  for (const [i, value] of alone.entries()) {
    assert.ok(Math.abs(value - inBatch[i]!) < 1e-5, `logit ${i}: ${value} vs ${inBatch[i]}`);
  }
  await session.release();
});
