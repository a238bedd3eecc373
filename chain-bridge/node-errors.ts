// What a node's refusal of a transaction means for the submitter. Substrate answers
// author_submitExtrinsic with RPC error 1010 (invalid: the reason in words), 1011 (unknown),
// 1012 (temporarily banned), 1013 (already imported), 1014 (priority too low: a transaction with
// the same nonce is in the pool). The words are sp_runtime's, e.g. "Transaction is outdated".
import type { ModuleError } from "./errors.ts";
import { BridgeError } from "./errors.ts";

export type Refusal =
  /** The nonce was already used: resync, and check whether our own transaction got in. */
  | "stale"
  /** The nonce is ahead of the account: an earlier transaction never arrived. Resync. */
  | "future"
  /** This exact extrinsic is already in the pool: wait for it. */
  | "already_imported"
  /** Another transaction holds this nonce in the pool. */
  | "nonce_taken"
  /** Anything else (bad signature, fees, call): retrying the same thing will not help. */
  | "fatal";

export function classifyRefusal(error: unknown): { refusal: Refusal; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (/1010/.test(message) && /outdated|stale/i.test(message)) return { refusal: "stale", message };
  if (/1010/.test(message) && /future/i.test(message)) return { refusal: "future", message };
  if (/1013|already imported/i.test(message)) return { refusal: "already_imported", message };
  if (/1014|priority is too low/i.test(message)) return { refusal: "nonce_taken", message };
  return { refusal: "fatal", message };
}

export function invalidTransaction(message: string): BridgeError {
  return new BridgeError("TRANSACTION_INVALID", `the chain node refused the transaction: ${message}`);
}

export function dispatchFailed(purpose: string, module: ModuleError | null, detail: string): BridgeError {
  const what = module ? `${module.pallet}.${module.name}${module.docs ? ` (${module.docs})` : ""}` : detail;
  return new BridgeError("DISPATCH_FAILED", `${purpose} failed on chain: ${what}`, module);
}
