// The fraud table: on the local stack (dev chain with short windows, the API over HTTP, real node
// processes), N jobs per fault mode of test/support/fraud-modes.ts, each with at least 20
// segments, and what came of each: caught, the catch rate the audit rule predicts, delivered
// weights, payments, slashes and charges.
//
//   npm run bench:fraud                          (10 jobs per mode)
//   npm run bench:fraud -- --jobs 2 --json
//   npm run bench:fraud -- --jobs 5 --modes skip-steps,perturb-weights
//
// `predicted` is 1 − C(n−k, m)/C(n, m) (detectionProbability in api/services/pricing.ts) with n
// the job's segments, k the segments the fault lies in and m the audits the chain drew, averaged
// over the jobs; evidence and deadline checks catch every time (1); modes nothing catches yet 0.
// `replay_overhead` is null: the nodes do not report their compute per step yet.
import { parseArgs } from "node:util";
import { detectionProbability } from "../api/services/pricing.ts";
import { parseTokenRate, planckToCents } from "../chain-bridge/index.ts";
import { loadConfig } from "../config/env.ts";
import { FRAUD_ROWS, type FraudRow } from "../test/support/fraud-modes.ts";
import { runJob, type ScenarioResult, scenarioNode } from "../test/support/fraud-scenario.ts";
import { FraudStack, type FraudStackOptions } from "../test/support/fraud-stack.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
    modes: { type: "string" },
  },
});
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1)
  throw new Error(`--jobs must be a positive integer, got ${values.jobs}`);
const modes = values.modes?.split(",");

// 250 ms blocks; a worker has 75 s to commit its 100 steps (20 checkpoint uploads, each checked by
// the gateway), a verifier 20 s to replay a segment.
const STACK: FraudStackOptions = {
  blockMs: 250,
  windows: { commitBlocks: 300, verdictBlocks: 80, challengeBlocks: 3, revealBlocks: 10 },
  verifyingDeadlineMs: 60_000,
  trace: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
};
// 20 segments of 5 steps.
const SEGMENTS = 20;
const CHECKPOINT_EVERY = 5;
const JOB_TIMEOUT_MS = 240_000;

interface Row {
  mode: string;
  role: string;
  jobs: number;
  caught: number;
  predicted: number;
  delivered_correct: number;
  worker_paid_cents: number;
  honest_slashed: number;
  user_charged_cents: number;
  replay_overhead: number | null;
}

const rate = parseTokenRate(loadConfig().tokenUsdRate);

function caught(result: ScenarioResult): boolean {
  return result.refusedUploads.length > 0 || result.disagreeingVerdicts > 0 || result.deadlines.length > 0;
}

function predicted(row: FraudRow, result: ScenarioResult): number {
  if (!row.caughtBy) return 0;
  if (!row.faked) return 1;
  return detectionProbability(result.segments, row.faked(result.segments), result.audited);
}

function summarize(row: FraudRow, results: ScenarioResult[]): Row {
  const sum = (f: (r: ScenarioResult) => number) => results.reduce((total, r) => total + f(r), 0);
  return {
    mode: row.mode,
    role: row.role,
    jobs: results.length,
    caught: results.filter(caught).length,
    predicted: Number((sum((r) => predicted(row, r)) / Math.max(1, results.length)).toFixed(4)),
    delivered_correct: results.filter((r) => r.deliveredCorrect === true).length,
    worker_paid_cents: sum((r) => Number(planckToCents(r.nodePaid, rate, "down"))),
    honest_slashed: sum((r) => r.honestSlashed.length),
    user_charged_cents: sum((r) => r.job.price.charged_cents ?? 0),
    replay_overhead: null,
  };
}

async function runSuite(rows: FraudRow[]): Promise<Row[]> {
  const stack = await FraudStack.start(STACK);
  const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
  const spec = { ...baseSpec, max_steps: SEGMENTS * CHECKPOINT_EVERY, checkpoint_every: CHECKPOINT_EVERY };
  const out: Row[] = [];
  try {
    // As in test/support/fraud-suite.ts: two honest verifiers beside a faulty worker, none beside a
    // faulty verifier, which must be the only one the chain can draw.
    const needsVerifiers = rows.some((row) => row.role === "worker");
    const [standby, ...verifiers] = await Promise.all([
      stack.startStandbyWorker(),
      ...(needsVerifiers
        ? [stack.startNode("verifier", "//Charlie"), stack.startNode("verifier", "//Dave")]
        : []),
    ]);
    for (const row of rows) {
      if (row.role === "verifier") for (const verifier of verifiers.splice(0)) await stack.retire(verifier);
      const node = await scenarioNode(stack, row, standby);
      const results: ScenarioResult[] = [];
      for (let i = 0; i < jobs; i++) {
        // The chain gives a node one duty at a time, and a dispute nobody plays keeps its
        // verifiers' duties open: a disputed worker row's next job needs two verifiers of its own.
        if (row.role === "worker" && row.ends === "disputed" && i > 0) {
          for (const verifier of verifiers.splice(0)) await stack.retire(verifier);
          verifiers.push(
            ...(await Promise.all(
              ["a", "b"].map((v) => stack.startNode("verifier", `//Ferdie//verifier-${row.mode}-${i}-${v}`)),
            )),
          );
        }
        const result = await runJob(stack, row, node, standby, spec, JOB_TIMEOUT_MS);
        results.push(result);
        process.stderr.write(
          `${row.mode} job ${i + 1}/${jobs}: ${result.job.status}, caught ${caught(result)}, audits ${result.audited}/${result.segments}\n`,
        );
      }
      if (node !== standby) await stack.retire(node);
      out.push(summarize(row, results));
    }
  } finally {
    await stack.stop();
  }
  return out;
}

const selected = FRAUD_ROWS.filter((row) => !modes || modes.includes(row.mode));
const table: Row[] = [];
for (const suite of new Set(selected.map((row) => row.suite))) {
  const rows = selected.filter((row) => row.suite === suite);
  if (rows.length > 0) table.push(...(await runSuite(rows)));
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(table)}\n`);
} else {
  const columns = Object.keys(table[0] ?? {}) as (keyof Row)[];
  const lines = [columns.join(" | "), columns.map(() => "---").join(" | ")];
  for (const row of table) lines.push(columns.map((c) => String(row[c] ?? "null")).join(" | "));
  process.stdout.write(`${lines.map((line) => `| ${line} |`).join("\n")}\n`);
}
process.exit(0);
