// What the services refuse, in their own terms. A service knows nothing of HTTP: it throws its
// own DomainError subclass with one of its codes, all of them listed here, and the errors plugin
// (api/plugins/errors.ts) is the one place that answers each code with a status and a code of the
// API's catalogue (api/errors.ts). Errors that are not refusals (bugs, outages) stay plain.

export const DOMAIN_ERROR_CODES = [
  "not_found",
  // accounts.ts
  "email_taken",
  "invalid_credentials",
  // ledger.ts
  "insufficient_funds",
  "balance_negative",
  // files.ts and inspection/
  "file_too_large",
  "invalid_model",
  "unsupported_operators",
  "invalid_dataset",
  "inspection_limit_exceeded",
  // storage-quota.ts
  "storage_quota_exceeded",
  // quotes.ts
  "invalid_spec",
  "wrong_file_purpose",
  "model_not_priceable",
  "model_not_trainable",
  "pricing_limit_exceeded",
  // jobs.ts
  "price_cap_exceeded",
  "init_from_invalid",
  "job_not_cancellable",
  "model_not_ready",
  "receipt_not_ready",
  // sweep-variants.ts
  "sweep_invalid",
  "sweep_too_large",
  "sweep_not_cancellable",
  // job-reports.ts
  "not_committed",
  "commitment_mismatch",
  // stripe.ts
  "payments_not_configured",
  "webhook_signature_missing",
  "webhook_signature_invalid",
  "webhook_event_malformed",
  // local-checkout.ts
  "checkout_session_expired",
  "checkout_session_paid",
  // checkout-return-urls.ts
  "return_url_refused",
  // webhooks/
  "webhook_url_refused",
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

/** A request a service refuses for a reason the caller can act on; never a bug. */
export abstract class DomainError<Code extends DomainErrorCode = DomainErrorCode> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    /** The input at fault, named as the request names it ("spec.optimizer.lr"), if one is. */
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** An id that names nothing the caller may see: unknown, deleted, or another organization's. */
export class NotFoundError extends DomainError<"not_found"> {
  constructor(resource: string, id: string, param: string | null = null) {
    super("not_found", `No such ${resource}: '${id}'`, param);
  }
}
