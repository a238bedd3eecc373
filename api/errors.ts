// Every error the API answers is one of these, rendered as
// {"error": {"type", "code", "message", "param"}} with the status that fits.
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "idempotency_error"
  | "rate_limit_error"
  | "payment_error"
  | "api_error";

export interface ErrorBody {
  error: { type: ErrorType; code: string; message: string; param: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): ErrorBody {
    return { error: { type: this.type, code: this.code, message: this.message, param: this.param } };
  }

  static badRequest(code: string, message: string, param: string | null = null): ApiError {
    return new ApiError(400, "invalid_request_error", code, message, param);
  }

  static notFound(resource: string, id: string, param: string | null = null): ApiError {
    return new ApiError(404, "not_found_error", "resource_missing", `No such ${resource}: '${id}'`, param);
  }
}
