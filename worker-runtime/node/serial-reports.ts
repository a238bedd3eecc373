// Reports made while training runs (checkpoint uploads, progress) go out one at a time, in the
// order they happened, without holding the training loop; the first failure is kept and
// raised when the task is finished.
export class SerialReports {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;

  add(report: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await report();
      } catch (error) {
        this.failure = error;
      }
    });
  }

  /** Waits for every report; throws the first failure. */
  async settle(): Promise<void> {
    await this.tail;
    if (this.failure !== undefined) throw this.failure;
  }
}
