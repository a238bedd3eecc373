// Turns every failure (ours, the services' refusals, Fastify's validation, malformed bodies,
// unknown routes) into the one error shape with a catalogued code, so clients parse a single
// format whatever went wrong.
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { ApiError, type ApiErrorCode, type ErrorType } from "../errors.ts";
import { DomainError, type DomainErrorCode } from "../services/domain-errors.ts";
import { FileRejectedError } from "../services/inspection/rejection.ts";

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

function paramOf(issue: ValidationIssue): string | null {
  const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const missing = issue.keyword === "required" ? String(issue.params.missingProperty ?? "") : "";
  const extra = issue.keyword === "additionalProperties" ? String(issue.params.additionalProperty ?? "") : "";
  const leaf = missing || extra;
  const full = [path, leaf].filter(Boolean).join(".");
  return full || null;
}

function describe(issue: ValidationIssue, context: string | undefined): string {
  const param = paramOf(issue);
  const where = `${context ?? "request"}${param ? ` field '${param}'` : ""}`;
  if (issue.keyword === "additionalProperties") return `Unknown ${where}: it is not accepted here`;
  if (issue.keyword === "required") return `Missing required ${where}`;
  if (issue.keyword === "enum") {
    const allowed = (issue.params.allowedValues as unknown[] | undefined)
      ?.map((v) => JSON.stringify(v))
      .join(", ");
    return `Invalid ${where}: must be one of ${allowed}`;
  }
  return `Invalid ${where}: ${issue.message ?? "invalid value"}`;
}

type Answer = readonly [status: number, type: ErrorType, code: ApiErrorCode];

/** How the API answers each refusal of a service: the one place domain errors meet HTTP. */
const DOMAIN_ANSWERS: Readonly<Record<DomainErrorCode, Answer>> = {
  not_found: [404, "not_found_error", "resource_missing"],
  email_taken: [409, "invalid_request_error", "email_taken"],
  invalid_credentials: [401, "authentication_error", "invalid_credentials"],
  insufficient_funds: [402, "payment_error", "insufficient_credits"],
  balance_negative: [402, "payment_error", "balance_negative"],
  file_too_large: [413, "invalid_request_error", "file_too_large"],
  storage_quota_exceeded: [413, "invalid_request_error", "storage_quota_exceeded"],
  invalid_model: [422, "invalid_request_error", "invalid_model"],
  unsupported_operators: [422, "invalid_request_error", "unsupported_operators"],
  invalid_dataset: [422, "invalid_request_error", "invalid_dataset"],
  inspection_limit_exceeded: [422, "invalid_request_error", "inspection_limit_exceeded"],
  invalid_spec: [400, "invalid_request_error", "invalid_spec"],
  wrong_file_purpose: [400, "invalid_request_error", "wrong_file_purpose"],
  // A quote names the model as the field at fault, whatever the pricing worker found.
  model_not_priceable: [400, "invalid_request_error", "model_not_priceable"],
  // The training step, built and run once on zeros of the dataset's shapes, fails: the message names the node.
  model_not_trainable: [400, "invalid_request_error", "model_not_trainable"],
  pricing_limit_exceeded: [400, "invalid_request_error", "inspection_limit_exceeded"],
  price_cap_exceeded: [400, "invalid_request_error", "price_cap_exceeded"],
  init_from_invalid: [400, "invalid_request_error", "init_from_invalid"],
  job_not_cancellable: [409, "invalid_request_error", "job_not_cancellable"],
  model_not_ready: [409, "invalid_request_error", "model_not_ready"],
  receipt_not_ready: [409, "invalid_request_error", "receipt_not_ready"],
  sweep_invalid: [400, "invalid_request_error", "invalid_sweep"],
  sweep_too_large: [400, "invalid_request_error", "sweep_too_large"],
  sweep_not_cancellable: [409, "invalid_request_error", "sweep_not_cancellable"],
  not_committed: [409, "invalid_request_error", "not_committed"],
  commitment_mismatch: [400, "invalid_request_error", "commitment_invalid"],
  payments_not_configured: [503, "api_error", "stripe_not_configured"],
  webhook_signature_missing: [400, "invalid_request_error", "missing_signature"],
  webhook_signature_invalid: [400, "invalid_request_error", "invalid_signature"],
  webhook_event_malformed: [400, "invalid_request_error", "invalid_json"],
  checkout_session_expired: [409, "invalid_request_error", "checkout_session_expired"],
  checkout_session_paid: [409, "invalid_request_error", "checkout_session_paid"],
  return_url_refused: [400, "invalid_request_error", "return_url_refused"],
  webhook_url_refused: [400, "invalid_request_error", "webhook_url_refused"],
};

function fromDomain(error: DomainError): ApiError {
  const [status, type, code] = DOMAIN_ANSWERS[error.code];
  // The one refusal whose answer carries data beyond the message (the FileRejected schema).
  const fields =
    error instanceof FileRejectedError && error.unsupportedOperators.length > 0
      ? { unsupported_operators: error.unsupportedOperators }
      : {};
  return new ApiError(status, type, code, error.message, error.param, fields);
}

/** The API's answer to anything a request ended with: ours, a service's refusal, or Fastify's. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DomainError) return fromDomain(error);
  // Fastify's errors, and whatever else was thrown (anything can be), read for the same fields.
  const fastify: Partial<FastifyError> = typeof error === "object" && error !== null ? error : {};
  const issues = fastify.validation as ValidationIssue[] | undefined;
  if (issues && issues.length > 0) {
    const first = issues[0]!;
    return ApiError.badRequest(
      "parameter_invalid",
      describe(first, fastify.validationContext),
      paramOf(first),
    );
  }
  const message = fastify.message ?? "";
  switch (fastify.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return ApiError.badRequest("invalid_json", `The request body is not valid JSON: ${message}`);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
    case "FST_REQ_FILE_TOO_LARGE":
      return new ApiError(413, "invalid_request_error", "body_too_large", message);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError(415, "invalid_request_error", "unsupported_media_type", message);
    case "FST_ERR_RATE_LIMIT":
      return new ApiError(429, "rate_limit_error", "rate_limited", message);
  }
  const status = fastify.statusCode ?? 500;
  // Any other client error Fastify or a plugin raises; its own code stays in the log.
  if (status >= 400 && status < 500)
    return new ApiError(status, "invalid_request_error", "bad_request", message);
  return new ApiError(500, "api_error", "internal_error", "An internal error occurred; it has been logged");
}

export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const apiError = toApiError(error);
      if (apiError.statusCode >= 500) request.log.error({ err: error }, "request failed");
      else
        request.log.info(
          { code: apiError.code, status: apiError.statusCode, cause: error.code },
          apiError.message,
        );
      return reply.status(apiError.statusCode).send(apiError.toBody());
    });
    app.setNotFoundHandler((request, reply) => {
      const error = new ApiError(
        404,
        "not_found_error",
        "route_not_found",
        `No route ${request.method} ${request.url.split("?")[0]}; see /docs for the API reference`,
      );
      return reply.status(404).send(error.toBody());
    });
  },
  { name: "errors" },
);
