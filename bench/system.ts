// The whole system under many jobs: the local stack `veritrain up` runs (the dev chain, the API,
// worker and verifier node processes; Postgres and Redis embedded unless DATABASE_URL/REDIS_URL
// name them), a new account with test credits, and N jobs of the README's MLP (3 epochs) created
// at once over HTTP. Printed: jobs per minute, time to the first and last success, p50/p95 time
// to a verified model (a job's creation to its settlement), failures, and CPU seconds per job:
// training (the worker processes), verification (the verifier processes) and overhead (this
// process: the API, the dev chain, an embedded Postgres, and the bench's own client), read from
// /proc/PID/stat between the first job's creation and the last job's end.
//
//   npm run bench:system                              (24 jobs, 2 workers, 2 verifiers)
//   npm run bench:system -- --jobs 3 --json
//   npm run bench:system -- --sweep                   (one job alone, then the README's 12-job sweep)
//
// `--sweep` runs one job alone first and times it, then submits the 12-job sweep (learning rates
// 0.01 to 0.12) and prints when its last job ended against the single job's time (issue 16's bar:
// at most 2x).

import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startStack } from "../cli/stack.ts";
import { loadConfig } from "../config/env.ts";
import type { NodeRole } from "../protocol/node-wire.ts";
import { type TrainingJob, type TrainingSpec, Veritrain } from "../sdk/src/index.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "24" },
    workers: { type: "string", default: "2" },
    verifiers: { type: "string", default: "2" },
    sweep: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    "timeout-minutes": { type: "string", default: "60" },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
  return n;
}
const jobCount = positive("jobs", values.jobs);
const workers = positive("workers", values.workers);
const verifiers = positive("verifiers", values.verifiers);
const deadline = Date.now() + positive("timeout-minutes", values["timeout-minutes"]) * 60_000;
const say = (line: string) =>
  values.json || process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

const fixtures = new URL("../worker-runtime/fixtures/", import.meta.url);
/** The README's MLP, trained for 3 epochs as the issue's sweep trains it. */
const SPEC: TrainingSpec = {
  ...(JSON.parse(readFileSync(new URL("mlp.spec.json", fixtures), "utf8")) as TrainingSpec),
  epochs: 3,
};
/** The README's sweep: learning rates 0.01 to 0.12. */
const SWEEP_RATES = Array.from({ length: 12 }, (_, i) => Number(((i + 1) * 0.01).toFixed(2)));
const POLL_MS = 1_000;
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

// Fields 14-17 of /proc/PID/stat: user and system time of the process and of its waited-for
// children, in clock ticks of USER_HZ, which Linux fixes at 100 for what it reports to user space.
const TICKS_PER_SECOND = 100;
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name, field 3 (state) is index 0: utime is field 14, so index 11.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / TICKS_PER_SECOND;
}

interface CpuSample {
  training: number;
  verification: number;
  overhead: number;
}

// A whistleblower's re-checks are verification work, counted with the verifiers'.
function sampleCpu(nodes: Array<{ role: NodeRole; pid: number }>): CpuSample {
  const of = (role: NodeRole) =>
    nodes.filter((node) => node.role === role).reduce((sum, node) => sum + cpuSeconds(node.pid), 0);
  const own = process.cpuUsage();
  return {
    training: of("worker"),
    verification: of("verifier") + of("whistleblower"),
    overhead: (own.user + own.system) / 1e6,
  };
}

/** Polls until every job has ended; the jobs as they ended. */
async function waitForAll(vt: Veritrain, ids: string[]): Promise<TrainingJob[]> {
  const ended = new Map<string, TrainingJob>();
  let reported = "";
  while (ended.size < ids.length) {
    if (Date.now() > deadline) throw new Error(`timed out with ${ids.length - ended.size} jobs not ended`);
    await sleep(POLL_MS);
    for (const id of ids.filter((id) => !ended.has(id))) {
      const job = await vt.trainingJobs.get(id);
      if (TERMINAL.has(job.status)) ended.set(id, job);
    }
    const line = `${ended.size}/${ids.length} jobs ended`;
    if (line !== reported) say(line);
    reported = line;
  }
  return ids.map((id) => ended.get(id)!);
}

