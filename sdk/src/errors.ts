// What the client throws. An API error carries the API's own fields
// ({"error": {"type", "code", "message", "param"}}), so callers branch on `code`, never on text.
import type { ReceiptCheck, ReceiptVerification } from "../../protocol/receipt.ts";

export interface VeritrainErrorFields {
  status: number;
  type: string;
  code: string;
  message: string;
  param: string | null;
  requestId: string | null;
}

export class VeritrainError extends Error {
  /** The HTTP status; 0 when no response arrived (VeritrainConnectionError). */
  readonly status: number;
  /** Broad class: invalid_request_error, not_found_error, authentication_error, ... */
  readonly type: string;
  /**
   * Stable machine-readable code: one of API_ERROR_CODES (narrow it with isApiErrorCode), or the
   * client's own connection_failed, or http_<status> for a response not in the API's error shape.
   */
  readonly code: string;
  /** The request field at fault, e.g. "spec.batch_size", when there is one. */
  readonly param: string | null;
  /** The API's x-request-id: quote it when reporting a problem. */
  readonly requestId: string | null;

  constructor(fields: VeritrainErrorFields, options?: { cause?: unknown }) {
    super(fields.message, options);
    this.name = "VeritrainError";
    this.status = fields.status;
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param;
    this.requestId = fields.requestId;
  }
}

/** The API could not be reached, or the connection broke, on every attempt. */
/** No answer: the connection failed, or no answer came within the client's timeout. */
export class VeritrainConnectionError extends VeritrainError {
  constructor(message: string, cause: unknown, code: "connection_failed" | "timeout" = "connection_failed") {
    super(
      {
        status: 0,
        type: "connection_error",
        code,
        message,
        param: null,
        requestId: null,
      },
      { cause },
    );
    this.name = "VeritrainConnectionError";
  }
}

/** A receipt that does not prove what it claims about the model it came with. */
export class ReceiptVerificationError extends Error {
  /** The checks that did not hold; `verification.checks` has every check. */
  readonly failed: ReceiptCheck[];

  constructor(
    readonly jobId: string,
    readonly verification: ReceiptVerification,
  ) {
    const failed = verification.checks.filter((check) => !check.ok);
    super(
      `The receipt of ${jobId} does not verify: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
    );
    this.name = "ReceiptVerificationError";
    this.failed = failed;
  }
}
