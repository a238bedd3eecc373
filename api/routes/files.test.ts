import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type SignedUp, signUp, userCalls } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type FormPart, multipartBody } from "../../test/support/uploads.ts";
import { onnx } from "../../worker-runtime/onnx/proto.ts";

const MODEL_LIMIT = 100_000;
const DATASET_LIMIT = 600_000;

let testApp: TestApp;
let dataDir: string;
let alice: SignedUp;
let bob: SignedUp;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "veritrain-files-"));
  testApp = await createTestApp({ dataDir, uploadLimits: { model: MODEL_LIMIT, dataset: DATASET_LIMIT } });
  alice = await signUp(testApp.app);
  bob = await signUp(testApp.app);
});
after(async () => {
  await testApp.close();
  await rm(dataDir, { recursive: true, force: true });
});

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function upload(user: SignedUp, parts: FormPart[], extraHeaders: Record<string, string> = {}) {
  const { payload, headers } = await multipartBody(parts);
  return testApp.app.inject({
    method: "POST",
    url: "/v1/files",
    payload,
    headers: { ...headers, ...user.headers, ...extraHeaders },
  });
}

interface FileBody {
  id: string;
  purpose: string;
  filename: string;
  bytes: number;
  sha256: string;
  details: Record<string, unknown>;
}

async function uploaded(user: SignedUp, parts: FormPart[]): Promise<FileBody> {
  const res = await upload(user, parts);
  assert.equal(res.statusCode, 201, res.body);
  return res.json<FileBody>();
}

const { get } = userCalls(() => testApp.app);

/** Every regular file under the blob store (committed blobs and staging leftovers). */
async function storedBlobs(): Promise<string[]> {
  const entries = await readdir(join(dataDir, "blobs"), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

async function fileRows(user: SignedUp): Promise<number> {
  return testApp.database.db.file.count({ where: { organizationId: user.organizationId } });
}

/** Asserts a rejected upload wrote nothing: no row for the organization, no new blob. */
async function assertNothingWritten(user: SignedUp, blobsBefore: string[], rowsBefore: number) {
  assert.equal(await fileRows(user), rowsBefore);
  assert.deepEqual((await storedBlobs()).sort(), [...blobsBefore].sort());
}

/** A small valid ONNX model: y = op_n(...op_1(x @ w)), with the given operators chained after MatMul. */
function chainModel(ops: Array<{ opType: string; name: string; domain?: string }>, opset = 17): Uint8Array {
  const TensorProto = onnx.TensorProto;
  const floatType = (dims: Array<number | string>) => ({
    tensorType: {
      elemType: TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
    },
  });
  const nodes = [{ opType: "MatMul", name: "project", input: ["x", "w"], output: ["h0"] }];
  for (const [i, op] of ops.entries()) {
    nodes.push({ ...op, input: [`h${i}`], output: [i === ops.length - 1 ? "y" : `h${i + 1}`] });
  }
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "chain",
      node: nodes,
      initializer: [
        { name: "w", dims: [3, 2], dataType: TensorProto.DataType.FLOAT, floatData: [1, 2, 3, 4, 5, 6] },
      ],
      input: [{ name: "x", type: floatType(["batch", 3]) }],
      output: [{ name: "y", type: floatType(["batch", 2]) }],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

test("an ONNX model is stored, described, listed and downloaded byte for byte", async () => {
  const bytes = await fixture("mlp.onnx");
  const file = await uploaded(alice, [
    ["purpose", "model"],
    ["file", bytes, "mlp.onnx"],
  ]);
  assert.match(file.id, /^file_/);
  assert.equal(file.purpose, "model");
  assert.equal(file.filename, "mlp.onnx");
  assert.equal(file.bytes, bytes.byteLength);
  assert.equal(file.sha256, sha256(bytes));
  assert.deepEqual(file.details.inputs, [{ name: "input", dtype: "float32", shape: ["batch", 64] }]);
  assert.deepEqual(file.details.outputs, [{ name: "logits", dtype: "float32", shape: ["batch", 10] }]);
  assert.equal(file.details.opset, 17);
  assert.equal(file.details.parameter_count, 17226);
  assert.deepEqual(file.details.operators, { Gemm: 3, Relu: 2 });
  assert.equal((file.details.parameters as unknown[]).length, 6);

  const fetched = await get(alice, `/v1/files/${file.id}`);
  assert.equal(fetched.statusCode, 200);
  assert.deepEqual(fetched.json(), file);

  const content = await get(alice, `/v1/files/${file.id}/content`);
  assert.equal(content.statusCode, 200);
  assert.deepEqual(content.rawPayload, bytes);
  assert.equal(sha256(content.rawPayload), file.sha256);
  assert.equal(content.headers.etag, `"${file.sha256}"`);
  assert.equal(content.headers["content-length"], String(bytes.byteLength));
  assert.equal(content.headers["content-type"], "application/octet-stream");
  assert.match(String(content.headers["content-disposition"]), /filename="mlp.onnx"/);

  const head = await testApp.app.inject({
    method: "HEAD",
    url: `/v1/files/${file.id}/content`,
    headers: alice.headers,
  });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers["content-length"], String(bytes.byteLength));
  assert.equal(head.headers.etag, `"${file.sha256}"`);
  assert.equal(head.rawPayload.byteLength, 0);

  for (const tags of [`"${file.sha256}"`, `"other", W/"${file.sha256}"`, "*"]) {
    const cached = await get(alice, `/v1/files/${file.id}/content`, { "if-none-match": tags });
    assert.equal(cached.statusCode, 304, tags);
    assert.equal(cached.rawPayload.byteLength, 0);
  }
  const changed = await get(alice, `/v1/files/${file.id}/content`, { "if-none-match": '"other"' });
  assert.equal(changed.statusCode, 200);
  assert.equal(changed.headers["x-content-type-options"], "nosniff");
});

test("datasets in every format are parsed: tensor names, shapes, dtypes and sample count", async () => {
  const safetensors = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", await fixture("data/digits.safetensors"), "digits.safetensors"],
  ]);
  assert.equal(safetensors.details.format, "safetensors");
  assert.deepEqual(
    (safetensors.details.tensors as Array<{ name: string }>).map((t) => t.name),
    ["x_train", "x_val", "y_train", "y_val"],
  );

  const npz = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", await fixture("data/digits_images.npz"), "digits_images.npz"],
  ]);
  assert.equal(npz.details.format, "npz");
  assert.deepEqual((npz.details.tensors as unknown[])[0], {
    name: "x_train",
    dtype: "float32",
    shape: [1440, 1, 8, 8],
    range: { min: 0, max: 1, non_finite: 0 },
  });

  const npy = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", await fixture("data/sample.npy"), "sample.npy"],
  ]);
  assert.deepEqual(npy.details, {
    format: "npy",
    tensors: [
      { name: "data", dtype: "float64", shape: [3, 4], range: { min: 0, max: 1.375, non_finite: 0 } },
    ],
    sample_count: 3,
  });

  const csvBytes = new TextEncoder().encode("x1,x2,label\n0.5,1.5,0\n2,3,1\n");
  const csv = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", csvBytes, "table.csv"],
  ]);
  assert.equal(csv.details.format, "csv");
  assert.equal(csv.details.sample_count, 2);
  const content = await get(alice, `/v1/files/${csv.id}/content`);
  assert.equal(content.headers["content-type"], "text/csv");
  assert.deepEqual(new Uint8Array(content.rawPayload), csvBytes);
});

