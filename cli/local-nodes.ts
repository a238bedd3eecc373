// The nodes `veritrain up` runs beside the dev chain so that a job submitted to a fresh stack is
// trained and verified: by default two workers and two verifiers, each a `veritrain node` process
// of its own (training must not share the API's event loop), staking from a funded dev account
// for several duties at once, so the stack shows parallel work. At least two verifiers because the
// chain gives each audit of a task to a different verifier: with one, a colluding verifier would
// see every audit, and a task could never get more than one. Their output goes to log files in the
// data directory, one directory per node. `up --fault ROLE:MODE` adds one node that misbehaves
// on purpose (worker-runtime/node/faults.ts), on the spare account //Ferdie. A whistleblower
// re-checking half the verdicts (its default share) always runs beside them: on the spare account
// when it is free, otherwise on a derived account (//Ferdie//whistleblower) that the stack funds
// from the operator's account at start-up, so a faulty verifier meets a whistleblower too.
// A referee process (`veritrain referee`, with the dev chain's governance key, the operator's)
// rules on the pinpoint game's disputes from the evidence the nodes upload to the gateway, so a
// disputed job ends.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fundAccounts, PLANCK_PER_VT } from "../chain-bridge/index.ts";
import { ConfigError } from "../config/errors.ts";
import type { NodeRole } from "../protocol/node-wire.ts";
import { NodeError } from "../worker-runtime/node/errors.ts";
import { faultFor } from "../worker-runtime/node/faults.ts";

const ENTRY = fileURLToPath(new URL("../bin/veritrain.mjs", import.meta.url));
// A node finishes its current step and gives its lease back on SIGTERM; past this it is killed.
const STOP_GRACE_MS = 15_000;

export interface LocalNode {
  role: NodeRole;
  seed: string;
  /** A fault mode the node injects on purpose (`up --fault`). */
  fault?: string;
  /** Not endowed at genesis: the stack funds it (fundLocalNodes) before it starts. */
  needsFunds?: boolean;
}

export interface LocalNodeCounts {
  workers: number;
  verifiers: number;
}

export const DEFAULT_LOCAL_NODES: LocalNodeCounts = { workers: 2, verifiers: 2 };

/** Tasks or audits each local node's bond backs at once (it bonds this many minimum stakes). */
export const LOCAL_NODE_DUTIES = 8;

// The dev accounts funded at genesis, //Alice being the operator: each role has its own, so a
// node keeps its account when the other role's count changes, and //Ferdie is the one spare.
const DEV_SEEDS = { worker: ["//Bob", "//Eve"], verifier: ["//Charlie", "//Dave"] } as const;
const SPARE_SEEDS = ["//Ferdie"];
/** The whistleblower's account when the spare is taken: derived from it, funded at start-up. */
export const DERIVED_WHISTLEBLOWER_SEED = "//Ferdie//whistleblower";
/** What a derived account is funded with: a whistleblower's stake for its duties, challenge bonds and fees. */
export const LOCAL_NODE_FUNDS = 20_000n * PLANCK_PER_VT;

/**
 * The nodes to run: `workers` workers and `verifiers` verifiers, each on a dev account of its own,
 * the faulty node when there is one (on the spare account, which the honest ones then cannot use),
 * and a whistleblower, on the spare account if left, otherwise on the derived one.
 */
export function localNodes({ workers, verifiers }: LocalNodeCounts, faulty?: LocalNode): LocalNode[] {
  const spare = SPARE_SEEDS.filter((seed) => seed !== faulty?.seed);
  const take = (role: "worker" | "verifier", count: number): LocalNode[] =>
    Array.from({ length: count }, (_, i) => ({ role, seed: DEV_SEEDS[role][i] ?? spare.shift() ?? "" }));
  const nodes = [...take("worker", workers), ...take("verifier", verifiers), ...(faulty ? [faulty] : [])];
  const left = spare.shift();
  nodes.push(
    left
      ? { role: "whistleblower", seed: left }
      : { role: "whistleblower", seed: DERIVED_WHISTLEBLOWER_SEED, needsFunds: true },
  );
  if (workers < 1 || verifiers < 1 || nodes.some((node) => node.seed === "")) {
    throw new ConfigError(
      "INVALID_LIMIT",
      `the local stack runs 1 to 5 nodes in all (a faulty one included), at least one worker and one verifier (the dev chain funds five node accounts); got ${workers} workers and ${verifiers} verifiers${faulty ? " and a faulty node" : ""}`,
    );
  }
  return nodes;
}

const FAULTY_NODE_SEED = "//Ferdie";
const FAULTY_ROLES: readonly NodeRole[] = ["worker", "verifier"];

