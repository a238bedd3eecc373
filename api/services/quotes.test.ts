import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";

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
  flops_per_step: number;
  price: { total_cents: number; audited_segments: number };
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
  assert.ok(thorough.price.audited_segments > original.price.audited_segments);

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
