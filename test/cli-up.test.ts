// `npm start` as a new user runs it: `veritrain up` with nothing configured starts every service
// embedded, answers /v1/health, and stops cleanly on SIGTERM.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LOCAL_NODES, type LocalNode, localNodeDir } from "../cli/local-nodes.ts";
import { freePort } from "../config/embedded-services.ts";

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

test("veritrain up starts everything embedded, serves health, and exits 0 on SIGTERM", async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    VERITRAIN_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
  };
  for (const name of ["DATABASE_URL", "REDIS_URL", "CHAIN_WS_URL"]) delete env[name];
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
  for (let i = 0; i < 600 && !LOCAL_NODES.every((node) => /registered 5\w+ as/.test(nodeLog(node))); i++) {
    await sleep(100);
  }
  for (const node of LOCAL_NODES) {
    const log = nodeLog(node);
    assert.match(log, new RegExp(`registered on chain as a ${node.role}`), log);
    assert.match(log, new RegExp(`registered 5\\w+ as ${node.role}`), log);
  }

  const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  for (const node of LOCAL_NODES) assert.match(nodeLog(node), /"stopping"/, "each node was stopped");
});
