export type AutodiffErrorCode =
  | "UNKNOWN_OUTPUT"
  | "INVALID_OPTIONS"
  | "NO_TRAINABLE_PARAMETERS"
  | "UNKNOWN_PARAMETER";

/** A training-step request that does not fit the model (options, not the model itself). */
export class AutodiffError extends Error {
  readonly code: AutodiffErrorCode;

  constructor(code: AutodiffErrorCode, message: string) {
    super(message);
    this.name = "AutodiffError";
    this.code = code;
  }
}
