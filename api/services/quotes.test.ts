import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { writeSafetensors } from "../../protocol/safetensors-writer.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { safetensorsFile } from "../../test/support/hostile-files.ts";
import { uploadFile, uploadMlpFixtures } from "../../test/support/uploads.ts";
import { ModelBuilder, seededRandom } from "../../worker-runtime/autodiff/model-builder.ts";
import { tensorFromNumbers } from "../../worker-runtime/onnx/dtypes.ts";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

let testApp: TestApp;
let alice: SignedUp;
let bob: SignedUp;
let spec: Record<string, unknown>;

interface QuoteBody {
  model: string;
  dataset: string;
  verification: string;
  total_steps: number;
  checkpoints: number;
  flops_per_step: number;
  price: { total_cents: number; audited_segments: number };
  audit: { level: string; segments: number; audited_segments: number; detection_probability: number };
}

before(async () => {
  testApp = await createTestApp();
  alice = await signUp(testApp.app);
  bob = await signUp(testApp.app);
  spec = JSON.parse((await fixture("mlp.spec.json")).toString("utf8")) as Record<string, unknown>;
});
after(() => testApp.close());

const upload = (user: SignedUp) => uploadMlpFixtures(testApp.app, user);

const quote = (user: SignedUp, body: Record<string, unknown>) =>
  testApp.app.inject({
    method: "POST",
    url: "/v1/training-jobs/quote",
    payload: { spec, verification: "standard", ...body },
    headers: user.headers,
  });

async function quoted(user: SignedUp, body: Record<string, unknown>): Promise<QuoteBody> {
  const res = await quote(user, body);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<QuoteBody>();
}

test("the same content and spec quote the same under other file ids; the level is priced per request", async () => {
  const first = await upload(alice);
  const again = await upload(bob);
  const original = await quoted(alice, first);
  assert.deepEqual(await quoted(alice, first), original);
  assert.deepEqual(await quoted(bob, again), { ...original, ...again });

  const thorough = await quoted(alice, { ...first, verification: "thorough" });
  assert.equal(thorough.verification, "thorough");
  assert.equal(thorough.total_steps, original.total_steps);
  assert.ok(thorough.price.audited_segments >= original.price.audited_segments);
  for (const [body, target] of [
    [original, 0.999],
    [thorough, 0.9999],
  ] as const) {
    const { audit } = body;
    assert.equal(audit.level, body.verification);
    assert.equal(audit.segments, body.checkpoints - 1);
    assert.equal(audit.audited_segments, body.price.audited_segments);
    assert.ok(audit.audited_segments <= audit.segments);
    // A job too short for the target audits every segment, which catches any fake.
    assert.ok(
      audit.detection_probability >= target || audit.detection_probability === 1,
      `${audit.detection_probability}`,
    );
  }

  const reordered = Object.fromEntries(Object.entries(spec).reverse());
  assert.deepEqual(await quoted(alice, { ...first, spec: reordered }), original);
  const shorter = await quoted(alice, { ...first, spec: { ...spec, max_steps: 7 } });
  assert.equal(shorter.total_steps, 7);
});

test("a quote already priced still checks the caller, the files and their purposes every time", async () => {
  const files = await upload(alice);
  await quoted(alice, files);

  assert.equal(expectApiError(await quote(bob, files), 404, "resource_missing").param, "model");
  assert.equal(
    expectApiError(await quote(alice, { ...files, model: files.dataset }), 400, "wrong_file_purpose").param,
    "model",
  );
  assert.equal(
    expectApiError(await quote(alice, { ...files, dataset: files.model }), 400, "wrong_file_purpose").param,
    "dataset",
  );
  assert.equal(
    expectApiError(await quote(alice, { ...files, dataset: "file_malformed" }), 404, "resource_missing")
      .param,
    "dataset",
  );
  const bad = expectApiError(
    await quote(alice, { ...files, spec: { ...spec, target: "y_missing" } }),
    400,
    "invalid_spec",
  );
  assert.equal(bad.param, "spec.target");

  const deleted = await testApp.app.inject({
    method: "DELETE",
    url: `/v1/files/${files.dataset}`,
    headers: alice.headers,
  });
  assert.equal(deleted.statusCode, 200, deleted.body);
  assert.equal(expectApiError(await quote(alice, files), 404, "resource_missing").param, "dataset");
});

/** x [batch, seq, 8] @ w [8, 4]: what a step costs depends on seq, which only the dataset sizes. */
function sequenceModel(input: "float32" | "int32" = "float32") {
  const m = new ModelBuilder(17);
  const x = m.input("x", input, ["batch", "seq", 8]);
  const floats = input === "float32" ? x : m.op("Cast", [x], { to: 1 });
  const y = m.op("MatMul", [floats, m.random("w", "float32", [8, 4], seededRandom(1))]);
  m.output(y, "float32", ["batch", "seq", 4]);
  return { bytes: m.bytes(), output: y };
}

/**
 * Four samples of float32 zeros: x of the given per-sample shape, y of `yShape` (by default the
 * sequence model's output for that x, [...seq, 4]).
 */
function samples(xShape: number[], yShape = [...xShape.slice(0, -1), 4]) {
  const xBytes = 4 * xShape.reduce((a, b) => a * b, 4);
  const yBytes = 4 * yShape.reduce((a, b) => a * b, 4);
  return safetensorsFile(
    {
      x: { dtype: "F32", shape: [4, ...xShape], data_offsets: [0, xBytes] },
      y: { dtype: "F32", shape: [4, ...yShape], data_offsets: [xBytes, xBytes + yBytes] },
    },
    xBytes + yBytes,
  );
}

