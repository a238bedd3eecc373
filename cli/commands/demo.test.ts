// `veritrain demo`'s failures: each exits non-zero with a code, and `--json` still prints its one
// object. Its success against a whole stack is in test/cli-up.test.ts, which runs it on `up`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { freePort } from "../../config/embedded-services.ts";
import { createTestApp } from "../../test/support/app.ts";
import { startStripeStandIn } from "../../test/support/stripe-stand-in.ts";

const root = new URL("../..", import.meta.url).pathname;

interface DemoOutcome {
  code: number;
  result: {
    status: string;
    job_id: string | null;
    receipt_valid: boolean;
    error?: { code: string; message: string };
  };
  stderr: string;
}

async function demo(api: string): Promise<DemoOutcome> {
  const env = { ...process.env };
  delete env.VERITRAIN_API_KEY;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["bin/veritrain.mjs", "demo", "--json", "--api", api],
      { cwd: root, env },
    );
    return { code: 0, result: JSON.parse(stdout), stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, result: JSON.parse(failed.stdout), stderr: failed.stderr };
  }
}

test("an API that does not answer fails the demo with a connection error", async () => {
  const { code, result, stderr } = await demo(`http://127.0.0.1:${await freePort()}`);
  assert.equal(code, 1);
  assert.equal(result.status, "error");
  assert.equal(result.receipt_valid, false);
  assert.equal(result.error?.code, "connection_failed");
  assert.match(stderr, /^error \[connection_failed\]/);
});

test("against an API taking card payments through Stripe, the demo stops before creating a job and says where to pay", async () => {
  const stripe = await startStripeStandIn();
  const withStripe = await createTestApp(stripe.config);
  try {
    const { code, result } = await demo(await withStripe.app.listen({ port: 0, host: "127.0.0.1" }));
    assert.equal(code, 1);
    assert.equal(result.error?.code, "PAYMENT_REQUIRED");
    assert.match(result.error!.message, /https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
    assert.equal(result.job_id, null);
  } finally {
    await withStripe.close();
    await stripe.close();
  }
});
