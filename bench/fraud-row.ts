// One row of the fraud table on a FraudStack: N jobs of one fault mode created at once and run
// side by side. The faulty node is the only node of its role the chain can draw, bonded for N
// duties (capacity by stake, PROTOCOL.md §3), so every task goes to it; beside a faulty worker the
// two honest verifiers are bonded for an audit and the dispute it may open per job; the honest
// standby worker is bonded once every task has been drawn, so it can only take a task over or
// re-run one whose dispute the faulty worker lost. Beside a faulty verifier whose audits can fail
// (`grief` and `lazy` by a lost dispute, `absent` unanswered), an honest standby verifier is
// bonded likewise once every task's audits have been drawn, so it only audits a task again. The stack's whistleblowers re-check
// verdicts throughout. Which node did what in each job is read back from the chain's events: a
// job whose task never reached the faulty node (it cannot happen by the set-up above, but the
// chain is the judge) is not counted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeChainClient } from "../chain-bridge/index.ts";
import type { FraudRow } from "../test/support/fraud-modes.ts";
import { scenarioNode } from "../test/support/fraud-scenario.ts";
import type { FraudStack, JobJson, NodeProcess, Outcome } from "../test/support/fraud-stack.ts";
import { keepCommitmentFresh } from "../worker-runtime/node/commitment-keeper.ts";
import { noFacts, type TaskFacts, taskFacts } from "./fraud-facts.ts";

/** CPU seconds over steps, as the nodes reported them (protocol/node-wire.ts ComputeReport). */
export interface Compute {
  cpuSeconds: number;
  steps: number;
}

export interface JobRun {
  outcome: Outcome;
  facts: TaskFacts;
  /** The row's node did the duty the row is about: trained the task, or audited it. */
  exercised: boolean;
  worker: Compute | null;
  replay: Compute | null;
}

export interface RowRun {
  row: FraudRow;
  node: NodeProcess;
  jobs: JobRun[];
  wallSeconds: number;
}

export interface RowOptions {
  jobs: number;
  spec: Record<string, unknown>;
  timeoutMs: number;
  /** The honest worker the stack keeps unbonded until a row needs it (fraud-scenario.ts). */
  standby: NodeProcess;
  /**
   * The honest verifiers beside a faulty worker, bonded here for the row's duties on top of those
   * earlier rows' disputes still hold; none beside a faulty verifier, the only one there may be.
   */
  verifiers: NodeProcess[];
  /** The honest verifier kept unbonded for a faulty verifier's row, to audit a task again. */
  standbyVerifier: NodeProcess | null;
  /**
   * How long a job may go without any progress (no new job event, no change of its state or its
   * task's) before the row counts it as it stands: longer than any window a healthy job waits out.
   */
  stallMs: number;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Until the job ends (every row's jobs do: deadlines, re-runs and the referee drive each to a final
 * state), or `timeoutMs` is over, or nothing about it moved for `stallMs` (a stack that broke).
 */
async function settle(stack: FraudStack, jobId: string, timeoutMs: number, stallMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let movedAt = Date.now();
  let last = "";
  let progress = "";
  while (Date.now() < until && Date.now() - movedAt < stallMs) {
    const job = await stack.call<JobJson>("GET", `/v1/training-jobs/${jobId}`);
    const task = await stack.chainTask(jobId);
    const events = await stack.db.jobEvent.count({ where: { jobId } });
    const now = `${job.status}/${task?.status ?? "-"}`;
    if (now !== last) stack.trace(`job ${jobId}: ${now}`);
    if (`${now}/${events}` !== progress) movedAt = Date.now();
    progress = `${now}/${events}`;
    last = now;
    if (TERMINAL.has(job.status)) return;
    await sleep(500);
  }
  stack.trace(`job ${jobId}: counted as it stands (${last})`);
}

/** Until every job's task has been drawn a worker on chain, so that bonding another changes none. */
async function untilAssigned(stack: FraudStack, jobs: JobJson[], timeoutMs: number): Promise<void> {
  const pending = new Set(jobs.map((job) => job.id));
  const until = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < until) {
    for (const id of [...pending]) if ((await stack.chainTask(id))?.worker) pending.delete(id);
    if (pending.size > 0) await sleep(500);
  }
}

