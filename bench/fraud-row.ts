// One row of the fraud table on a FraudStack: N jobs of one fault mode created at once and run
// side by side. The faulty node is the only node of its role the chain can draw, bonded for N
// duties (capacity by stake, PROTOCOL.md §3), so every task goes to it; beside a faulty worker the
// two honest verifiers are bonded for an audit and the dispute it may open per job; the honest
// standby worker is bonded once every task has been drawn, so it can only take a task over or
// re-run one whose dispute the faulty worker lost. Which
// node did what in each job is read back from the chain's events: a job whose task never reached
// the faulty node (it cannot happen by the set-up above, but the chain is the judge) is not counted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeChainClient } from "../chain-bridge/index.ts";
import type { FraudRow } from "../test/support/fraud-modes.ts";
import { scenarioNode } from "../test/support/fraud-scenario.ts";
import type { FraudStack, JobJson, NodeProcess, Outcome } from "../test/support/fraud-stack.ts";
import { keepCommitmentFresh } from "../worker-runtime/node/commitment-keeper.ts";
import { type TaskFacts, taskFacts } from "./fraud-facts.ts";

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
  /** How long a job whose task is in dispute is given to end before the row counts it as it is. */
  disputeGraceMs: number;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Until the job ends, or its task has been in dispute for `graceMs`: the nodes play disputes, but
 * one waiting for the referee (none runs in the bench) or for a driver that re-runs the task
 * (branch `disputes-driver`) does not end, so the row records how far it got.
 */
async function settle(stack: FraudStack, jobId: string, timeoutMs: number, graceMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let disputedSince: number | null = null;
  let last = "";
  while (Date.now() < until) {
    const job = await stack.call<JobJson>("GET", `/v1/training-jobs/${jobId}`);
    const task = await stack.chainTask(jobId);
    const now = `${job.status}/${task?.status ?? "-"}`;
    if (now !== last) stack.trace(`job ${jobId}: ${now}`);
    last = now;
    if (TERMINAL.has(job.status)) return;
    if ((task?.disputes.length ?? 0) > 0) disputedSince ??= Date.now();
    if (disputedSince !== null && Date.now() - disputedSince > graceMs) return;
    await sleep(500);
  }
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
    await Promise.all(submitted.map((job) => settle(stack, job.id, timeoutMs, options.disputeGraceMs)));
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
      const of = (chainId != null && facts.get(chainId)) || {
        workers: [],
        verifiers: [],
        disputes: [],
        slashed: [],
      };
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
  }
}
