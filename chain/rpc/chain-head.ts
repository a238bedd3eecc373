// chainHead_v1_*: following the head of the chain, as the JSON-RPC interface spec describes it. A
// follow subscription reports the finalized block, then every new block, best block and
// finalization; it pins each block it reports until the client unpins it, and runs body, call and
// storage operations on pinned blocks, whose results arrive as events of the same subscription.
import { compactAddLength, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import type { BlockRecord } from "../node/chain.ts";
import { hexBytes } from "../runtime/runtime.ts";
import { callRuntimeApi } from "../runtime/runtime-apis.ts";
import { RUNTIME_VERSION } from "../runtime/version.ts";
import {
  booleanParam,
  type Connection,
  type Emit,
  hexParam,
  type Node,
  type RpcNamespace,
  stringParam,
  withParamNames,
} from "./context.ts";
import { invalidParams, RpcError } from "./errors.ts";

const FOLLOW_EVENT = "chainHead_v1_followEvent";
/** Follow subscriptions per connection (the spec asks for at least 2). */
const MAX_FOLLOWS_PER_CONNECTION = 4;
/**
 * Finalized blocks `initialized` reports (the spec suggests about a minute's worth): enough for a
 * client to find the parent of the finalized block (dedot signs against it) and to resume a
 * subscription after a reconnection without a gap.
 */
const INITIAL_FINALIZED_BLOCKS = 16;
/** Blocks one subscription may keep pinned; past this it is stopped (Substrate's default). */
const MAX_PINNED_BLOCKS = 512;
/** Operations in progress per subscription, each storage item counting as one (the spec's minimum). */
const MAX_ONGOING_OPERATIONS = 16;
/** Descendant items per operationStorageItems event before waiting for chainHead_v1_continue (Substrate's default). */
const STORAGE_ITEMS_PER_PAGE = 5;

const STORAGE_QUERY_TYPES = [
  "value",
  "hash",
  "closestDescendantMerkleValue",
  "descendantsValues",
  "descendantsHashes",
] as const;
type StorageQuery = { readonly key: string; readonly type: (typeof STORAGE_QUERY_TYPES)[number] };
type StorageItem = { readonly key: string } & Readonly<Record<string, string>>;

type Operation = {
  readonly id: string;
  readonly slots: number;
  /** Set while the operation waits for chainHead_v1_continue. */
  resume: (() => void) | undefined;
};

/** The runtime as `initialized` describes it (`apis` an object, unlike in state_getRuntimeVersion). */
const RUNTIME_JSON = (() => {
  const { specName, implName, specVersion, implVersion, transactionVersion, apis } = RUNTIME_VERSION;
  return {
    type: "valid",
    spec: {
      specName,
      implName,
      specVersion,
      implVersion,
      transactionVersion,
      apis: Object.fromEntries(apis),
    },
  };
})();

class Follow {
  readonly #pinned = new Set<string>();
  readonly #operations = new Map<string, Operation>();
  #ongoing = 0;
  #operationCount = 0;
  #finalized = 0;
  #emit: Emit = () => undefined;

  constructor(
    readonly node: Node,
    readonly withRuntime: boolean,
    /** Ends the subscription (after a `stop` event). */
    readonly end: () => void,
  ) {}

  emit(event: Record<string, unknown>): void {
    this.#emit(event);
  }

  /** Reports the finalized block and those above it through `emit`; returns the teardown. */
  start(emit: Emit): () => void {
    this.#emit = emit;
    const { chain } = this.node;
    const finalized = chain.finalized;
    this.#finalized = finalized.number;
    const finalizedBlockHashes: string[] = [];
    for (
      let number = Math.max(0, finalized.number - INITIAL_FINALIZED_BLOCKS + 1);
      number <= finalized.number;
      number++
    ) {
      finalizedBlockHashes.push(chain.block(number)!.hash);
    }
    for (const hash of finalizedBlockHashes) this.#pinned.add(hash);
    this.emit({
      event: "initialized",
      finalizedBlockHashes,
      ...(this.withRuntime ? { finalizedBlockRuntime: RUNTIME_JSON } : {}),
    });
    for (let number = finalized.number + 1; number <= chain.head.number; number++) {
      this.#newBlock(chain.block(number)!);
    }
    this.emit({ event: "bestBlockChanged", bestBlockHash: chain.head.hash });
    const stopBlocks = chain.onBlock((block) => {
      if (this.#newBlock(block)) this.emit({ event: "bestBlockChanged", bestBlockHash: block.hash });
    });
    const stopFinality = chain.onFinalized((block) => this.#finalize(block));
    return () => {
      stopBlocks();
      stopFinality();
      this.#operations.clear();
    };
  }

  /** Pins and reports a block; false when the pin limit stopped the subscription instead. */
  #newBlock(block: BlockRecord): boolean {
    if (this.#pinned.size >= MAX_PINNED_BLOCKS) {
      this.emit({ event: "stop" });
      this.end();
      return false;
    }
    this.#pinned.add(block.hash);
    this.emit({
      event: "newBlock",
      blockHash: block.hash,
      parentBlockHash: block.header.fields.parentHash,
      ...(this.withRuntime ? { newRuntime: null } : {}),
    });
    return true;
  }

  #finalize(block: BlockRecord): void {
    if (block.number <= this.#finalized) return;
    const hashes: string[] = [];
    for (let number = this.#finalized + 1; number <= block.number; number++) {
      hashes.push(this.node.chain.block(number)!.hash);
    }
    this.#finalized = block.number;
    this.emit({ event: "finalized", finalizedBlockHashes: hashes, prunedBlockHashes: [] });
  }

  /** A block this subscription has pinned (-32801 otherwise). */
  pinnedBlock(hash: string): BlockRecord {
    const block = this.#pinned.has(hash) ? this.node.chain.block(hash) : undefined;
    if (block === undefined) throw notPinned(hash);
    return block;
  }

  unpin(hashes: readonly string[]): void {
    for (const hash of hashes) this.pinnedBlock(hash);
    for (const hash of hashes) this.#pinned.delete(hash);
  }

  /** Reserves up to `slots` operation slots; undefined when none is free. */
  begin(slots: number): Operation | undefined {
    const granted = Math.min(slots, MAX_ONGOING_OPERATIONS - this.#ongoing);
    if (granted <= 0) return undefined;
    const operation: Operation = { id: String(this.#operationCount++), slots: granted, resume: undefined };
    this.#operations.set(operation.id, operation);
    this.#ongoing += granted;
    return operation;
  }

  /** Ends an operation with its last event; nothing is sent for a stopped one. */
  finish(operation: Operation, event: Record<string, unknown>): void {
    if (!this.#operations.delete(operation.id)) return;
    this.#ongoing -= operation.slots;
    this.emit({ ...event, operationId: operation.id });
  }

  /** Sends an event of an operation still in progress. */
  report(operation: Operation, event: Record<string, unknown>): boolean {
    if (!this.#operations.has(operation.id)) return false;
    this.emit({ ...event, operationId: operation.id });
    return true;
  }

  operation(id: string): Operation | undefined {
    return this.#operations.get(id);
  }

  stopOperation(id: string): void {
    const operation = this.#operations.get(id);
    if (operation === undefined) return;
    this.#operations.delete(id);
    this.#ongoing -= operation.slots;
  }
}

function notPinned(hash: string): RpcError {
  return new RpcError(-32801, `Invalid block hash: ${hash} is not pinned by this subscription`);
}

const follows = new WeakMap<Connection, Map<string, Follow>>();

function followsOf(connection: Connection): Map<string, Follow> {
  let found = follows.get(connection);
  if (found === undefined) {
    found = new Map();
    follows.set(connection, found);
  }
  return found;
}

function followParam(params: readonly unknown[], connection: Connection): Follow | undefined {
  return followsOf(connection).get(stringParam(params, 0, "followSubscription"));
}

function storageQueries(params: readonly unknown[]): StorageQuery[] {
  const items = params[2];
  if (!Array.isArray(items)) throw invalidParams("items (parameter 3) must be a list of { key, type }");
  return items.map((item: unknown, index) => {
    const { key, type } = (item ?? {}) as { key?: unknown; type?: unknown };
    if (!STORAGE_QUERY_TYPES.includes(type as StorageQuery["type"])) {
      throw invalidParams(`items[${index}].type must be one of ${STORAGE_QUERY_TYPES.join(", ")}`);
    }
    return { key: hexParam([key], 0, `items[${index}].key`), type: type as StorageQuery["type"] };
  });
}

/**
 * What the spec calls the closest descendant's Merkle value. This chain's state is not a trie
 * (chain/README.md), so it is a digest of every entry under the key instead: like the Merkle value
 * it changes exactly when a value under the key changes, which is what clients watch it for.
 */
function descendantsDigest(node: Node, block: BlockRecord, keys: readonly string[]): string {
  const state = node.chain.stateAt(block);
  return blake2AsHex(
    u8aConcat(...keys.flatMap((key) => [compactAddLength(hexBytes(key)), compactAddLength(state.get(key)!)])),
    256,
  );
}

/** Answers a storage operation: direct items at once, descendants a page per chainHead_v1_continue. */
function runStorage(
  node: Node,
  follow: Follow,
  operation: Operation,
  block: BlockRecord,
  queries: readonly StorageQuery[],
): void {
  const state = node.chain.stateAt(block);
  const direct: StorageItem[] = [];
  const descendants: { key: string; hashed: boolean }[] = [];
  for (const { key, type } of queries) {
    if (type === "descendantsValues" || type === "descendantsHashes") {
      for (const found of node.chain.store.keysAt(key, block.number)) {
        descendants.push({ key: found, hashed: type === "descendantsHashes" });
      }
      continue;
    }
    if (type === "closestDescendantMerkleValue") {
      const keys = node.chain.store.keysAt(key, block.number);
      if (keys.length > 0)
        direct.push({ key, closestDescendantMerkleValue: descendantsDigest(node, block, keys) });
      continue;
    }
    const value = state.get(key);
    if (value === undefined) continue;
    direct.push(type === "value" ? { key, value: u8aToHex(value) } : { key, hash: blake2AsHex(value, 256) });
  }
  if (direct.length > 0 && !follow.report(operation, { event: "operationStorageItems", items: direct }))
    return;
  const page = (from: number): void => {
    const items = descendants
      .slice(from, from + STORAGE_ITEMS_PER_PAGE)
      .map(({ key, hashed }): StorageItem => {
        const value = state.get(key)!;
        return hashed ? { key, hash: blake2AsHex(value, 256) } : { key, value: u8aToHex(value) };
      });
    if (items.length > 0 && !follow.report(operation, { event: "operationStorageItems", items })) return;
    const next = from + STORAGE_ITEMS_PER_PAGE;
    if (next >= descendants.length) {
      follow.finish(operation, { event: "operationStorageDone" });
      return;
    }
    operation.resume = () => page(next);
    follow.report(operation, { event: "operationWaitingForContinue" });
  };
  page(0);
}

export const chainHeadRpc: RpcNamespace = {
  chainHead_v1_follow: withParamNames(["withRuntime"], (node, params, connection) => {
    const withRuntime = booleanParam(params, 0, "withRuntime");
    const mine = followsOf(connection);
    if (mine.size >= MAX_FOLLOWS_PER_CONNECTION) {
      throw new RpcError(-32800, "Maximum number of chainHead_follow has been reached");
    }
    let id = "";
    const follow = new Follow(node, withRuntime, () => connection.unsubscribe(id));
    id = connection.subscribe(FOLLOW_EVENT, (emit) => {
      const teardown = follow.start(emit);
      return () => {
        teardown();
        mine.delete(id);
      };
    });
    mine.set(id, follow);
    return id;
  }),
  chainHead_v1_unfollow: withParamNames(["followSubscription"], (_node, params, connection) => {
    const id = stringParam(params, 0, "followSubscription");
    if (followsOf(connection).has(id)) connection.unsubscribe(id);
    return null;
  }),
  chainHead_v1_header: withParamNames(["followSubscription", "hash"], (_node, params, connection) => {
    const follow = followParam(params, connection);
    const hash = hexParam(params, 1, "hash");
    if (follow === undefined) return null;
    return u8aToHex(follow.pinnedBlock(hash).header.bytes);
  }),
  chainHead_v1_body: withParamNames(["followSubscription", "hash"], (_node, params, connection) => {
    const follow = followParam(params, connection);
    const hash = hexParam(params, 1, "hash");
    if (follow === undefined) return { result: "limitReached" };
    const block = follow.pinnedBlock(hash);
    const operation = follow.begin(1);
    if (operation === undefined) return { result: "limitReached" };
    connection.afterReply(() =>
      follow.finish(operation, {
        event: "operationBodyDone",
        value: block.extrinsics.map((extrinsic) => u8aToHex(extrinsic)),
      }),
    );
    return { result: "started", operationId: operation.id };
  }),
  chainHead_v1_call: withParamNames(
    ["followSubscription", "hash", "function", "callParameters"],
    (node, params, connection) => {
      const follow = followParam(params, connection);
      const hash = hexParam(params, 1, "hash");
      const method = stringParam(params, 2, "function");
      const input = hexBytes(params[3] === "" ? "0x" : hexParam(params, 3, "callParameters"));
      if (follow === undefined) return { result: "limitReached" };
      const block = follow.pinnedBlock(hash);
      if (!follow.withRuntime) {
        throw new RpcError(-32802, "chainHead_v1_call needs a subscription that follows the runtime");
      }
      const operation = follow.begin(1);
      if (operation === undefined) return { result: "limitReached" };
      connection.afterReply(() => {
        let output: Uint8Array;
        try {
          output = callRuntimeApi(node.chain.runtimeHost(block), method, input);
        } catch (error) {
          // Whatever stops a runtime call is a trap of the Wasm runtime for the client.
          follow.finish(operation, { event: "operationError", error: (error as Error).message });
          return;
        }
        follow.finish(operation, { event: "operationCallDone", output: u8aToHex(output) });
      });
      return { result: "started", operationId: operation.id };
    },
  ),
  chainHead_v1_storage: withParamNames(
    ["followSubscription", "hash", "items", "childTrie"],
    (node, params, connection) => {
      const follow = followParam(params, connection);
      const hash = hexParam(params, 1, "hash");
      const queries = storageQueries(params);
      const childTrie =
        params[3] === undefined || params[3] === null ? null : hexParam(params, 3, "childTrie");
      if (follow === undefined) return { result: "limitReached" };
      const block = follow.pinnedBlock(hash);
      const operation = follow.begin(queries.length);
      if (operation === undefined) return { result: "limitReached" };
      // There are no child tries on this chain: a child trie query finds nothing.
      const accepted = childTrie === null ? queries.slice(0, operation.slots) : [];
      connection.afterReply(() => runStorage(node, follow, operation, block, accepted));
      return {
        result: "started",
        operationId: operation.id,
        discardedItems: queries.length - operation.slots,
      };
    },
  ),
  chainHead_v1_continue: withParamNames(
    ["followSubscription", "operationId"],
    (_node, params, connection) => {
      const follow = followParam(params, connection);
      const operation = follow?.operation(stringParam(params, 1, "operationId"));
      if (operation === undefined) return null;
      const resume = operation.resume;
      if (resume === undefined) {
        throw new RpcError(-32803, "Wait for continue event was not generated for the subscription");
      }
      operation.resume = undefined;
      connection.afterReply(resume);
      return null;
    },
  ),
  chainHead_v1_stopOperation: withParamNames(
    ["followSubscription", "operationId"],
    (_node, params, connection) => {
      followParam(params, connection)?.stopOperation(stringParam(params, 1, "operationId"));
      return null;
    },
  ),
  chainHead_v1_unpin: withParamNames(["followSubscription", "hashOrHashes"], (_node, params, connection) => {
    const follow = followParam(params, connection);
    const given = params[1];
    const hashes = Array.isArray(given)
      ? given.map((_, index) => hexParam(given, index, `hashOrHashes[${index}]`))
      : [hexParam(params, 1, "hashOrHashes")];
    if (follow === undefined) return null;
    if (new Set(hashes).size !== hashes.length) {
      throw new RpcError(-32804, "Invalid duplicate hashes: a hash appears twice in hashOrHashes");
    }
    follow.unpin(hashes);
    return null;
  }),
};
