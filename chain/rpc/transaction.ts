// transaction_v1_* and transactionWatch_v1_*: the JSON-RPC interface spec's two ways of submitting
// a transaction, broadcast it (with nothing reported back) or submit and watch it to finality.
import { randomBytes } from "node:crypto";
import type { TransactionStatus } from "../node/transaction-pool.ts";
import { AlreadyImportedError } from "../node/transaction-pool.ts";
import { hexBytes } from "../runtime/runtime.ts";
import { ExtrinsicFormatError } from "../runtime/transaction-check.ts";
import { InvalidTransaction, UnknownTransaction } from "../runtime/transaction-validity.ts";
import {
  type Connection,
  hexParam,
  type Node,
  type RpcNamespace,
  stringParam,
  withParamNames,
} from "./context.ts";
import { RpcError } from "./errors.ts";

const WATCH_EVENT = "transactionWatch_v1_watchEvent";
/** Transactions one connection may have broadcasting at once (the spec asks for at least 4). */
const MAX_BROADCASTS_PER_CONNECTION = 64;

type Broadcast = { broadcasting: boolean; stop(): void };

const broadcasts = new WeakMap<Connection, Map<string, Broadcast>>();
const watches = new WeakMap<Connection, Set<string>>();

function registry<T>(map: WeakMap<Connection, T>, connection: Connection, create: () => T): T {
  let found = map.get(connection);
  if (found === undefined) {
    found = create();
    map.set(connection, found);
  }
  return found;
}

/** The `invalid` (or, for a fault of the node, `error`) event of a refused submission, worded as Substrate's. */
function refusalEvent(error: unknown): { event: "invalid" | "error"; error: string } {
  if (error instanceof InvalidTransaction)
    return { event: "invalid", error: `Invalid transaction: ${error.message}` };
  if (error instanceof UnknownTransaction) {
    return { event: "invalid", error: `Unknown transaction validity: ${error.message}` };
  }
  if (error instanceof AlreadyImportedError)
    return { event: "invalid", error: "Transaction is already imported" };
  if (error instanceof ExtrinsicFormatError) return { event: "invalid", error: error.message };
  return { event: "error", error: (error as Error).message };
}

/** The pool's admission of `bytes`; a refusal, even of bytes that do not decode, rejects. */
function submitted(node: Node, bytes: Uint8Array) {
  return new Promise<Awaited<ReturnType<Node["pool"]["submit"]>>>((resolve) =>
    resolve(node.pool.submit(bytes)),
  );
}

/**
 * Submits a transaction and keeps it in the pool until it is finalized: like Substrate's, a
 * transaction that was admitted and then fell out (refused when a block applied it) is submitted
 * again on the next block; one refused on submission is left alone.
 */
function broadcast(node: Node, bytes: Uint8Array): Broadcast {
  let stopWatching = (): unknown => undefined;
  const state: Broadcast = {
    broadcasting: true,
    stop() {
      state.broadcasting = false;
      stopWatching();
    },
  };
  const submit = (): void => {
    submitted(node, bytes).then(
      (transaction) => {
        if (!state.broadcasting) return;
        stopWatching = node.pool.watch(transaction.hash, (status) => {
          if (status.kind === "finalized") state.broadcasting = false;
          if (status.kind !== "invalid" || !state.broadcasting) return;
          stopWatching = node.chain.onBlock(() => {
            stopWatching();
            if (state.broadcasting) submit();
          });
        });
      },
      () => {
        state.broadcasting = false;
      },
    );
  };
  submit();
  return state;
}

function watchEvent(status: TransactionStatus) {
  switch (status.kind) {
    case "inBlock":
      return { event: "bestChainBlockIncluded", block: { hash: status.block, index: status.index } };
    case "finalized":
      return { event: "finalized", block: { hash: status.block, index: status.index } };
    case "invalid":
      return { event: "invalid", error: `Invalid transaction: ${status.reason.message}` };
  }
}

export const transactionRpc: RpcNamespace = {
  transaction_v1_broadcast: withParamNames(["transaction"], (node, params, connection) => {
    const bytes = hexBytes(hexParam(params, 0, "transaction"));
    const mine = registry(broadcasts, connection, () => new Map<string, Broadcast>());
    let broadcasting = 0;
    for (const operation of mine.values()) if (operation.broadcasting) broadcasting++;
    if (broadcasting >= MAX_BROADCASTS_PER_CONNECTION) return null;
    const id = randomBytes(8).toString("hex");
    mine.set(id, broadcast(node, bytes));
    return id;
  }),
  transaction_v1_stop: withParamNames(["operationId"], (_node, params, connection) => {
    const id = stringParam(params, 0, "operationId");
    const mine = broadcasts.get(connection);
    const operation = mine?.get(id);
    if (operation === undefined) throw new RpcError(-32602, "Invalid operation id");
    operation.stop();
    mine?.delete(id);
    return null;
  }),
  transactionWatch_v1_submitAndWatch: withParamNames(["transaction"], (node, params, connection) => {
    const bytes = hexBytes(hexParam(params, 0, "transaction"));
    const mine = registry(watches, connection, () => new Set<string>());
    let id = "";
    id = connection.subscribe(WATCH_EVENT, (emit) => {
      let watching = true;
      let stopWatching = (): unknown => undefined;
      // `finalized`, `invalid` and `error` are the last events: the subscription ends with them.
      const last = (event: object) => {
        emit(event);
        watching = false;
        connection.afterReply(() => connection.unsubscribe(id));
      };
      submitted(node, bytes).then(
        (transaction) => {
          if (!watching) return;
          emit({ event: "validated" });
          stopWatching = node.pool.watch(transaction.hash, (status) => {
            const event = watchEvent(status);
            if (status.kind === "inBlock") emit(event);
            else last(event);
          });
        },
        (error: unknown) => {
          if (watching) last(refusalEvent(error));
        },
      );
      return () => {
        watching = false;
        stopWatching();
        mine.delete(id);
      };
    });
    mine.add(id);
    return id;
  }),
  transactionWatch_v1_unwatch: withParamNames(["subscription"], (_node, params, connection) => {
    const id = stringParam(params, 0, "subscription");
    if (!watches.get(connection)?.has(id)) throw new RpcError(-32602, "Invalid subscription id");
    connection.unsubscribe(id);
    return null;
  }),
};
