// `npm start` as a new user runs it: `veritrain up` with nothing configured starts every service
// embedded, answers /v1/health, and stops cleanly on SIGTERM. In between, the newcomer's next
// steps train on it with no Stripe account: `veritrain demo --json`, and the README's curl session
// run as written, both at once (the worker trains one while the other is being verified).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_LOCAL_NODES, type LocalNode, localNodeDir, localNodes } from "../cli/local-nodes.ts";
import { freePort } from "../config/embedded-services.ts";
import { type Receipt, verifyReceipt } from "../protocol/receipt.ts";
import { sha256Hex } from "../protocol/signed-messages.ts";

const root = new URL("..", import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), "veritrain-up-"));
let child: ChildProcess | undefined;

// A failed assertion leaves `up` running: stop it the way a user would, so it stops its nodes and
// redis-server too (a SIGKILL would orphan them), and only force it if that does not work.
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(30_000)]);
    child.kill("SIGKILL");
  }
  rmSync(dataDir, { recursive: true, force: true });
});

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd: string; input?: string }): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.VERITRAIN_API_KEY;
    const spawned = spawn(command, args, { cwd: options.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    spawned.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    spawned.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    spawned.on("error", reject);
    spawned.on("exit", (code) => resolve({ code, stdout, stderr }));
    spawned.stdin.end(options.input ?? "");
  });
}

/** The README's "Train a model with curl" block, pointed at this stack's port. */
function readmeCurlSession(port: number): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.indexOf("## Train a model with curl");
  const start = readme.indexOf("```sh\n", section) + "```sh\n".length;
  const block = readme.slice(start, readme.indexOf("```", start));
  assert.match(block, /^API=http:\/\/localhost:8080$/m);
  return block.replace(/^API=http:\/\/localhost:8080$/m, `API=http://localhost:${port}`);
}

function waitForOutput(process: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${seen}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    process.stdout?.on("data", onData);
    process.stderr?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
    });
    process.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; output:\n${seen}`));
    });
  });
}

test("veritrain up starts everything embedded, trains a newcomer's first jobs with no Stripe account, and exits 0 on SIGTERM", async (t) => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    VERITRAIN_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
  };
  const unset = [
    "DATABASE_URL",
    "REDIS_URL",
    "CHAIN_WS_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "NODE_ENV",
  ];
  for (const name of unset) delete env[name];
  child = spawn(process.execPath, ["bin/veritrain.mjs", "up"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const banner = await waitForOutput(child, /Press Ctrl\+C to stop/, 120_000);
  assert.match(banner, /embedded Postgres/);
  assert.match(banner, /redis-server at/);
  assert.match(banner, /embedded dev chain at/);
  assert.match(banner, /worker node \/\/Bob/);
  assert.match(banner, /verifier node \/\/Charlie/);
  assert.match(banner, /verifier node \/\/Dave/);
  assert.match(banner, /Portal +http:\/\/localhost:\d+\/portal\//);

  const res = await fetch(`http://127.0.0.1:${port}/v1/health`);
  const body = (await res.json()) as { status: string; components: Record<string, { status: string }> };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.deepEqual(Object.fromEntries(Object.entries(body.components).map(([name, c]) => [name, c.status])), {
    database: "up",
    redis: "up",
    chain: "up",
  });

  // Every node stakes from its dev account and registers with the gateway.
  const nodeLog = (node: LocalNode) => {
    const file = join(dataDir, "nodes", localNodeDir(node), "node.log");
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  };
  for (
    let i = 0;
    i < 600 && !localNodes(DEFAULT_LOCAL_NODES).every((node) => /registered 5\w+ as/.test(nodeLog(node)));
    i++
  ) {
    await sleep(100);
  }
  for (const node of localNodes(DEFAULT_LOCAL_NODES)) {
    const log = nodeLog(node);
    assert.match(log, new RegExp(`registered on chain as a ${node.role}`), log);
    assert.match(log, new RegExp(`registered 5\\w+ as ${node.role}`), log);
  }

  // The README's session writes trained.onnx and receipt.json where it runs, beside the fixtures.
  const curlDir = join(dataDir, "readme");
  mkdirSync(curlDir);
  symlinkSync(join(root, "worker-runtime"), join(curlDir, "worker-runtime"));
  const haveJq = spawnSync("jq", ["--version"]).status === 0;
  if (!haveJq) t.diagnostic("jq is not installed: the README's curl session is not run");
  const api = `http://localhost:${port}`;
  const [demo, curl] = await Promise.all([
    run(
      process.execPath,
      [
        "bin/veritrain.mjs",
        "demo",
        "--json",
        "--api",
        api,
        "--out",
        join(dataDir, "demo"),
        "--timeout",
        "400",
      ],
      { cwd: root },
    ),
    haveJq ? run("bash", ["-euo", "pipefail"], { cwd: curlDir, input: readmeCurlSession(port) }) : undefined,
  ]);

  assert.equal(demo.code, 0, `${demo.stderr}\n${demo.stdout}`);
  const result = JSON.parse(demo.stdout) as Record<string, unknown> & {
    checks: Array<{ ok: boolean }>;
    audits: unknown[];
    chain: { anchors: Array<{ purpose: string }> };
  };
  assert.equal(result.status, "succeeded");
  assert.equal(result.receipt_valid, true);
  assert.equal(result.credits_bought_cents, 500, "bought on the local test checkout");
  assert.ok(Number(result.charged_cents) > 0 && Number(result.charged_cents) <= Number(result.quoted_cents));
  assert.match(String(result.job_id), /^job_/);
  assert.ok(result.checks.length > 0 && result.checks.every((c) => c.ok));
  assert.ok(result.audits.length > 0);
  assert.ok(result.chain.anchors.some((a) => a.purpose === "finalized"));
  assert.equal(sha256Hex(readFileSync(String(result.model_path))), result.model_sha256);

  if (curl) {
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /event: job\.succeeded/);
    const receipt = JSON.parse(readFileSync(join(curlDir, "receipt.json"), "utf8")) as Receipt;
    const keys = (await (await fetch(`${api}/v1/receipt-keys`)).json()) as {
      data: Array<{ public_key: string }>;
    };
    const verification = verifyReceipt(receipt, readFileSync(join(curlDir, "trained.onnx")), {
      platformPublicKey: keys.data[0]!.public_key,
    });
    assert.ok(verification.valid, JSON.stringify(verification.checks));
  }

  const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  for (const node of localNodes(DEFAULT_LOCAL_NODES))
    assert.match(nodeLog(node), /"stopping"/, "each node was stopped");
});
