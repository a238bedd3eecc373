// The nodes `veritrain up` runs beside the dev chain so that a job submitted to a fresh stack is
// trained and verified: one worker and two verifiers, each a `veritrain node` process of its own
// (training must not share the API's event loop), staking from a funded dev account. Two
// verifiers because the chain gives each audit of a task to a different verifier: with one, a
// colluding verifier would see every audit, and a task could never get more than one. Their
// output goes to log files in the data directory, one directory per node.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../bin/veritrain.mjs", import.meta.url));
// A node finishes its current step and gives its lease back on SIGTERM; past this it is killed.
const STOP_GRACE_MS = 15_000;

export interface LocalNode {
  role: "worker" | "verifier";
  seed: string;
}

export const LOCAL_NODES: readonly LocalNode[] = [
  { role: "worker", seed: "//Bob" },
  { role: "verifier", seed: "//Charlie" },
  { role: "verifier", seed: "//Dave" },
];

/** The node's directory under `nodes/`: its role and account, e.g. "verifier-charlie". */
export function localNodeDir({ role, seed }: LocalNode): string {
  return `${role}-${seed.replace("//", "").toLowerCase()}`;
}

export interface LocalNodes {
  /** One line per node: its role, account and log file. */
  started: string[];
  stop(): Promise<void>;
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export function startLocalNodes(apiUrl: string, chainWsUrl: string, dataDir: string): LocalNodes {
  const children = LOCAL_NODES.map((node) => {
    const { role, seed } = node;
    const dir = join(dataDir, "nodes", localNodeDir(node));
    mkdirSync(dir, { recursive: true });
    const log = join(dir, "node.log");
    const out = openSync(log, "a");
    const child = spawn(
      process.execPath,
      [ENTRY, "node", "--role", role, "--api", apiUrl, "--chain", chainWsUrl, "--data-dir", dir],
      { stdio: ["ignore", out, out], env: { ...process.env, VERITRAIN_NODE_SEED: seed } },
    );
    return { child, line: `${role} node ${seed} (log: ${log})` };
  });
  return {
    started: children.map((c) => c.line),
    stop: async () => {
      await Promise.all(children.map(({ child }) => stopped(child)));
    },
  };
}
