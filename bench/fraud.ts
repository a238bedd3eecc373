// The fraud table: on the local stack (dev chain with short windows, the API over HTTP, real node
// processes), N jobs per fault mode of test/support/fraud-modes.ts, each with at least 20
// segments, and what came of each: caught, the catch rate the audit rule predicts, delivered
// weights, payments, slashes, charges, the verifiers' compute against the workers', disputes, and
// the jackpot pot. A row's N jobs run side by side (bench/fraud-row.ts); rows run one after
// another on one stack, each with nodes of its own.
//
//   npm run bench:fraud                          (10 jobs per mode)
//   npm run bench:fraud -- --jobs 2 --json
//   npm run bench:fraud -- --jobs 5 --modes skip-steps,perturb-weights
//   npm run bench:fraud -- --jobs 2 --slack 4 --logs  (a loaded machine: windows × 4, node logs)
//
// `jobs` counts the jobs whose task the row's node trained (worker modes) or audited (verifier
// modes), read from the chain's events; `submitted` all of the row's jobs. `predicted` is
// 1 − C(n−k, m)/C(n, m) (detectionProbability in api/services/pricing.ts) with n the job's
// segments, k the segments the fault lies in and m the audits the chain drew, averaged over the
// jobs; evidence and deadline checks catch every time (1); modes nothing catches yet 0.
// `replay_overhead` is the verifiers' reported CPU per replayed step over the workers' per
// trained step, over the row's jobs. The dispute columns are chain facts (bench/fraud-facts.ts).
import { parseArgs } from "node:util";
import { detectionProbability } from "../api/services/pricing.ts";
import { PLANCK_PER_VT, parseTokenRate, planckToCents, readJackpot } from "../chain-bridge/index.ts";
import { loadConfig } from "../config/env.ts";
import { catchFloor } from "../test/support/catch-floor.ts";
import { FRAUD_ROWS, type FraudRow } from "../test/support/fraud-modes.ts";
import { pinpointedNodeName } from "../test/support/fraud-pinpoint.ts";
import { FraudStack, type FraudStackOptions } from "../test/support/fraud-stack.ts";
import { swappedNodeNames } from "../worker-runtime/node/swap-operator.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { type Compute, type JobRun, type RowRun, runRow } from "./fraud-row.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
    modes: { type: "string" },
    slack: { type: "string", default: "1" },
    logs: { type: "boolean", default: false },
  },
});
const jobs = Number(values.jobs);
// A row's faulty node is funded with 20,000 VT (fraud-stack.ts): a faulty verifier bonds
// 2 × jobs × 500 of it.
if (!Number.isInteger(jobs) || jobs < 1 || jobs > 19)
  throw new Error(`--jobs must be an integer from 1 to 19, got ${values.jobs}`);
const modes = values.modes?.split(",");
const slack = Number(values.slack);
if (!Number.isFinite(slack) || slack < 1)
  throw new Error(`--slack must be a number ≥ 1, got ${values.slack}`);

