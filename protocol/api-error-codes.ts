// Every code the Veritrain API answers an error with: a closed catalogue the API types its errors
// with (api/errors.ts), OpenAPI publishes as the Error schema's enum, and the SDK exports so a
// client can switch on it. One list, so the server and its clients cannot disagree.

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
  "balance_negative",
  "stripe_not_configured",
  "missing_signature",
  "invalid_signature",
  "checkout_session_expired",
  "checkout_session_paid",
  "return_url_refused",
  // Files.
  "file_too_large",
  "storage_quota_exceeded",
  "invalid_model",
  "unsupported_operators",
  "invalid_dataset",
  "inspection_limit_exceeded",
  // Training jobs.
  "invalid_spec",
  "wrong_file_purpose",
  "model_not_priceable",
  "model_not_trainable",
  "price_cap_exceeded",
  "init_from_invalid",
  "job_not_cancellable",
  "model_not_ready",
  "receipt_not_ready",
  // Training sweeps.
  "invalid_sweep",
  "sweep_too_large",
  "sweep_not_cancellable",
  // Webhook endpoints.
  "webhook_url_refused",
  // The node gateway.
  "missing_node_signature",
  "stale_request",
  "bad_signature",
  "replayed_request",
  "node_not_registered",
  "role_not_registered",
  "blob_not_leased",
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
  "dispute_not_found",
  "not_dispute_party",
  "not_referee",
  "delivery_not_found",
  "delivery_not_challenged",
  "segment_not_challengeable",
  "audit_not_found",
  "not_audit_verifier",
  "verdict_not_on_chain",
  "transcript_size_mismatch",
  "transcript_root_mismatch",
  "transcript_not_published",
  "chain_unavailable",
  "compute_invalid",
  // A failure on the server's side.
  "internal_error",
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(API_ERROR_CODES);

/**
 * Narrows an error's code to the catalogue (a newer server may answer codes this list lacks):
 * `if (isApiErrorCode(error.code)) switch (error.code) { case "insufficient_credits": ... }`.
 */
export function isApiErrorCode(code: string): code is ApiErrorCode {
  return KNOWN.has(code);
}
