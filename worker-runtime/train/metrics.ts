// What a run reports: loss per step, per-epoch train/validation loss and accuracy, throughput.
// Field names are snake_case because this object is written as metrics.json and served by the API.

export interface StepMetric {
  step: number;
  loss: number;
  lr: number;
}

export interface EpochMetric {
  epoch: number;
  /** Samples behind train_loss: fewer than the epoch has when a run resumed inside it. */
  train_samples: number;
  train_loss: number;
  train_accuracy: number | null;
  val_loss: number | null;
  val_accuracy: number | null;
  steps_per_second: number;
}

export interface TrainMetrics {
  total_steps: number;
  /** The step the run started from: 0, or the checkpoint it resumed. */
  start_step: number;
  duration_seconds: number;
  steps_per_second: number;
  steps: StepMetric[];
  epochs: EpochMetric[];
}

/** Running sums over one epoch's batches. */
export class EpochTally {
  private lossSum = 0;
  private samples = 0;
  private correct = 0;
  private judged = 0;
  private steps = 0;
  private readonly started = performance.now();

  constructor(readonly epoch: number) {}

  add(loss: number, batchSize: number, correct: { correct: number; total: number } | undefined): void {
    this.lossSum += loss * batchSize;
    this.samples += batchSize;
    this.steps += 1;
    if (correct) {
      this.correct += correct.correct;
      this.judged += correct.total;
    }
  }

  finish(validation: { loss: number; accuracy: number | null } | undefined): EpochMetric {
    const seconds = (performance.now() - this.started) / 1000;
    return {
      epoch: this.epoch,
      train_samples: this.samples,
      train_loss: this.lossSum / Math.max(1, this.samples),
      train_accuracy: this.judged > 0 ? this.correct / this.judged : null,
      val_loss: validation?.loss ?? null,
      val_accuracy: validation?.accuracy ?? null,
      steps_per_second: seconds > 0 ? this.steps / seconds : 0,
    };
  }
}
