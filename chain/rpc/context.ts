// What RPC handlers work with: the node's parts, the caller's connection (for subscriptions) and
// checked parameter readers.
import type { BlockProducer } from "../node/block-producer.ts";
import type { BlockRecord, Chain } from "../node/chain.ts";
import type { TransactionPool } from "../node/transaction-pool.ts";
import { invalidParams, unknownBlock } from "./errors.ts";

export type Node = {
  readonly chain: Chain;
  readonly pool: TransactionPool;
  readonly producer: BlockProducer;
};

/** Sends `result` as `{ subscription, result }` under the notification method chosen at subscribe. */
export type Emit = (result: unknown) => void;

export interface Connection {
  /** Starts a subscription; `start` returns its teardown. Returns the subscription id. */
  subscribe(notification: string, start: (emit: Emit) => () => void): string;
  unsubscribe(id: string): boolean;
  /**
   * Runs `task` once the reply to the request being handled has been sent: the interface spec
   * wants an operation's id in the client's hands before any notification about the operation.
   */
  afterReply(task: () => void): void;
}

export type RpcHandler = ((node: Node, params: readonly unknown[], connection: Connection) => unknown) & {
  /** The names of the parameters, for requests that pass them as an object (the interface spec's methods). */
  readonly paramNames?: readonly string[];
  /** False where the node does not offer the method: it answers "Method not found" and lists it not. */
  readonly available?: (node: Node) => boolean;
};

/** A handler offered only where `available` says so (the manual-seal methods). */
export function onlyWhere(available: (node: Node) => boolean, handler: RpcHandler): RpcHandler {
  return Object.assign(handler, { available });
}

/** A handler that also takes its parameters by name. */
export function withParamNames(paramNames: readonly string[], handler: RpcHandler): RpcHandler {
  return Object.assign(handler, { paramNames });
}

/** One RPC namespace: method name → handler. */
export type RpcNamespace = Readonly<Record<string, RpcHandler>>;

const HEX = /^0x([0-9a-fA-F]{2})*$/;

export function stringParam(params: readonly unknown[], index: number, name: string): string {
  const value = params[index];
  if (typeof value !== "string") {
    throw invalidParams(`${name} (parameter ${index + 1}) must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function booleanParam(params: readonly unknown[], index: number, name: string): boolean {
  const value = params[index];
  if (typeof value !== "boolean") {
    throw invalidParams(`${name} (parameter ${index + 1}) must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function hexParam(params: readonly unknown[], index: number, name: string): string {
  const value = params[index];
  if (typeof value !== "string" || !HEX.test(value)) {
    throw invalidParams(
      `${name} (parameter ${index + 1}) must be 0x-prefixed hex bytes, got ${JSON.stringify(value)}`,
    );
  }
  return value.toLowerCase();
}

export function optionalHexParam(
  params: readonly unknown[],
  index: number,
  name: string,
): string | undefined {
  return params[index] === undefined || params[index] === null ? undefined : hexParam(params, index, name);
}

export function numberParam(params: readonly unknown[], index: number, name: string): number {
  const value = params[index];
  const number = typeof value === "string" && value.startsWith("0x") ? Number.parseInt(value, 16) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0) {
    throw invalidParams(
      `${name} (parameter ${index + 1}) must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

export function hexListParam(params: readonly unknown[], index: number, name: string): string[] {
  const value = params[index];
  if (!Array.isArray(value))
    throw invalidParams(`${name} (parameter ${index + 1}) must be a list of hex keys`);
  return value.map((_, i) => hexParam(value, i, `${name}[${i}]`));
}

/** The block a `hash` parameter names, or the best block when it is absent. */
export function blockParam(node: Node, params: readonly unknown[], index: number): BlockRecord {
  const hash = optionalHexParam(params, index, "block hash");
  if (hash === undefined) return node.chain.head;
  const block = node.chain.block(hash);
  if (block === undefined) throw unknownBlock(hash);
  return block;
}