// 250 ms blocks and windows sized for a quiet machine, stretched by `--slack` on a loaded one; a
// row waits its windows out (a take-over row the commit window, every task an audit round), so
// they are most of the run's wall time. A worker trains a row's tasks one after another (20
// checkpoint uploads each, checked by the gateway: about 4 s a task at a load of 7–9 with the
// bench nice'd), all drawn at once, so its commit window grows with the row: 4 s a task and 20 s
// to spare. A verifier replays its audits in turn as the worker commits them, a few seconds
// apart, each well under a second, so the verdict window grows by 1.5 s a task. A job stuck
// `verifying` fails once the audits of a whole row had time to be drawn (one per fresh
// forced-error commitment of each verifier) and answered.
const BLOCK_MS = 250;
const seconds = (s: number) => Math.ceil((s * slack * 1000) / BLOCK_MS);
const commitSeconds = 20 + 4 * jobs;
const verdictSeconds = 10 + 1.5 * jobs;
const verifyingDeadlineSeconds = 60 + 2 * verdictSeconds;
// A whistleblower replays a verdict's segment (64 steps, well under a second) once it sees it: the
// challenge window after the verdict window leaves it time for the verdicts that come last.
const challengeSeconds = 5;
const revealSeconds = 2.5;
// A party of the pinpoint game answers a turn from its records (replaying up to a segment's steps
// or tracing one step's operators; its disputes concurrently, dispute-player.ts): 4 s, stretched
// with the rest on a loaded machine.
const roundSeconds = 4;
// Audits are forced errors at the dev chain's rate (PROTOCOL.md §2), so the whistleblowers' catches
// of them, and the jackpot they pay, show in the table.
const FORCED_ERROR_PPM = 100_000;
// Two whistleblowers, each re-checking half the verdicts (the share `veritrain up`'s whistleblower
// re-checks by default), drawn independently: a verdict is re-checked with probability
// 1 − (1 − ½)² = ¾. Enough that a `lazy` row of a few jobs is caught in most of them; a re-check
// is one more replay of a 64-step segment, a small cost beside the training on these two cores.
const WHISTLEBLOWERS = ["//Eve", "//Ferdie//whistleblower"];
const RECHECK_SHARE = 0.5;
const STACK: FraudStackOptions = {
  blockMs: BLOCK_MS,
  windows: {
    commitBlocks: seconds(commitSeconds),
    verdictBlocks: seconds(verdictSeconds),
    challengeBlocks: seconds(challengeSeconds),
    revealBlocks: seconds(revealSeconds),
    roundBlocks: seconds(roundSeconds),
  },
  forcedErrorPpm: FORCED_ERROR_PPM,
  verifyingDeadlineMs: verifyingDeadlineSeconds * slack * 1000,
  trace: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
};
// 20 segments of 64 steps: a segment is one onnxruntime run of the worker's (at most 64 steps a
// run), and a verifier's replay spreads what it pays once per audit (decoding the start
// checkpoint, its epoch's data order, the end state's hash) over 64 steps of the MLP, not 10
// (replay_overhead, docs/verification.md).
const SEGMENTS = 20;
const CHECKPOINT_EVERY = 64;
// A job that shows no progress (no job event, no change of state) for longer than any window it
// may wait out is counted as it stands: a dispute's turn, the commit window, a task's audit round
// from its draw to its reveal, or the verifying deadline (a task nobody can audit waits it out).
const STALL_MS =
  (Math.max(
    commitSeconds,
    verdictSeconds + challengeSeconds + revealSeconds,
    roundSeconds,
    verifyingDeadlineSeconds,
  ) +
    30) *
  slack *
  1000;
// A bound on a row: the commit window, the standby's training, two audit rounds with a dispute of
// ⌈log2 64⌉ + ⌈log2 47⌉ + 2 = 14 turns between them (47 nodes in the MLP's step graph), and as
// much again.
const ROW_TIMEOUT_MS =
  2 *
  (2 * commitSeconds + 2 * (verdictSeconds + challengeSeconds + revealSeconds) + 14 * roundSeconds + 60) *
  slack *
  1000;

interface Row {
  mode: string;
  role: string;
  submitted: number;
  jobs: number;
  caught: number;
  predicted: number;
  /** The 1 % quantile of the catch count the prediction gives: `consistent` when caught ≥ it. */
  catch_floor: number;
  consistent: boolean;
  delivered_correct: number;
  worker_paid_cents: number;
  honest_slashed: number;
  user_charged_cents: number;
  replay_overhead: number | null;
  slashed: number;
  rerun_delivered_correct: number;
  disputes: number;
  rounds_max: number;
  /** Disputes whose game narrowed to one operator (`DisputeNarrowedToOperator`). */
  disputes_narrowed: number;
  pinpointed_operator_correct: number | null;
  forced_errors: number;
  forced_caught: number;
  jackpot_paid_vt: number;
  jackpot_start_vt: number;
  jackpot_end_vt: number;
  wall_seconds: number;
}

const rate = parseTokenRate(loadConfig().tokenUsdRate);
const cents = (planck: bigint) => Number(planckToCents(planck, rate, "down").cents);
// The pot fills by fractions of a cent a job (a 2 % tax on what the network is paid): shown in VT.
const vt = (planck: bigint) => Number(planck / (PLANCK_PER_VT / 1_000_000n)) / 1_000_000;

/** The row's verifier defended a transcript dispute a whistleblower's challenge opened. */
function challengedByWhistleblower(run: RowRun, job: JobRun): boolean {
  return job.facts.disputes.some((d) => /^transcript$/i.test(d.kind) && d.defender === run.node.address);
}

