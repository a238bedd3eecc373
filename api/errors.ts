// Every error the API answers is one of these, rendered as
// {"error": {"type", "code", "message", "param"}} with the status that fits. The codes are a
// closed catalogue (protocol/api-error-codes.ts): OpenAPI publishes them as the Error schema's
// enum, the SDK exports the same list, and clients switch on them. Services throw domain errors; api/plugins/errors.ts maps them to these.
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "idempotency_error"
  | "rate_limit_error"
  | "payment_error"
  | "api_error";

import type { ApiErrorCode } from "../protocol/api-error-codes.ts";

export { API_ERROR_CODES, type ApiErrorCode } from "../protocol/api-error-codes.ts";

export interface ErrorBody {
  error: { type: ErrorType; code: ApiErrorCode; message: string; param: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: ErrorType,
    readonly code: ApiErrorCode,
    message: string,
    readonly param: string | null = null,
    /** More fields of the error object, for the codes whose schema has them (unsupported_operators). */
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): ErrorBody {
    return {
      error: { type: this.type, code: this.code, message: this.message, param: this.param, ...this.fields },
    };
  }

  static badRequest(code: ApiErrorCode, message: string, param: string | null = null): ApiError {
    return new ApiError(400, "invalid_request_error", code, message, param);
  }

  static notFound(resource: string, id: string, param: string | null = null): ApiError {
    return new ApiError(404, "not_found_error", "resource_missing", `No such ${resource}: '${id}'`, param);
  }
}
