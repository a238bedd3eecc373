import assert from "node:assert/strict";
import { test } from "node:test";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { deliveredModel, initialCheckpoint } from "../worker-runtime/train/trainer.ts";
import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
import { modelCarriesCheckpoint } from "./model-weights.ts";

test("a model carries its checkpoint's weights only when derived from exactly that checkpoint", async () => {
  const { model, dataset, spec } = loadFixture("mlp");
  const initial = await initialCheckpoint(model, dataset, spec);
  const state = decodeCheckpoint(initial);
  const trained = encodeCheckpoint({
    ...state,
    step: 5,
    params: new Map(
      [...state.params].map(([name, t]) => [
        name,
        { ...t, data: (t.data as Float32Array).map((v) => v * 0.5) },
      ]),
    ),
  });
  assert.equal(modelCarriesCheckpoint(deliveredModel(model, trained), trained), true);
  // The model derived from another checkpoint (here the initial state), and the user's own model
  // whose exporter may store weights differently, do not pass for the trained one.
  assert.match(String(modelCarriesCheckpoint(deliveredModel(model, initial), trained)), /other values/);
  assert.notEqual(modelCarriesCheckpoint(model, trained), true);
  assert.throws(() => modelCarriesCheckpoint(Uint8Array.of(0x3a, 0xff), trained), /ends/);
});