const seconds = (from: string | number, to: string | null) =>
  to === null ? null : (Date.parse(to) - (typeof from === "number" ? from : Date.parse(from))) / 1000;

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (n: number | null, digits = 1) => (n === null ? null : Number(n.toFixed(digits)));

interface RunFigures {
  jobs: number;
  succeeded: number;
  failures: Array<{ id: string; status: string; reason: string | null }>;
  jobs_per_minute: number | null;
  first_success_s: number | null;
  last_success_s: number | null;
  last_end_s: number | null;
  verified_model_p50_s: number | null;
  verified_model_p95_s: number | null;
  cpu_seconds_per_job: { training: number; verification: number; overhead: number };
}

/** The figures of jobs submitted at `startedAt`, with the CPU spent between two samples. */
function figures(jobs: TrainingJob[], startedAt: number, before: CpuSample, after: CpuSample): RunFigures {
  const succeeded = jobs.filter((job) => job.status === "succeeded");
  const ends = succeeded.map((job) => seconds(startedAt, job.finished_at)!).sort((a, b) => a - b);
  const lastEnd = Math.max(...jobs.map((job) => seconds(startedAt, job.finished_at) ?? 0));
  const toVerified = succeeded.map((job) => seconds(job.created_at, job.finished_at)!).sort((a, b) => a - b);
  const perJob = (cpu: keyof CpuSample) => round((after[cpu] - before[cpu]) / jobs.length, 2)!;
  return {
    jobs: jobs.length,
    succeeded: succeeded.length,
    failures: jobs
      .filter((job) => job.status !== "succeeded")
      .map((job) => ({ id: job.id, status: job.status, reason: job.failure_reason })),
    jobs_per_minute: ends.length === 0 ? null : round((succeeded.length / ends.at(-1)!) * 60, 2),
    first_success_s: round(ends[0] ?? null),
    last_success_s: round(ends.at(-1) ?? null),
    last_end_s: round(lastEnd),
    verified_model_p50_s: round(percentile(toVerified, 50)),
    verified_model_p95_s: round(percentile(toVerified, 95)),
    cpu_seconds_per_job: {
      training: perJob("training"),
      verification: perJob("verification"),
      overhead: perJob("overhead"),
    },
  };
}

