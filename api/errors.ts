// Every error the API answers is one of these, rendered as
// {"error": {"type", "code", "message", "param"}} with the status that fits. The codes are a
// closed catalogue: OpenAPI publishes them as the Error schema's enum, the SDK exports the same
// list (sdk/src/error-codes.ts; test/sdk-conformance.ts keeps the two equal), and clients switch
// on them. Services throw domain errors; api/plugins/errors.ts maps them to these.
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "idempotency_error"
  | "rate_limit_error"
  | "payment_error"
  | "api_error";

export const API_ERROR_CODES = [
  // The request's form: fields, body, content type, route.
  "parameter_invalid",
  "invalid_json",
  "body_too_large",
  "unsupported_media_type",
  "malformed_multipart",
  "bad_request",
  "route_not_found",
  "resource_missing",
  // Who is calling.
  "missing_credentials",
  "invalid_authorization_header",
  "invalid_api_key",
  "invalid_credentials",
  "session_expired",
  "csrf_token_invalid",
  "rate_limited",
  // Idempotency-Key.
  "idempotency_key_reused",
  "idempotency_request_in_progress",
  // Accounts and billing.
  "email_taken",
  "insufficient_credits",
  "stripe_not_configured",
  "missing_signature",
  "invalid_signature",
  "checkout_session_expired",
  "checkout_session_paid",
  // Files.
  "file_too_large",
  "invalid_model",
  "unsupported_operators",
  "invalid_dataset",
  "inspection_limit_exceeded",
  // Training jobs.
  "invalid_spec",
  "wrong_file_purpose",
  "model_not_priceable",
  "price_cap_exceeded",
  "job_not_cancellable",
  "model_not_ready",
  "receipt_not_ready",
  // The node gateway.
  "missing_node_signature",
  "stale_request",
  "bad_signature",
  "replayed_request",
  "node_not_registered",
  "role_not_registered",
  "invalid_lease",
  "lease_lost",
  "progress_invalid",
  "checkpoint_step_invalid",
  "checkpoint_conflict",
  "content_hash_mismatch",
  "checkpoint_invalid",
  "model_mismatch",
  "commitment_invalid",
  "not_committed",
  "verdict_invalid",
  // A failure on the server's side.
  "internal_error",
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

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