test("the filename is kept without its path; downloads name it for any client", async () => {
  const file = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", await fixture("data/sample.npy"), "C:\\data\\données (v2)\u0007.npy"],
  ]);
  assert.equal(file.filename, "données (v2).npy");
  const content = await get(alice, `/v1/files/${file.id}/content`);
  assert.equal(
    content.headers["content-disposition"],
    `attachment; filename="donn_es (v2).npy"; filename*=UTF-8''donn%C3%A9es%20%28v2%29.npy`,
  );
});

test("the purpose may come after the file", async () => {
  const file = await uploaded(alice, [
    ["file", await fixture("data/sample.npy"), "after.npy"],
    ["purpose", "dataset"],
  ]);
  assert.equal(file.purpose, "dataset");
  assert.equal(file.filename, "after.npy");
});

test("identical content is stored once and shared by both files", async () => {
  const bytes = chainModel([{ opType: "Relu", name: "act" }]);
  const first = await uploaded(alice, [
    ["purpose", "model"],
    ["file", bytes, "one.onnx"],
  ]);
  const second = await uploaded(bob, [
    ["purpose", "model"],
    ["file", bytes, "two.onnx"],
  ]);
  assert.notEqual(first.id, second.id);
  assert.equal(first.sha256, second.sha256);
  assert.equal((await storedBlobs()).filter((name) => name === first.sha256).length, 1);
});

