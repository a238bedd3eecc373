// The product end to end, driven over HTTP the way a curl user drives it: sign up, buy credits
// through Stripe Checkout (a local stand-in, webhooks signed with the stripe package's helper),
// upload a PyTorch-exported model and a dataset, quote, create, follow the event stream to
// `succeeded`, download the model, verify the receipt offline with the SDK, and check the money:
// the balance charged the actual cost with the rest released, the escrow paid out on chain.
// Everything behind the API is real: the dev chain with block production, Postgres, Redis, and
// node daemons in their own processes (two workers and a verifier) that stake, train, commit and
// audit. The second job loses its worker mid-task: the chain re-assigns it after the commit
// deadline and the other worker resumes from the last checkpoint the first one uploaded.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type RunningApi, startApi } from "../api/server.ts";
import { type Devnet, startDevnet } from "../chain/index.ts";
import {
  type ChainConnection,
  connectChain,
  readBalance,
  readTask,
  setProtocolParameters,
  signerFromSeed,
  type TaskView,
} from "../chain-bridge/index.ts";
import { loadConfig } from "../config/env.ts";
import { createDatabase, type Database } from "../prisma/client.ts";
import type { Receipt } from "../protocol/receipt.ts";
import { verifyReceipt } from "../protocol/receipt.ts";
import { sha256Hex } from "../protocol/signed-messages.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { train } from "../worker-runtime/train/trainer.ts";
import { suiteRedisUrl } from "./support/app.ts";
import { createEmptySchema } from "./support/database.ts";
import { type StripeStandIn, startStripeStandIn } from "./support/stripe-stand-in.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const BLOCK_MS = 200;
const TOP_UP_CENTS = 10_000;

interface JobEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

interface JobJson {
  id: string;
  status: string;
  failure_reason: string | null;
  total_steps: number;
  price: { quoted_cents: number; reserved_cents: number; charged_cents: number | null };
  result: { model_sha256: string | null };
  metrics: Array<Record<string, unknown>>;
}

interface Daemon {
  seed: string;
  child: ChildProcess;
  output: string[];
}

