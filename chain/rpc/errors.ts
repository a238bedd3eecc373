// JSON-RPC errors with the codes a Substrate node answers with.

import { AlreadyImportedError } from "../node/transaction-pool.ts";
import { ExtrinsicFormatError } from "../runtime/transaction-check.ts";
import { InvalidTransaction, UnknownTransaction } from "../runtime/transaction-validity.ts";

export type RpcErrorCode =
  | -32700 // parse error
  | -32600 // invalid request
  | -32601 // method not found
  | -32602 // invalid params
  | -32603 // internal error
  | -32800 // chainHead: too many follow subscriptions on this connection
  | -32801 // chainHead: block not pinned by this subscription (never reported, or unpinned)
  | -32802 // chainHead: call on a subscription that does not follow the runtime
  | -32803 // chainHead: continue on an operation that is not waiting for it
  | -32804 // chainHead: the same hash twice in one unpin
  | 1001 // author: extrinsic has an invalid format
  | 1010 // author: invalid transaction
  | 1011 // author: unknown transaction validity
  | 1013 // author: transaction already imported
  | 4003 // state / chain: client error (unknown block, runtime call failed)
  | 12000 // engine: createBlock without transactions and createEmpty false
  | 13000; // engine: block not found

export class RpcError extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
    readonly data?: string,
  ) {
    super(message);
    this.name = "RpcError";
  }

  toJSON(): { code: number; message: string; data?: string } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(-32602, `Invalid params: ${message}`);
}

export function unknownBlock(hash: string): RpcError {
  return new RpcError(4003, `Client error: UnknownBlock: Header was not found in the database: ${hash}`);
}

/** The author_* answer to a refused extrinsic, worded like Substrate's transaction pool errors. */
export function submissionError(error: unknown): RpcError {
  if (error instanceof InvalidTransaction) return new RpcError(1010, "Invalid Transaction", error.message);
  if (error instanceof UnknownTransaction)
    return new RpcError(1011, "Unknown Transaction Validity", error.message);
  if (error instanceof ExtrinsicFormatError) return new RpcError(1001, error.message);
  if (error instanceof AlreadyImportedError) return new RpcError(1013, "Transaction Already Imported");
  throw error;
}