async function quoteOf(model: { bytes: Uint8Array; output: string }, xShape: number[], yShape?: number[]) {
  const files = {
    model: await uploadFile(testApp.app, alice, "model", "m.onnx", model.bytes),
    dataset: await uploadFile(testApp.app, alice, "dataset", "d.safetensors", samples(xShape, yShape)),
  };
  const sequenceSpec = {
    inputs: { x: "x" },
    target: "y",
    output: model.output,
    loss: { type: "mse" },
    epochs: 1,
    batch_size: 2,
    optimizer: { type: "sgd", lr: 0.1 },
    checkpoint_every: 1,
  };
  return quote(alice, { ...files, spec: sequenceSpec });
}

test("a symbolic dimension is priced at the size the dataset gives it, not at 1", async () => {
  const model = sequenceModel();
  const flops = async (seq: number) => {
    const res = await quoteOf(model, [seq, 8]);
    assert.equal(res.statusCode, 200, res.body);
    // Less the optimizer's 12 FLOPs per parameter, which no input size changes.
    return res.json<QuoteBody>().flops_per_step - 12 * 8 * 4;
  };
  const one = await flops(1);
  assert.equal(one, 3 * 2 * 2 * 4 * 8);
  assert.equal(await flops(64), 64 * one);
});

test("a dataset whose features do not fit the model's inputs is refused at quote time", async () => {
  const cases: Array<[number[], RegExp]> = [
    [
      [5, 7],
      /tensor 'x' of shape \[4, 5, 7\] for model input 'x' of shape \[batch, seq, 8\]: axis 2 is 7 in the tensor, 8 in the model/,
    ],
    [[40], /ranks differ \(2 and 3\)/],
    [[0, 8], /axis 1 has size 0; sizes must be 1 or more/],
  ];
  for (const [xShape, reason] of cases) {
    const error = expectApiError(await quoteOf(sequenceModel(), xShape), 400, "invalid_spec");
    assert.equal(error.param, "spec.inputs.x");
    assert.match(error.message, reason);
  }
  const int32 = expectApiError(await quoteOf(sequenceModel("int32"), [3, 8]), 400, "invalid_spec");
  assert.match(int32.message, /tensor 'x' holds float32, which does not convert to model input 'x' of int32/);
});

test("a dataset whose target the model's loss cannot take is refused at quote time by one training step", async () => {
  const model = sequenceModel();
  assert.equal((await quoteOf(model, [3, 8], [3, 4])).statusCode, 200);
  const error = expectApiError(await quoteOf(model, [3, 8], [3, 5]), 400, "model_not_trainable");
  assert.equal(error.param, "dataset");
  assert.match(
    error.message,
    /^The model does not train on this dataset: error \[DATA_MODEL_MISMATCH\] .*y: target shape \[1, 3, 5\] does not fit model output \S+ of shape \[batch, seq, 4\] with mse/s,
  );
});

test("a dataset whose values the model cannot take is refused at quote time, from what its upload recorded", async () => {
  const mlp = await fixture("mlp.onnx");
  const bytes = (array: Float32Array | BigInt64Array) => new Uint8Array(array.buffer);
  const dataset = (features: Float32Array, labels: number[]) =>
    Buffer.from(
      writeSafetensors(
        ["train", "val"].flatMap((split) => [
          { name: `x_${split}`, dtype: "F32" as const, shape: [4, 64], data: bytes(features) },
          {
            name: `y_${split}`,
            dtype: "I64" as const,
            shape: [4],
            data: bytes(BigInt64Array.from(labels, BigInt)),
          },
        ]),
      ),
    );
  const quoteWith = async (features: Float32Array, labels: number[]) =>
    quote(alice, {
      model: await uploadFile(testApp.app, alice, "model", "mlp.onnx", mlp),
      dataset: await uploadFile(testApp.app, alice, "dataset", "d.safetensors", dataset(features, labels)),
      spec: { ...spec, batch_size: 2, epochs: 1, checkpoint_every: 2 },
    });
  const clean = new Float32Array(4 * 64).fill(0.5);
  assert.equal((await quoteWith(clean, [0, 1, 2, 9])).statusCode, 200);

  const withNaN = clean.slice();
  withNaN[70] = Number.NaN;
  const error = expectApiError(await quoteWith(withNaN, [0, 1, 2, 12]), 400, "model_not_trainable");
  assert.equal(error.param, "dataset");
  assert.match(error.message, /error \[DATA_MODEL_MISMATCH\]/);
  for (const split of ["train", "val"]) {
    assert.match(
      error.message,
      new RegExp(`x_${split}: holds 1 NaN or infinite values; the data must be finite`),
    );
    assert.match(
      error.message,
      new RegExp(`y_${split}: classes run from 0 to 12, outside \\[0, 9\\] for output logits`),
    );
  }
});

test("a model whose cost depends on values known only when it runs is not priced", async () => {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", "seq", 8]);
  const limit = m.op("Cast", [m.op("ReduceMax", [x], { keepdims: 0 })], { to: 7 });
  const range = m.op("Range", [
    m.constant(tensorFromNumbers("int64", [], [0])),
    limit,
    m.constant(tensorFromNumbers("int64", [], [1])),
  ]);
  m.output(range, "int64");
  const error = expectApiError(
    await quoteOf({ bytes: m.bytes(), output: range }, [3, 8]),
    400,
    "model_not_priceable",
  );
  assert.equal(error.param, "model");
  assert.match(
    error.message,
    /Range output 0 has shape \[.*\]: dimension .* is known only when the graph runs/,
  );
});