function caught(run: RowRun, job: JobRun): boolean {
  const { outcome } = job;
  const refused = outcome.events.some(
    (e) => e.type === "training.evidence_refused" && e.data.worker === run.node.address,
  );
  return (
    refused ||
    outcome.disagreeingVerdicts > 0 ||
    outcome.deadlines.length > 0 ||
    outcome.lostDeliveries > 0 ||
    challengedByWhistleblower(run, job)
  );
}

/**
 * A wrong verdict leads to a transcript dispute when a whistleblower re-checks it (each draws
 * independently) and it is not a forced error (that one pays the jackpot instead); a job is
 * caught when one of its verdicts does.
 */
function whistleblowerCatch(audits: number): number {
  const rechecked = 1 - (1 - RECHECK_SHARE) ** WHISTLEBLOWERS.length;
  const disputed = rechecked * (1 - FORCED_ERROR_PPM / 1_000_000);
  return 1 - (1 - disputed) ** audits;
}

function predicted(row: FraudRow, job: JobRun): number {
  if (!row.caughtBy) return 0;
  if (row.caughtBy === "whistleblower") return whistleblowerCatch(job.outcome.audited);
  if (!row.faked) return 1;
  const { segments, audited } = job.outcome;
  return detectionProbability(segments, row.faked(segments), audited);
}

/** CPU per replayed step over CPU per trained step, from every report of the jobs; null without both. */
function replayOverhead(runs: JobRun[]): number | null {
  const total = (pick: (job: JobRun) => Compute | null) => {
    const reports = runs.map(pick).filter((c): c is Compute => c !== null);
    const steps = reports.reduce((sum, c) => sum + c.steps, 0);
    return steps === 0 ? null : reports.reduce((sum, c) => sum + c.cpuSeconds, 0) / steps;
  };
  const worker = total((job) => job.worker);
  const replay = total((job) => job.replay);
  return worker === null || replay === null ? null : Number((replay / worker).toFixed(3));
}

/** Disputes over a `swap-operator` worker's tasks whose game landed on an operator the fault changed. */
async function pinpointedCorrectly(runs: JobRun[], spec: Record<string, unknown>): Promise<number> {
  const fixture = loadFixture("mlp");
  const swapped = swappedNodeNames(fixture.model);
  let correct = 0;
  for (const job of runs) {
    for (const dispute of job.facts.disputes) {
      if (!dispute.operator) continue;
      const run = { model: fixture.model, dataset: fixture.dataset, spec };
      const name = await pinpointedNodeName(run, dispute.operator.step, dispute.operator.node);
      if (name !== null && swapped.has(name)) correct += 1;
    }
  }
  return correct;
}

async function summarize(
  run: RowRun,
  spec: Record<string, unknown>,
  jackpot: { start: bigint; end: bigint },
): Promise<Row> {
  const { row, node } = run;
  const faulty = node.fault !== null;
  const exercised = run.jobs.filter((job) => job.exercised);
  const sum = (f: (job: JobRun) => number) => exercised.reduce((total, job) => total + f(job), 0);
  const isCaught = (job: JobRun) => caught(run, job);
  const disputes = exercised.flatMap((job) => job.facts.disputes);
  const floor = catchFloor(exercised.map((job) => predicted(row, job)));
  return {
    mode: row.mode,
    role: row.role,
    submitted: run.jobs.length,
    jobs: exercised.length,
    caught: exercised.filter(isCaught).length,
    predicted: Number((sum((job) => predicted(row, job)) / Math.max(1, exercised.length)).toFixed(4)),
    catch_floor: floor,
    consistent: exercised.filter(isCaught).length >= floor,
    delivered_correct: exercised.filter((job) => job.outcome.deliveredCorrect === true).length,
    worker_paid_cents: sum((job) => cents(job.outcome.nodePaid)),
    // Over every job of the row: an honest node slashed anywhere is a failure of the protocol.
    honest_slashed: run.jobs.reduce(
      (total, job) => total + job.facts.slashed.filter((who) => !faulty || who !== node.address).length,
      0,
    ),
    user_charged_cents: sum((job) => job.outcome.job.price.charged_cents ?? 0),
    replay_overhead: replayOverhead(run.jobs),
    slashed: faulty ? exercised.filter((job) => job.facts.slashed.includes(node.address)).length : 0,
    rerun_delivered_correct: exercised.filter((job) => isCaught(job) && job.outcome.deliveredCorrect === true)
      .length,
    disputes: disputes.length,
    rounds_max: Math.max(0, ...disputes.map((d) => d.rounds)),
    disputes_narrowed: disputes.filter((d) => d.operator).length,
    pinpointed_operator_correct:
      row.mode === "swap-operator" ? await pinpointedCorrectly(exercised, spec) : null,
    forced_errors: run.jobs.reduce((total, job) => total + job.facts.forcedErrors, 0),
    forced_caught: run.jobs.reduce((total, job) => total + job.facts.forcedCaught, 0),
    jackpot_paid_vt: vt(run.jobs.flatMap((job) => job.facts.jackpotPaid).reduce((a, b) => a + b, 0n)),
    jackpot_start_vt: vt(jackpot.start),
    jackpot_end_vt: vt(jackpot.end),
    wall_seconds: Math.round(run.wallSeconds),
  };
}

