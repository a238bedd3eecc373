// Why an upload's content was refused: the parser's reason, and for models with unsupported
// operators, the operators as data a client can act on.
import { DomainError } from "../domain-errors.ts";

export type RejectionCode =
  | "invalid_model"
  | "unsupported_operators"
  | "invalid_dataset"
  /** Inspecting the file ran past the inspector's time or memory limit. */
  | "inspection_limit_exceeded"
  /** A quote: the model's cost with this dataset cannot be known before running it. */
  | "model_not_priceable"
  /** A quote: one training step of the model on zeros shaped like the dataset fails. */
  | "model_not_trainable";

export interface UnsupportedOperator {
  op_type: string;
  /** The graph nodes that use it, by name. */
  nodes: string[];
}

export class FileRejectedError extends DomainError<RejectionCode> {
  constructor(
    code: RejectionCode,
    message: string,
    readonly unsupportedOperators: UnsupportedOperator[] = [],
  ) {
    super(code, message, "file");
  }
}
