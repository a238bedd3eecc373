// The nodes `veritrain up` runs beside the dev chain so that a job submitted to a fresh stack is
// trained and verified: one worker and two verifiers, each a `veritrain node` process of its own
// (training must not share the API's event loop), staking from a funded dev account. Two
// verifiers because the chain gives each audit of a task to a different verifier: with one, a
// colluding verifier would see every audit, and a task could never get more than one. Their
// output goes to log files in the data directory, one directory per node. `up --fault ROLE:MODE`
// adds one node that misbehaves on purpose (worker-runtime/node/faults.ts), staking as //Eve.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NodeRole } from "../protocol/node-wire.ts";
import { NodeError } from "../worker-runtime/node/errors.ts";
import { faultFor } from "../worker-runtime/node/faults.ts";

const ENTRY = fileURLToPath(new URL("../bin/veritrain.mjs", import.meta.url));
// A node finishes its current step and gives its lease back on SIGTERM; past this it is killed.
const STOP_GRACE_MS = 15_000;

export interface LocalNode {
  role: "worker" | "verifier";
  seed: string;
  /** A fault mode the node injects on purpose (`up --fault`). */
  fault?: string;
}

export const LOCAL_NODES: readonly LocalNode[] = [
  { role: "worker", seed: "//Bob" },
  { role: "verifier", seed: "//Charlie" },
  { role: "verifier", seed: "//Dave" },
];

const FAULTY_NODE_SEED = "//Eve";
const FAULTY_ROLES: readonly LocalNode["role"][] = ["worker", "verifier"];

/**
 * The faulty node `up --fault ROLE:MODE` adds, refused (FAULTS_REFUSED) exactly as `node --fault`
 * refuses it: unless VERITRAIN_ALLOW_FAULTS=1, always in production, for an unknown mode or one
 * of another role.
 */
export function faultyLocalNode(option: string, env: NodeJS.ProcessEnv = process.env): LocalNode {
  const [role, mode, ...rest] = option.split(":");
  if (!FAULTY_ROLES.includes(role as LocalNode["role"]) || !mode || rest.length > 0) {
    throw new NodeError(
      "FAULTS_REFUSED",
      `--fault takes ROLE:MODE with ROLE worker or verifier (e.g. worker:skip-steps), got "${option}"`,
    );
  }
  faultFor(mode, role as NodeRole, env);
  return { role: role as LocalNode["role"], seed: FAULTY_NODE_SEED, fault: mode };
}

/** The node's directory under `nodes/`: its role and account, e.g. "verifier-charlie". */
export function localNodeDir({ role, seed, fault }: LocalNode): string {
  return `${role}-${seed.replace("//", "").toLowerCase()}${fault ? `-${fault}` : ""}`;
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

export function startLocalNodes(
  apiUrl: string,
  chainWsUrl: string,
  dataDir: string,
  faulty: LocalNode | null = null,
): LocalNodes {
  const children = [...LOCAL_NODES, ...(faulty ? [faulty] : [])].map((node) => {
    const { role, seed, fault } = node;
    const dir = join(dataDir, "nodes", localNodeDir(node));
    mkdirSync(dir, { recursive: true });
    const log = join(dir, "node.log");
    const out = openSync(log, "a");
    const child = spawn(
      process.execPath,
      [
        ...[ENTRY, "node", "--role", role, "--api", apiUrl, "--chain", chainWsUrl, "--data-dir", dir],
        ...(fault ? ["--fault", fault] : []),
      ],
      { stdio: ["ignore", out, out], env: { ...process.env, VERITRAIN_NODE_SEED: seed } },
    );
    return { child, line: `${role} node ${seed}${fault ? ` with fault ${fault}` : ""} (log: ${log})` };
  });
  return {
    started: children.map((c) => c.line),
    stop: async () => {
      await Promise.all(children.map(({ child }) => stopped(child)));
    },
  };
}
