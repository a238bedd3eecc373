export type LeaseErrorCode = "MALFORMED_LEASE" | "LEASE_LOST";

/** A node's lease could not be used: it is not a lease id, or the node no longer holds the task. */
export class LeaseError extends Error {
  constructor(
    readonly code: LeaseErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "LeaseError";
  }
}