function describe(title: string, f: RunFigures): string[] {
  const cpu = f.cpu_seconds_per_job;
  return [
    title,
    `  succeeded           ${f.succeeded}/${f.jobs}, failures ${f.failures.length}`,
    ...f.failures.map((x) => `    ${x.id} ${x.status}: ${x.reason ?? "-"}`),
    `  jobs/minute         ${f.jobs_per_minute ?? "-"}`,
    `  first success       ${f.first_success_s ?? "-"} s, last success ${f.last_success_s ?? "-"} s after creation`,
    `  to verified model   p50 ${f.verified_model_p50_s ?? "-"} s, p95 ${f.verified_model_p95_s ?? "-"} s`,
    `  CPU s per job       training ${cpu.training}, verification ${cpu.verification}, overhead ${cpu.overhead}`,
  ];
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), "veritrain-bench-system-"));
  const config = {
    ...loadConfig(process.env),
    dataDir,
    port: 0,
    host: "127.0.0.1",
    logLevel: "silent",
    // The bench's own account makes every request; the budgets are a user's, not a load test's.
    rateLimits: Object.fromEntries(
      Object.entries(loadConfig(process.env).rateLimits).map(([family, limit]) => [
        family,
        { ...limit, max: limit.max * 100 },
      ]),
    ) as ReturnType<typeof loadConfig>["rateLimits"],
  };
  say(`starting the local stack: ${workers} workers, ${verifiers} verifiers (data in ${dataDir})`);
  const stack = await startStack(config, { nodes: { workers, verifiers } });
  try {
    for (const line of stack.started) say(`  ${line}`);
    const baseUrl = stack.api.url;
    const signedUp = await new Veritrain({ baseUrl }).auth.signup({
      email: `bench-${Date.now()}@example.com`,
      password: `bench-password-${Date.now()}`,
    });
    const vt = new Veritrain({ baseUrl, apiKey: signedUp.api_key.secret });
    const session = await vt.billing.createCheckoutSession({
      amount_cents: 1_000_000,
      success_url: `${baseUrl}/portal/`,
      cancel_url: `${baseUrl}/portal/`,
    });
    await vt.billing.payLocalCheckout(session.id);
    const model = await vt.files.upload("model", new URL("mlp.onnx", fixtures).pathname);
    const dataset = await vt.files.upload("dataset", new URL("data/digits.safetensors", fixtures).pathname);
    const request = { model: model.id, dataset: dataset.id, spec: SPEC, verification: "basic" as const };
    const cpu = () => sampleCpu(stack.nodes);
    const parameters = {
      mode: values.sweep ? "sweep" : "jobs",
      workers,
      verifiers,
      jobs: values.sweep ? SWEEP_RATES.length : jobCount,
      spec: "README MLP, 3 epochs, verification basic",
    };

    if (values.sweep) {
      say("one job alone");
      const before = cpu();
      const startedAt = Date.now();
      const single = await vt.trainingJobs.create(request);
      const singleRun = figures(await waitForAll(vt, [single.id]), startedAt, before, cpu());
      say(`the ${SWEEP_RATES.length}-job sweep (learning rates ${SWEEP_RATES[0]} to ${SWEEP_RATES.at(-1)})`);
      const sweepBefore = cpu();
      const sweepStartedAt = Date.now();
      const sweep = await vt.sweeps.create({ ...request, grid: { "optimizer.lr": SWEEP_RATES } });
      const sweepRun = figures(
        await waitForAll(
          vt,
          sweep.jobs.map((job) => job.id),
        ),
        sweepStartedAt,
        sweepBefore,
        cpu(),
      );
      const best = (await vt.sweeps.get(sweep.id)).best;
      const ratio =
        sweepRun.last_end_s === null || singleRun.last_end_s === null
          ? null
          : round(sweepRun.last_end_s / singleRun.last_end_s, 2);
      const result = { parameters, single: singleRun, sweep: { id: sweep.id, ...sweepRun, best }, ratio };
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        process.stdout.write(
          [
            ...describe("One job alone", singleRun),
            ...describe(`The ${SWEEP_RATES.length}-job sweep`, sweepRun),
            `  best                ${best ? `${best.id} val_loss ${best.objective_value.toFixed(4)} (${JSON.stringify(best.settings)})` : "-"}`,
            `Last sweep job ended ${sweepRun.last_end_s} s after submission; the single job took ${singleRun.last_end_s} s: ${ratio}x (issue 16's bar: at most 2x)`,
            "",
          ].join("\n"),
        );
      }
      return;
    }

    say(`${jobCount} jobs at once`);
    const before = cpu();
    const startedAt = Date.now();
    const created = await Promise.all(
      Array.from({ length: jobCount }, (_, i) =>
        vt.trainingJobs.create({ ...request, spec: { ...SPEC, seed: i + 1 } }),
      ),
    );
    const run = figures(
      await waitForAll(
        vt,
        created.map((job) => job.id),
      ),
      startedAt,
      before,
      cpu(),
    );
    if (values.json) process.stdout.write(`${JSON.stringify({ parameters, ...run })}\n`);
    else process.stdout.write(`${describe(`${jobCount} jobs at once`, run).join("\n")}\n`);
  } finally {
    say("stopping the stack");
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