/**
 * The faulty node `up --fault ROLE:MODE` adds, refused (FAULTS_REFUSED) exactly as `node --fault`
 * refuses it: unless VERITRAIN_ALLOW_FAULTS=1, always in production, for an unknown mode or one
 * of another role.
 */
export function faultyLocalNode(option: string, env: NodeJS.ProcessEnv = process.env): LocalNode {
  const [role, mode, ...rest] = option.split(":");
  if (!FAULTY_ROLES.includes(role as NodeRole) || !mode || rest.length > 0) {
    throw new NodeError(
      "FAULTS_REFUSED",
      `--fault takes ROLE:MODE with ROLE worker or verifier (e.g. worker:skip-steps), got "${option}"`,
    );
  }
  faultFor(mode, role as NodeRole, env);
  return { role: role as NodeRole, seed: FAULTY_NODE_SEED, fault: mode };
}

/** The node's directory under `nodes/`: its role and account, e.g. "verifier-charlie". */
export function localNodeDir({ role, seed, fault }: LocalNode): string {
  return `${role}-${seed.replace(/^\/\//, "").replaceAll("//", "-").toLowerCase()}${fault ? `-${fault}` : ""}`;
}

/** Funds the nodes not endowed at genesis from the operator's account (`fromSeed`), before they stake. */
export function fundLocalNodes(
  chainWsUrl: string,
  fromSeed: string,
  nodes: readonly LocalNode[],
): Promise<void> {
  const seeds = nodes.filter((node) => node.needsFunds).map((node) => node.seed);
  return fundAccounts(chainWsUrl, fromSeed, seeds, LOCAL_NODE_FUNDS);
}

export interface LocalNodes {
  /** One line per node: its role, account and log file. */
  started: string[];
  /** Each node's process, for whoever measures what the nodes spend (bench/system.ts). */
  processes: Array<{ role: LocalNode["role"]; pid: number }>;
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

/**
 * The arguments of `veritrain referee` ruling on the disputes of the nodes whose data directories
 * are `nodeDirs`: it reads the evidence they uploaded to the gateway at `apiUrl` (with the
 * operator's key) and the task inputs each keeps.
 */
export function refereeArgs(chainWsUrl: string, apiUrl: string, nodeDirs: readonly string[]): string[] {
  return ["referee", ...["--chain", chainWsUrl, "--api", apiUrl], ...["--inputs-dir", ...nodeDirs]];
}

/** The line `veritrain referee` logs once it watches the chain. */
export const REFEREE_READY = /watching for disputes/;

export function startLocalNodes(
  nodes: readonly LocalNode[],
  apiUrl: string,
  chainWsUrl: string,
  dataDir: string,
  /** The chain's governance (sudo) key, which the referee rules with: the operator's on the dev chain. */
  refereeSeed: string,
): LocalNodes {
  const dirOf = (node: LocalNode) => join(dataDir, "nodes", localNodeDir(node));
  const logged = (dir: string, name: string) => {
    mkdirSync(dir, { recursive: true });
    const log = join(dir, name);
    return { log, out: openSync(log, "a") };
  };
  const children = nodes.map((node) => {
    const { role, seed, fault } = node;
    const dir = dirOf(node);
    const { log, out } = logged(dir, "node.log");
    const child = spawn(
      process.execPath,
      [
        ENTRY,
        "node",
        ...["--role", role, "--api", apiUrl, "--chain", chainWsUrl, "--data-dir", dir],
        ...["--duties", String(LOCAL_NODE_DUTIES)],
        ...(fault ? ["--fault", fault] : []),
      ],
      { stdio: ["ignore", out, out], env: { ...process.env, VERITRAIN_NODE_SEED: seed } },
    );
    return { role, child, line: `${role} node ${seed}${fault ? ` with fault ${fault}` : ""} (log: ${log})` };
  });
  const referee = logged(join(dataDir, "referee"), "referee.log");
  const refereeChild = spawn(
    process.execPath,
    [ENTRY, ...refereeArgs(chainWsUrl, apiUrl, nodes.map(dirOf))],
    {
      stdio: ["ignore", referee.out, referee.out],
      env: { ...process.env, VERITRAIN_NODE_SEED: refereeSeed },
    },
  );
  return {
    started: [...children.map((c) => c.line), `referee for the nodes' disputes (log: ${referee.log})`],
    processes: children.map(({ role, child }) => ({ role, pid: child.pid ?? 0 })),
    stop: async () => {
      await Promise.all([...children.map(({ child }) => child), refereeChild].map(stopped));
    },
  };
}
