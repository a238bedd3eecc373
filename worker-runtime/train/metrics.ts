// What a run reports: loss per step, per-epoch train/validation loss and accuracy, throughput.
// Field names are snake_case because this object is written as metrics.json and served by the API.
// The history and the open epoch's sums are kept in the checkpoint manifest, so a resumed run
// reports the same losses and accuracies as one that never stopped (only timings differ).
import type { EpochMetrics } from "../../protocol/node-wire.ts";

export interface StepMetric {
  step: number;
  loss: number;
  lr: number;
}

/** One finished epoch's metrics: the node wire carries them as the trainer computes them. */
export type EpochMetric = EpochMetrics;

export interface TrainMetrics {
  total_steps: number;
  /** The step this invocation started from: 0, or the checkpoint it resumed. */
  start_step: number;
  /** Wall time and throughput of this invocation. */
  duration_seconds: number;
  steps_per_second: number;
  /** Every step and epoch of the run, including those before a resume. */
  steps: StepMetric[];
  epochs: EpochMetric[];
}

/** The running sums of an epoch in progress, as stored with a checkpoint. */
export interface TallySnapshot {
  epoch: number;
  loss_sum: number;
  samples: number;
  correct: number;
  judged: number;
  steps: number;
}

/** Running sums over one epoch's batches. */
export class EpochTally {
  private readonly sums: TallySnapshot;
  private readonly started = performance.now();

  constructor(start: number | TallySnapshot) {
    this.sums =
      typeof start === "number"
        ? { epoch: start, loss_sum: 0, samples: 0, correct: 0, judged: 0, steps: 0 }
        : { ...start };
  }

  get epoch(): number {
    return this.sums.epoch;
  }

  snapshot(): TallySnapshot {
    return { ...this.sums };
  }

  add(loss: number, batchSize: number, correct: { correct: number; total: number } | undefined): void {
    this.sums.loss_sum += loss * batchSize;
    this.sums.samples += batchSize;
    this.sums.steps += 1;
    if (correct) {
      this.sums.correct += correct.correct;
      this.sums.judged += correct.total;
    }
  }

  finish(lastStep: number, validation: { loss: number; accuracy: number | null } | undefined): EpochMetric {
    const seconds = (performance.now() - this.started) / 1000;
    const { epoch, loss_sum, samples, correct, judged, steps } = this.sums;
    return {
      epoch,
      last_step: lastStep,
      train_samples: samples,
      train_loss: loss_sum / Math.max(1, samples),
      train_accuracy: judged > 0 ? correct / judged : null,
      val_loss: validation?.loss ?? null,
      val_accuracy: validation?.accuracy ?? null,
      steps_per_second: seconds > 0 ? steps / seconds : 0,
    };
  }
}