/** Until every job's task has its audits drawn on chain, so that bonding another verifier changes none. */
async function untilAudited(stack: FraudStack, jobs: JobJson[], timeoutMs: number): Promise<void> {
  const pending = new Set(jobs.map((job) => job.id));
  const until = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < until) {
    for (const id of [...pending])
      if (((await stack.chainTask(id))?.audits.length ?? 0) > 0) pending.delete(id);
    if (pending.size > 0) await sleep(500);
  }
}

/**
 * A verifier staked on chain that never runs keeps its forced-error commitment fresh all the same
 * (as a daemon whose replays hang would), so that it is drawn for as many audits as its bond backs
 * and misses each: the `absent` row's deadline is then met once per job, not once per row.
 */
async function keepAbsentDrawable(stack: FraudStack, node: NodeProcess, stop: AbortSignal): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-absent-"));
  const client = await NodeChainClient.connect(stack.devnet.wsUrl, node.seed);
  try {
    await keepCommitmentFresh(client, dataDir, stop, (line) => stack.trace(`absent verifier: ${line}`));
  } finally {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function reportedCompute(stack: FraudStack, jobId: string): Promise<Pick<JobRun, "worker" | "replay">> {
  const task = await stack.db.task.findFirst({ where: { jobId }, include: { audits: true } });
  const worker =
    task?.workerCpuSeconds != null && task.workerSteps != null
      ? { cpuSeconds: task.workerCpuSeconds, steps: task.workerSteps }
      : null;
  const audits = (task?.audits ?? []).filter((a) => a.replayCpuSeconds != null && a.replaySteps != null);
  const replay =
    audits.length === 0
      ? null
      : {
          cpuSeconds: audits.reduce((sum, a) => sum + a.replayCpuSeconds!, 0),
          steps: audits.reduce((sum, a) => sum + a.replaySteps!, 0),
        };
  return { worker, replay };
}

export async function runRow(stack: FraudStack, row: FraudRow, options: RowOptions): Promise<RowRun> {
  const started = Date.now();
  const { jobs, spec, timeoutMs, standby } = options;
  // An audit and the dispute its disagreement may open, per job.
  const verifierDuties = 2 * jobs;
  if (row.role === "worker") {
    for (const verifier of options.verifiers) await stack.setEligible(verifier, true, verifierDuties);
  }
  const node = await scenarioNode(stack, row, standby);
  const stopKeeper = new AbortController();
  const keeper = row.mode === "absent" ? keepAbsentDrawable(stack, node, stopKeeper.signal) : null;
  try {
    await stack.setEligible(node, true, row.role === "worker" ? jobs : verifierDuties);
    if (row.role === "verifier") await stack.setEligible(standby, true, jobs);
    const since = await stack.head();
    const submitted = await Promise.all(Array.from({ length: jobs }, () => stack.submit(spec)));
    // The standby takes over a task the faulty worker missed a deadline of, or re-runs one whose
    // dispute it lost; bonded once the faulty worker holds every task, it is drawn for no other.
    if (row.role === "worker" && node !== standby) {
      await untilAssigned(stack, submitted, timeoutMs);
      await stack.setEligible(standby, true, jobs);
    }
    const { standbyVerifier } = options;
    if (row.role === "verifier" && row.takeover && standbyVerifier) {
      await untilAudited(stack, submitted, timeoutMs);
      await stack.setEligible(standbyVerifier, true, verifierDuties);
    }
    await Promise.all(submitted.map((job) => settle(stack, job.id, timeoutMs, options.stallMs)));
    const outcomes = await Promise.all(
      submitted.map((job) => stack.outcome(job.id, spec, node, node !== standby, since)),
    );
    const chainIds = await Promise.all(
      submitted.map(
        async (job) => (await stack.db.task.findFirst({ where: { jobId: job.id } }))?.chainTaskId ?? null,
      ),
    );
    const facts = await taskFacts(
      stack.db,
      chainIds.filter((id): id is bigint => id !== null),
      since,
    );
    const runs: JobRun[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const chainId = chainIds[i];
      const of = (chainId != null && facts.get(chainId)) || noFacts();
      const exercised =
        row.role === "worker" ? of.workers[0] === node.address : of.verifiers.includes(node.address);
      runs.push({ outcome, facts: of, exercised, ...(await reportedCompute(stack, submitted[i]!.id)) });
    }
    return { row, node, jobs: runs, wallSeconds: (Date.now() - started) / 1000 };
  } finally {
    stopKeeper.abort();
    await keeper;
    if (node !== standby) await stack.retire(node);
    await stack.setEligible(standby, false);
    if (options.standbyVerifier) await stack.setEligible(options.standbyVerifier, false);
  }
}