function print(table: Row[], notes: string[]): void {
  if (values.json) {
    process.stdout.write(`${JSON.stringify(table)}\n`);
    for (const note of notes) process.stderr.write(`${note}\n`);
    return;
  }
  const columns = Object.keys(table[0] ?? {}) as (keyof Row)[];
  const lines = [columns.join(" | "), columns.map(() => "---").join(" | ")];
  for (const row of table) lines.push(columns.map((c) => String(row[c] ?? "null")).join(" | "));
  process.stdout.write(`${lines.map((line) => `| ${line} |`).join("\n")}\n\n${notes.join("\n")}\n`);
}

// Faulty workers first (the honest row leads), faulty verifiers last: they need the honest
// verifiers gone, and a grieving verifier's disputes keep the standby worker's duties open.
const selected = FRAUD_ROWS.filter((row) => !modes || modes.includes(row.mode)).sort(
  (a, b) => Number(a.role === "verifier") - Number(b.role === "verifier"),
);
const started = Date.now();
const stack = await FraudStack.start(STACK);
const table: Row[] = [];
const notes: string[] = [];
try {
  const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
  const spec = { ...baseSpec, max_steps: SEGMENTS * CHECKPOINT_EVERY, checkpoint_every: CHECKPOINT_EVERY };
  const standby = await stack.startStandbyWorker();
  // Dev accounts, endowed for any number of rows' stakes. Both audit beside faulty workers; before
  // the verifier rows //Dave is retired and //Charlie kept unbonded, to audit a task again once a
  // faulty verifier's audit of it failed.
  const workerRows = selected.some((row) => row.role === "worker");
  const standbyVerifierNeeded = selected.some((row) => row.role === "verifier" && row.takeover);
  const charlie = workerRows || standbyVerifierNeeded ? await stack.startNode("verifier", "//Charlie") : null;
  const verifiers = [
    ...(charlie && workerRows ? [charlie] : []),
    ...(workerRows ? [await stack.startNode("verifier", "//Dave")] : []),
  ];
  if (charlie && !workerRows) await stack.setEligible(charlie, false);
  // Whistleblowers bonded for a challenge of every audit of a row at once.
  for (const seed of WHISTLEBLOWERS) await stack.startWhistleblower(seed, RECHECK_SHARE, 2 * jobs);
  const pot = async () => (await readJackpot(stack.chain.api)).free;
  const first = await pot();
  let start = first;
  for (const row of selected) {
    if (row.role === "verifier") {
      for (const verifier of verifiers.splice(0)) {
        if (verifier === charlie) await stack.setEligible(verifier, false);
        else await stack.retire(verifier);
      }
    }
    const run = await runRow(stack, row, {
      jobs,
      spec,
      timeoutMs: ROW_TIMEOUT_MS,
      standby,
      verifiers,
      standbyVerifier: row.role === "verifier" ? charlie : null,
      stallMs: STALL_MS,
    });
    if (values.logs) process.stderr.write(`${stack.logs()}\n`);
    const end = await pot();
    const summary = await summarize(run, spec, { start, end });
    table.push(summary);
    start = end;
    process.stderr.write(
      `${row.mode}: ${summary.jobs}/${summary.submitted} jobs exercised, ${summary.caught} caught, ${summary.wall_seconds} s\n`,
    );
  }
  notes.push(
    `jackpot pot: ${vt(first)} VT at the start, ${vt(start)} VT at the end (${rate.usdPerVt} USD per VT)`,
    `wall time: ${Math.round((Date.now() - started) / 1000)} s for ${selected.length} modes of ${jobs} jobs (${SEGMENTS} segments of ${CHECKPOINT_EVERY} steps)`,
  );
} finally {
  await stack.stop();
}
print(table, notes);
process.exit(0);