describe("a training job from card payment to verified weights", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-e2e-"));
  const fixture = loadFixture("mlp");
  const { epochs: _epochs, ...baseSpec } = fixture.spec;
  let devnet: Devnet;
  let schema: Awaited<ReturnType<typeof createEmptySchema>>;
  let db: Database;
  let stripe: StripeStandIn;
  let api: RunningApi;
  let chain: ChainConnection;
  let authorization: string;
  const daemons: Daemon[] = [];

  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  async function upload(purpose: "model" | "dataset", bytes: Uint8Array, filename: string): Promise<string> {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([bytes]), filename);
    const response = await fetch(`${api.url}/v1/files`, {
      method: "POST",
      headers: { authorization },
      body: form,
    });
    const body = (await response.json()) as { id: string };
    assert.equal(response.status, 201, JSON.stringify(body));
    return body.id;
  }

  /** Follows the job's Server-Sent Events until its final event, calling `onEvent` for each. */
  async function follow(jobId: string, onEvent: (event: JobEvent) => void = () => undefined) {
    const response = await fetch(`${api.url}/v1/training-jobs/${jobId}/events`, {
      headers: { authorization, accept: "text/event-stream" },
      signal: AbortSignal.timeout(240_000),
    });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const events: JobEvent[] = [];
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        if (!data) continue;
        const event = JSON.parse(data.slice("data: ".length)) as JobEvent;
        events.push(event);
        onEvent(event);
      }
    }
    return events;
  }

  function startNode(role: "worker" | "verifier", seed: string): Daemon {
    const output: string[] = [];
    const child = spawn(
      process.execPath,
      [
        "bin/veritrain.mjs",
        "node",
        ...["--role", role, "--api", api.url, "--chain", devnet.wsUrl],
        ...["--data-dir", join(dataDir, seed.replace(/\W/g, ""))],
      ],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, VERITRAIN_NODE_SEED: seed },
      },
    );
    child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const daemon = { seed, child, output };
    daemons.push(daemon);
    return daemon;
  }

  const logs = () => daemons.map((d) => `--- ${d.seed}\n${d.output.join("")}`).join("\n");

  async function chainTask(jobId: string): Promise<TaskView> {
    const job = await db.task.findFirstOrThrow({ where: { jobId } });
    return (await readTask(chain.api, job.chainTaskId!))!;
  }

  async function runJob(spec: Record<string, unknown>, onEvent?: (event: JobEvent) => void) {
    const model = await upload("model", fixture.model, "mlp.onnx");
    const dataset = await upload("dataset", fixture.dataset.bytes, fixture.dataset.fileName);
    const request = { model, dataset, spec, verification: "basic" };
    const quote = await call<{ price: { total_cents: number; platform_fee_cents: number } }>(
      "POST",
      "/v1/training-jobs/quote",
      request,
    );
    const created = await call<JobJson>("POST", "/v1/training-jobs", request, {
      "idempotency-key": `e2e-${model}`,
    });
    assert.equal(created.status, "queued");
    assert.equal(created.price.reserved_cents, quote.price.total_cents);
    const events = await follow(created.id, onEvent);
    const job = await call<JobJson>("GET", `/v1/training-jobs/${created.id}`);
    assert.equal(job.status, "succeeded", `${job.failure_reason}\n${logs()}`);
    return { job, events, quote };
  }

  before(async () => {
    devnet = await startDevnet({ port: 0, blockTimeMs: BLOCK_MS });
    // Windows sized to the test's block time: a worker has 12 s to commit, a verifier 8 s to replay
    // its segment, and settling takes 2 s after the verdict window.
    await setProtocolParameters(devnet.wsUrl, "//Alice", {
      commitBlocks: 60,
      verdictBlocks: 40,
      challengeBlocks: 3,
      revealBlocks: 8,
      // Every audit is a forced error: the verifier's deliberately wrong transcript and its reveal
      // are exercised, and nothing about the worker's verdict or payment changes.
      forcedErrorPpm: 1_000_000,
    });
    chain = await connectChain(devnet.wsUrl);
    // An empty schema: the API applies the migrations itself, as it does on a fresh machine.
    schema = await createEmptySchema();
    stripe = await startStripeStandIn();
    const config = {
      ...loadConfig({}),
      ...stripe.config,
      port: 0,
      dataDir: join(dataDir, "api"),
      logLevel: "warn",
    };
    api = await startApi(
      config,
      { databaseUrl: schema.url, redisUrl: suiteRedisUrl(), chainWsUrl: devnet.wsUrl },
      { queuePrefix: `e2e-${Date.now()}`, verificationPassMs: 250 },
    );
    db = createDatabase(schema.url, 2);
  });

  after(async () => {
    for (const daemon of daemons) daemon.child.kill("SIGKILL");
    await api?.close();
    await chain?.close();
    await stripe?.close();
    await db?.$disconnect();
    await schema?.drop();
    await devnet?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("signs up and buys credits with a card", async () => {
    const signup = await fetch(`${api.url}/v1/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ml-engineer@example.com", password: "a long enough password" }),
    });
    assert.equal(signup.status, 201);
    authorization = `Bearer ${((await signup.json()) as { api_key: { secret: string } }).api_key.secret}`;
    const session = await call<{ id: string; url: string }>("POST", "/v1/billing/checkout-sessions", {
      amount_cents: TOP_UP_CENTS,
      success_url: "/portal/?checkout=success",
      cancel_url: "/portal/?checkout=cancelled",
    });
    assert.match(session.url, /^https?:\/\//);
    const { payload, headers } = stripe.sign(stripe.completedEvent(session.id));
    for (let delivery = 0; delivery < 2; delivery++) {
      const hook = await fetch(`${api.url}/v1/billing/webhook`, { method: "POST", headers, body: payload });
      assert.equal(hook.status, 200, "Stripe retries; the credit is applied once");
    }
    assert.deepEqual(await call("GET", "/v1/billing/balance"), {
      available_cents: TOP_UP_CENTS,
      reserved_cents: 0,
    });
    const nodes = [
      startNode("worker", "//Bob"),
      startNode("worker", "//Charlie"),
      startNode("verifier", "//Dave"),
    ];
    // Each node stakes on chain, then registers with the gateway.
    for (let i = 0; i < 600 && !nodes.every((n) => /registered 5\w+ as/.test(n.output.join(""))); i++) {
      await sleep(100);
    }
    assert.ok(
      nodes.every((n) => /registered 5\w+ as/.test(n.output.join(""))),
      logs(),
    );
  });

  it("trains, verifies on chain, settles, and delivers weights with a receipt that verifies offline", async () => {
    const operator = await signerFromSeed("//Alice");
    const operatorBefore = await readBalance(chain.api, operator.address);
    const spec = { ...baseSpec, max_steps: 40, checkpoint_every: 10 };
    const { job, events, quote } = await runJob(spec);
    const types = events.map((e) => e.type);
    for (const expected of [
      "job.created",
      "job.dispatched",
      "training.started",
      "checkpoint.stored",
      "training.completed",
      "verification.audits_selected",
      "verification.verdict",
      "verification.closed",
      "job.succeeded",
    ]) {
      assert.ok(types.includes(expected), `${expected} missing from ${types.join(", ")}`);
    }

    const modelResponse = await fetch(`${api.url}/v1/training-jobs/${job.id}/model`, {
      headers: { authorization },
    });
    assert.equal(modelResponse.status, 200);
    const modelBytes = new Uint8Array(await modelResponse.arrayBuffer());
    assert.equal(modelResponse.headers.get("x-content-sha256"), sha256Hex(modelBytes));
    const local = await train({ model: fixture.model, dataset: fixture.dataset, spec });
    assert.equal(
      sha256Hex(modelBytes),
      sha256Hex(local.model),
      "the network's weights are bit-identical to a local run",
    );
    // The worker reported each epoch it closed: the job keeps them, and they are the local run's
    // (all but the throughput, which is the worker's own).
    const withoutSpeed = (epochs: Array<Record<string, unknown>>) =>
      epochs.map(({ steps_per_second: _speed, ...epoch }) => epoch);
    assert.ok(local.metrics.epochs.length > 0);
    assert.deepEqual(withoutSpeed(job.metrics), withoutSpeed(local.metrics.epochs as never));
    assert.ok(types.includes("training.epoch"), `training.epoch missing from ${types.join(", ")}`);

    const receipt = await call<Receipt>("GET", `/v1/training-jobs/${job.id}/receipt`);
    const verification = verifyReceipt(receipt, modelBytes, {
      platformPublicKey: api.services.receipts.publicKeyHex,
    });
    assert.ok(verification.valid, JSON.stringify(verification.checks, null, 2));
    assert.equal(receipt.body.checkpoints.root, local.merkleRoot);
    assert.equal(receipt.body.audits.length, 1);
    assert.equal(receipt.body.chain.genesis_hash, devnet.genesisHash);
    const anchored = receipt.body.chain.anchors.map((a) => a.purpose);
    for (const purpose of ["escrow", "checkpoints_committed", "audits_selected", "verdict", "finalized"]) {
      assert.ok(anchored.includes(purpose), `anchor ${purpose} missing from ${anchored.join(", ")}`);
    }
    const tampered = { ...receipt, body: { ...receipt.body, verification_level: "thorough" } };
    assert.equal(
      verifyReceipt(tampered, modelBytes, { platformPublicKey: api.services.receipts.publicKeyHex }).valid,
      false,
    );

    // The escrow was paid out on chain: worker and verifier paid, the rest back to the treasury,
    // and nothing of it is still reserved.
    const task = await chainTask(job.id);
    assert.equal(task.status, "Finalized");
    const payout = task.payout!;
    assert.ok(
      payout.worker > 0n && payout.verifiers > 0n,
      JSON.stringify(payout, (_, v) => String(v)),
    );
    assert.equal(payout.worker + payout.verifiers + payout.jackpot + payout.refund, task.price);
    const operatorAfter = await readBalance(chain.api, operator.address);
    assert.equal(operatorAfter.reserved, operatorBefore.reserved, "no orphaned escrow");

    // The user is charged what the network was paid plus the same share of the platform fee;
    // everything else of the reservation is released.
    const escrowCents = BigInt(quote.price.total_cents - quote.price.platform_fee_cents);
    const spentPlanck = task.price - payout.refund;
    const spentCents = (escrowCents * spentPlanck + task.price - 1n) / task.price;
    const fee = BigInt(quote.price.platform_fee_cents);
    const feeCents = (fee * spentCents + escrowCents - 1n) / escrowCents;
    assert.equal(job.price.charged_cents, Number(spentCents + feeCents));
    assert.ok(job.price.charged_cents! <= job.price.reserved_cents);
    assert.deepEqual(await call("GET", "/v1/billing/balance"), {
      available_cents: TOP_UP_CENTS - job.price.charged_cents!,
      reserved_cents: 0,
    });
  });

  it("a worker killed mid-task: the chain re-assigns the task and the other worker resumes from its last checkpoint", async () => {
    const spec = { ...baseSpec, max_steps: 600, checkpoint_every: 200 };
    let killed: Daemon | undefined;
    let assignedWorker = "";
    const { job, events } = await runJob(spec, (event) => {
      if (event.type === "job.dispatched") assignedWorker = String(event.data.worker);
      if (event.type === "checkpoint.stored" && event.data.step === 200 && !killed) {
        killed = daemons.find((d) => d.output.join("").includes(assignedWorker));
        killed?.child.kill("SIGKILL");
      }
    });
    assert.ok(killed, `the assigned worker ${assignedWorker} was found and killed\n${logs()}`);
    const reassigned = events.filter((e) => e.type === "training.reassigned");
    assert.equal(reassigned.length, 1, events.map((e) => e.type).join(", "));
    const successor = String(reassigned[0]!.data.worker);
    assert.notEqual(successor, assignedWorker);
    const resumed = daemons.find((d) => d !== killed && d.output.join("").includes(successor))!;
    const stepsBeforeKill = events
      .filter((e) => e.type === "checkpoint.stored" && e.id < reassigned[0]!.id)
      .map((e) => Number(e.data.step));
    assert.match(resumed.output.join(""), new RegExp(`resuming from step ${Math.max(...stepsBeforeKill)}`));
    assert.equal(events.filter((e) => e.type === "job.succeeded").length, 1);

    const local = await train({ model: fixture.model, dataset: fixture.dataset, spec });
    const receipt = await call<Receipt>("GET", `/v1/training-jobs/${job.id}/receipt`);
    assert.equal(receipt.body.worker.address, successor);
    assert.deepEqual(
      receipt.body.checkpoints.leaves,
      local.checkpoints.map((c) => c.sha256),
    );
    const modelBytes = new Uint8Array(
      await (
        await fetch(`${api.url}/v1/training-jobs/${job.id}/model`, { headers: { authorization } })
      ).arrayBuffer(),
    );
    assert.ok(
      verifyReceipt(receipt, modelBytes, { platformPublicKey: api.services.receipts.publicKeyHex }).valid,
    );
    const task = await chainTask(job.id);
    assert.equal(task.attempt, 1, "the second attempt was paid");
    assert.equal(task.worker, successor);
    // The killed worker's stake paid for its missed deadline.
    const node = await db.chainEvent.findFirst({ where: { name: "Slashed" } });
    assert.ok(node, "the killed worker was slashed");
  });
});
