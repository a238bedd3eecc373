/** Everything the trainer refuses or gives up on, as a typed value the CLI and the daemon can branch on. */
export type TrainErrorCode =
  | "INVALID_SPEC"
  | "INVALID_DATA"
  /** The data is well formed but larger than a reader accepts (see data/limits.ts). */
  | "LIMIT_EXCEEDED"
  | "UNSUPPORTED_DATA_FORMAT"
  | "DATA_MODEL_MISMATCH"
  | "UNSUPPORTED_MODEL"
  | "DIVERGED"
  | "INVALID_CHECKPOINT"
  | "CHECKPOINT_MISMATCH"
  | "ABORTED"
  /** The step graph asks for an input the trainer has no value for: a bug, not bad input. */
  | "STEP_GRAPH_MISMATCH";

/** One problem at one place, e.g. `{ path: "/optimizer/lr", message: "expected a number > 0" }`. */
export interface TrainIssue {
  path: string;
  message: string;
}

export class TrainError extends Error {
  constructor(
    readonly code: TrainErrorCode,
    message: string,
    readonly issues: TrainIssue[] = [],
    /** Set for DIVERGED: the 1-based optimizer step whose loss was not finite. */
    readonly step?: number,
  ) {
    super(
      issues.length === 0
        ? message
        : `${message}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`,
    );
    this.name = "TrainError";
  }
}