test("a retried upload with the same Idempotency-Key replays the first response", async () => {
  const rows = await fileRows(alice);
  const parts: FormPart[] = [
    ["purpose", "dataset"],
    ["file", await fixture("data/sample.npy"), "retried.npy"],
  ];
  const first = await upload(alice, parts, { "idempotency-key": "upload-retried-npy" });
  assert.equal(first.statusCode, 201, first.body);
  const retry = await upload(alice, parts, { "idempotency-key": "upload-retried-npy" });
  assert.equal(retry.statusCode, 201);
  assert.equal(retry.headers["idempotent-replayed"], "true");
  assert.deepEqual(retry.json(), first.json());
  assert.equal(await fileRows(alice), rows + 1);
  const tooLong = await upload(alice, parts, { "idempotency-key": "k".repeat(256) });
  assert.equal(expectApiError(tooLong, 400, "parameter_invalid").param, "idempotency-key");
  assert.equal(await fileRows(alice), rows + 1);
});

test("an oversize upload answers 413 file_too_large and writes nothing", async () => {
  const blobs = await storedBlobs();
  const rows = await fileRows(alice);
  const big = new Uint8Array(MODEL_LIMIT + 1);
  const purposeFirst = await upload(alice, [
    ["purpose", "model"],
    ["file", big, "big.onnx"],
  ]);
  const error = expectApiError(purposeFirst, 413, "file_too_large");
  assert.match(error.message, new RegExp(`${MODEL_LIMIT} bytes accepted for a model`));
  // Purpose last: streamed under the largest limit, then refused by the model limit.
  expectApiError(
    await upload(alice, [
      ["file", big, "big.onnx"],
      ["purpose", "model"],
    ]),
    413,
    "file_too_large",
  );
  expectApiError(
    await upload(alice, [
      ["purpose", "dataset"],
      ["file", new Uint8Array(DATASET_LIMIT + 1), "big.npy"],
    ]),
    413,
    "file_too_large",
  );
  await assertNothingWritten(alice, blobs, rows);
});

test("a file that is not an ONNX model answers 422 invalid_model with the parser's reason", async () => {
  const blobs = await storedBlobs();
  const rows = await fileRows(alice);
  const garbage = await upload(alice, [
    ["purpose", "model"],
    ["file", new Uint8Array([1, 2, 3, 4, 5]), "broken.onnx"],
  ]);
  const error = expectApiError(garbage, 422, "invalid_model");
  assert.match(error.message, /not an ONNX ModelProto/);
  assert.equal(error.param, "file");

  const dataset = await upload(alice, [
    ["purpose", "model"],
    ["file", await fixture("data/sample.npy"), "sample.onnx"],
  ]);
  expectApiError(dataset, 422, "invalid_model");
  const oldOpset = await upload(alice, [
    ["purpose", "model"],
    ["file", chainModel([{ opType: "Relu", name: "act" }], 11), "old.onnx"],
  ]);
  assert.match(expectApiError(oldOpset, 422, "invalid_model").message, /opset 11 is not supported/);
  await assertNothingWritten(alice, blobs, rows);
});

test("unsupported operators answer 422 listing every operator with its nodes", async () => {
  const blobs = await storedBlobs();
  const rows = await fileRows(alice);
  const bytes = chainModel([
    { opType: "Det", name: "det_a" },
    { opType: "Relu", name: "act" },
    { opType: "Det", name: "det_b" },
    { opType: "Scramble", name: "custom", domain: "com.example" },
  ]);
  const res = await upload(alice, [
    ["purpose", "model"],
    ["file", bytes, "exotic.onnx"],
  ]);
  assert.equal(res.statusCode, 422, res.body);
  const { error } = res.json<{
    error: {
      code: string;
      message: string;
      unsupported_operators: Array<{ op_type: string; nodes: string[] }>;
    };
  }>();
  assert.equal(error.code, "unsupported_operators");
  assert.match(error.message, /Det \(nodes: det_a, det_b\)/);
  assert.match(error.message, /com\.example\.Scramble \(nodes: custom\)/);
  assert.doesNotMatch(error.message, /Relu/);
  assert.deepEqual(error.unsupported_operators, [
    { op_type: "Det", nodes: ["det_a", "det_b"] },
    { op_type: "com.example.Scramble", nodes: ["custom"] },
  ]);
  await assertNothingWritten(alice, blobs, rows);
});

test("a malformed dataset answers 422 invalid_dataset with the reader's reason and writes nothing", async () => {
  const blobs = await storedBlobs();
  const rows = await fileRows(alice);
  const safetensors = await fixture("data/digits.safetensors");
  const cases: Array<[Uint8Array, string, RegExp]> = [
    [safetensors.subarray(0, 2000), "cut.safetensors", /not valid safetensors/],
    [new TextEncoder().encode("a,b\n1,oops\n"), "bad.csv", /line 2, column "b"/],
    [new Uint8Array([0, 1, 2, 3]), "mystery.bin", /no recognized format/],
  ];
  for (const [bytes, name, reason] of cases) {
    const res = await upload(alice, [
      ["purpose", "dataset"],
      ["file", bytes, name],
    ]);
    assert.match(expectApiError(res, 422, "invalid_dataset").message, reason);
  }
  await assertNothingWritten(alice, blobs, rows);
});

