// Live progress on stderr, so stdout stays the command's answer: a bar at a terminal, else one
// line per update (what a CI log keeps). The job's bar shows step, loss, learning rate,
// throughput and where verification is, from the job's event stream.
import { MultiBar, SingleBar } from "cli-progress";
import type { JobEvent, SweepEvent, TrainingSweep } from "../../sdk/src/index.ts";

const bytesText = (n: number) =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;

/** Upload progress for one file; silent when `quiet` (--json) or stderr is not a terminal. */
export function uploadBar(name: string, quiet: boolean) {
  if (quiet || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    format: `  ${name} |{bar}| {percentage}% {sent}`,
    stream: process.stderr,
    hideCursor: true,
  });
  let started = false;
  return {
    update({ sentBytes, totalBytes }: { sentBytes: number; totalBytes: number | undefined }) {
      if (!started) bar.start(totalBytes ?? sentBytes, 0, { sent: "" });
      started = true;
      bar.update(sentBytes, { sent: bytesText(sentBytes) });
    },
    stop: () => started && bar.stop(),
  };
}

/** What the watcher knows of the job so far, from its events. */
export interface JobProgress {
  step: number;
  totalSteps: number;
  loss: number | null;
  learningRate: number | null;
  stepsPerSecond: number | null;
  /** Where the job is, in words: "queued", "training", "auditing 1/2 segments", ... */
  stage: string;
}

/** Folds one event into the progress; returns a line worth printing for events a person cares about. */
export function advance(progress: JobProgress, { type, data: d }: JobEvent): string | undefined {
  switch (type) {
    case "job.waiting":
      progress.stage = "waiting";
      return `waiting: ${d.reason}`;
    case "job.dispatched":
      progress.stage = "dispatched";
      return `escrowed on chain as task ${d.chain_task_id}`;
    case "training.started":
      progress.stage = "training";
      return "training started";
    case "training.progress":
      progress.stage = "training";
      progress.step = Number(d.step);
      progress.totalSteps = Number(d.total_steps) || progress.totalSteps;
      progress.loss = Number(d.loss);
      progress.learningRate = Number(d.learning_rate);
      progress.stepsPerSecond = Number(d.steps_per_second);
      return undefined;
    case "training.epoch": {
      const pct = (v: unknown) => (typeof v === "number" ? `${(v * 100).toFixed(1)}%` : "-");
      const num = (v: unknown) => (typeof v === "number" ? v.toFixed(4) : "-");
      return `epoch ${d.epoch}: train loss ${num(d.train_loss)}, accuracy ${pct(d.train_accuracy)}; validation loss ${num(d.val_loss)}, accuracy ${pct(d.val_accuracy)}`;
    }
    case "training.reassigned":
      return `re-assigned to another worker: ${d.reason}`;
    case "training.completed":
      progress.step = progress.totalSteps;
      progress.stage = "verifying: drawing audits";
      return `training done: ${d.checkpoints} checkpoints`;
    case "verification.audits_selected": {
      const audits = Array.isArray(d.audits) ? d.audits.length : 0;
      progress.stage = `verifying: 0/${audits} audits`;
      return `audits drawn on chain: ${audits} segment(s)`;
    }
    case "verification.verdict": {
      const [done, of] = /(\d+)\/(\d+)/.exec(progress.stage)?.slice(1).map(Number) ?? [0, 0];
      progress.stage = `verifying: ${Math.min(done! + 1, of!)}/${of} audits`;
      return `verdict on steps ${d.from_step}–${d.to_step}: ${d.agrees ? "agrees" : "DISAGREES"}`;
    }
    case "verification.closed":
      progress.stage = "settling";
      return `audits closed: ${d.passed} passed`;
    case "job.succeeded":
    case "job.failed":
    case "job.cancelled":
      progress.stage = type.slice(4);
      return `${type}${d.reason ? `: ${d.reason}` : ""}`;
    default:
      return undefined;
  }
}

const fixed = (value: number | null, digits: number) => (value === null ? "-" : value.toFixed(digits));
const exp = (value: number | null) => (value === null ? "-" : value.toExponential(2));

export function progressLine(p: JobProgress): string {
  return `step ${p.step}/${p.totalSteps} | loss ${fixed(p.loss, 4)} | lr ${exp(p.learningRate)} | ${fixed(p.stepsPerSecond, 1)} steps/s | ${p.stage}`;
}

/** Renders a job's progress as events arrive; silent when `quiet`. */
export class JobWatcher {
  readonly progress: JobProgress;
  private readonly bars: MultiBar | undefined;
  private readonly bar: SingleBar | undefined;
  private lastLine = "";

  constructor(
    totalSteps: number,
    stage: string,
    private readonly quiet: boolean,
  ) {
    this.progress = { step: 0, totalSteps, loss: null, learningRate: null, stepsPerSecond: null, stage };
    if (!quiet && process.stderr.isTTY) {
      this.bars = new MultiBar({
        format: "  |{bar}| {line}",
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
      });
      this.bar = this.bars.create(Math.max(1, totalSteps), 0, { line: progressLine(this.progress) });
    }
  }

  event(event: JobEvent): void {
    const note = advance(this.progress, event);
    if (this.quiet) return;
    const line = progressLine(this.progress);
    if (this.bar) {
      if (note) this.bars?.log(`  ${note}\n`);
      this.bar.update(this.progress.step, { line });
      return;
    }
    if (note) process.stderr.write(`  ${note}\n`);
    if (event.type === "training.progress" && line !== this.lastLine) process.stderr.write(`  ${line}\n`);
    this.lastLine = line;
  }

  stop(): void {
    this.bars?.stop();
  }
}

/** A sweep job's settings in a few words: "optimizer.lr=0.02 epochs=3". */
export function settingsText(settings: Record<string, unknown>): string {
  const parts = Object.entries(settings).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return parts.length === 0 ? "(base)" : parts.join(" ");
}

/** Renders a sweep's progress as its events arrive: one line per job; silent when `quiet`. */
export class SweepWatcher {
  private readonly jobs = new Map<string, { label: string; progress: JobProgress; bar?: SingleBar }>();
  private readonly bars: MultiBar | undefined;

  constructor(
    sweep: TrainingSweep,
    private readonly quiet: boolean,
  ) {
    if (!quiet && process.stderr.isTTY) {
      this.bars = new MultiBar({
        format: "  {label} |{bar}| {line}",
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
      });
    }
    const width = Math.max(...sweep.jobs.map((job) => settingsText(job.settings).length));
    for (const job of sweep.jobs) {
      const progress: JobProgress = {
        step: job.steps_completed,
        totalSteps: job.total_steps,
        loss: null,
        learningRate: null,
        stepsPerSecond: null,
        stage: job.status,
      };
      const label = settingsText(job.settings).padEnd(width);
      const bar = this.bars?.create(Math.max(1, job.total_steps), progress.step, {
        label,
        line: progressLine(progress),
      });
      this.jobs.set(job.id, { label, progress, ...(bar ? { bar } : {}) });
    }
  }

  event(event: SweepEvent): void {
    const job = this.jobs.get(event.job);
    if (!job) return;
    const note = advance(job.progress, event);
    if (this.quiet) return;
    if (job.bar) {
      job.bar.update(job.progress.step, { label: job.label, line: progressLine(job.progress) });
      return;
    }
    if (note) process.stderr.write(`  ${job.label}  ${note}\n`);
  }

  stop(): void {
    this.bars?.stop();
  }
}