test("a malformed form answers 400 naming the field, and writes nothing", async () => {
  const blobs = await storedBlobs();
  const rows = await fileRows(alice);
  const npy = await fixture("data/sample.npy");
  const missingPurpose = expectApiError(
    await upload(alice, [["file", npy, "a.npy"]]),
    400,
    "parameter_invalid",
  );
  assert.equal(missingPurpose.param, "purpose");
  const missingFile = expectApiError(await upload(alice, [["purpose", "dataset"]]), 400, "parameter_invalid");
  assert.equal(missingFile.param, "file");
  const wrongPurpose = expectApiError(
    await upload(alice, [
      ["purpose", "weights"],
      ["file", npy, "a.npy"],
    ]),
    400,
    "parameter_invalid",
  );
  assert.equal(wrongPurpose.param, "purpose");
  assert.match(wrongPurpose.message, /must be one of "model", "dataset"/);
  const lateWrongPurpose = await upload(alice, [
    ["file", npy, "a.npy"],
    ["purpose", "weights"],
  ]);
  assert.equal(expectApiError(lateWrongPurpose, 400, "parameter_invalid").param, "purpose");
  const fileAsText = expectApiError(
    await upload(alice, [
      ["purpose", "dataset"],
      ["file", "a,b\n1,2\n"],
    ]),
    400,
    "parameter_invalid",
  );
  assert.match(fileAsText.message, /must be a file part/);
  const unknownField = expectApiError(
    await upload(alice, [
      ["purpose", "dataset"],
      ["colour", "blue"],
      ["file", npy, "a.npy"],
    ]),
    400,
    "parameter_invalid",
  );
  assert.equal(unknownField.param, "colour");
  expectApiError(
    await upload(alice, [
      ["purpose", "dataset"],
      ["file", npy, "a.npy"],
      ["file", npy, "b.npy"],
    ]),
    400,
    "parameter_invalid",
  );
  const { payload, headers } = await multipartBody([
    ["purpose", "dataset"],
    ["file", npy, "a.npy"],
  ]);
  const brokenBodies: Array<[string, Buffer]> = [
    ["multipart/form-data", payload],
    [headers["content-type"]!, payload.subarray(0, payload.byteLength - 30)],
    [headers["content-type"]!, Buffer.from("not a multipart body at all")],
  ];
  for (const [contentType, body] of brokenBodies) {
    const res = await testApp.app.inject({
      method: "POST",
      url: "/v1/files",
      payload: body,
      headers: { "content-type": contentType, ...alice.headers },
    });
    expectApiError(res, 400, "malformed_multipart");
  }
  const json = await testApp.app.inject({
    method: "POST",
    url: "/v1/files",
    headers: alice.headers,
    payload: { purpose: "model" },
  });
  expectApiError(json, 415, "unsupported_media_type");
  await assertNothingWritten(alice, blobs, rows);
});

test("another organization's file answers 404 everywhere and is not listed", async () => {
  const file = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", new TextEncoder().encode("private,data\n1,2\n"), "secret.csv"],
  ]);
  for (const url of [`/v1/files/${file.id}`, `/v1/files/${file.id}/content`]) {
    const error = expectApiError(await get(bob, url), 404, "resource_missing");
    assert.equal(error.param, "id");
  }
  const head = await testApp.app.inject({
    method: "HEAD",
    url: `/v1/files/${file.id}/content`,
    headers: bob.headers,
  });
  assert.equal(head.statusCode, 404);
  expectApiError(
    await testApp.app.inject({ method: "DELETE", url: `/v1/files/${file.id}`, headers: bob.headers }),
    404,
    "resource_missing",
  );
  const list = (await get(bob, "/v1/files?limit=100")).json<{ data: FileBody[] }>();
  assert.ok(!list.data.some((f) => f.id === file.id));
  assert.equal(
    (await get(alice, `/v1/files/${file.id}`)).statusCode,
    200,
    "the delete attempt changed nothing",
  );
  expectApiError(await get(alice, "/v1/files/file_doesnotexist"), 404, "resource_missing");
  expectApiError(await get(alice, "/v1/files/..%2F..%2Fetc/content"), 404, "resource_missing");
});

test("a deleted file leaves the API while its content stays for the jobs that use it", async () => {
  const bytes = await fixture("data/sample.npy");
  const file = await uploaded(alice, [
    ["purpose", "dataset"],
    ["file", bytes, "doomed.npy"],
  ]);
  const deleted = await testApp.app.inject({
    method: "DELETE",
    url: `/v1/files/${file.id}`,
    headers: alice.headers,
  });
  assert.equal(deleted.statusCode, 200);
  const body = deleted.json<FileBody & { deleted_at: string }>();
  assert.equal(body.id, file.id);
  assert.ok(!Number.isNaN(Date.parse(body.deleted_at)));
  expectApiError(await get(alice, `/v1/files/${file.id}`), 404, "resource_missing");
  expectApiError(await get(alice, `/v1/files/${file.id}/content`), 404, "resource_missing");
  expectApiError(
    await testApp.app.inject({ method: "DELETE", url: `/v1/files/${file.id}`, headers: alice.headers }),
    404,
    "resource_missing",
  );
  const list = (await get(alice, "/v1/files?limit=100")).json<{ data: FileBody[] }>();
  assert.ok(!list.data.some((f) => f.id === file.id));
  assert.equal(await testApp.services.files.blobs.has(file.sha256), true);
});

test("lists are newest first, paginated with limit and after, filtered by purpose", async () => {
  const carol = await signUp(testApp.app);
  const ids: string[] = [];
  for (const purpose of ["model", "dataset", "model"] as const) {
    const content =
      purpose === "model" ? chainModel([{ opType: "Relu", name: "r" }]) : await fixture("data/sample.npy");
    ids.push(
      (
        await uploaded(carol, [
          ["purpose", purpose],
          ["file", content, `${purpose}.bin`],
        ])
      ).id,
    );
  }
  const page1 = (await get(carol, "/v1/files?limit=2")).json<{ data: FileBody[]; has_more: boolean }>();
  assert.deepEqual(
    page1.data.map((f) => f.id),
    [ids[2], ids[1]],
  );
  assert.equal(page1.has_more, true);
  const page2 = (await get(carol, `/v1/files?limit=2&after=${ids[1]}`)).json<{
    data: FileBody[];
    has_more: boolean;
  }>();
  assert.deepEqual(
    page2.data.map((f) => f.id),
    [ids[0]],
  );
  assert.equal(page2.has_more, false);
  const models = (await get(carol, "/v1/files?purpose=model")).json<{ data: FileBody[] }>();
  assert.deepEqual(
    models.data.map((f) => f.id),
    [ids[2], ids[0]],
  );
  expectApiError(await get(carol, "/v1/files?purpose=weights"), 400, "parameter_invalid");
  expectApiError(await get(carol, "/v1/files?limit=0"), 400, "parameter_invalid");
  expectApiError(await get(carol, "/v1/files?limit=abc"), 400, "parameter_invalid");
});

test("over a real socket, an upload streams in and an endless one is cut off at the limit", async () => {
  const base = await testApp.app.listen({ port: 0, host: "127.0.0.1" });
  const bytes = await fixture("cnn.onnx");
  const form = new FormData();
  form.append("purpose", "model");
  form.append("file", new Blob([bytes]), "cnn.onnx");
  const created = await fetch(`${base}/v1/files`, { method: "POST", body: form, headers: alice.headers });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as FileBody;
  const download = await fetch(`${base}/v1/files/${id}/content`, { headers: alice.headers });
  assert.deepEqual(new Uint8Array(await download.arrayBuffer()), new Uint8Array(bytes));

  // A body with no announced length that never ends: the answer must come without its end.
  const boundary = "----veritrain-endless";
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${base}/v1/files`, {
      method: "POST",
      headers: { ...alice.headers, "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    const timer = setTimeout(() => reject(new Error("no answer before the body ended")), 10_000);
    req.on("error", reject);
    req.on("response", (res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nmodel\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="endless.onnx"\r\n` +
        "Content-Type: application/octet-stream\r\n\r\n",
    );
    req.write(Buffer.alloc(3 * MODEL_LIMIT, 1));
  });
  assert.equal(status, 413);
});

test("every files route needs authentication", async () => {
  const { payload, headers } = await multipartBody([["purpose", "model"]]);
  for (const [method, url] of [
    ["GET", "/v1/files"],
    ["GET", "/v1/files/file_x"],
    ["GET", "/v1/files/file_x/content"],
    ["DELETE", "/v1/files/file_x"],
  ] as const) {
    expectApiError(await testApp.app.inject({ method, url }), 401, "missing_credentials");
  }
  expectApiError(
    await testApp.app.inject({ method: "POST", url: "/v1/files", payload, headers }),
    401,
    "missing_credentials",
  );
});
