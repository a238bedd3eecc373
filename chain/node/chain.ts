// The chain: genesis, the sealed blocks and their states, block production on top of the head, and
// the journal that makes it survive restarts. Every sealed block is final (single authority).
import type { Header } from "@polkadot/types/interfaces";
import { u8aToHex } from "@polkadot/util";
import { BlockBuilder } from "../runtime/block-builder.ts";
import { type BlockEnvironment, ExecutionContext } from "../runtime/execution-context.ts";
import { genesisState } from "../runtime/genesis.ts";
import { Overlay, type StateView } from "../runtime/overlay.ts";
import {
  accountNonce,
  BLOCK_HASH_COUNT,
  MAX_NORMAL_LENGTH,
  MAX_NORMAL_WEIGHT,
} from "../runtime/pallets/system.ts";
import { MINIMUM_PERIOD_MS, now as timestampNow } from "../runtime/pallets/timestamp.ts";
import { hexBytes, type Runtime } from "../runtime/runtime.ts";
import type { RuntimeApiHost } from "../runtime/runtime-apis.ts";
import type { ValidationEnv } from "../runtime/signed-extensions.ts";
import type { CheckedTransaction } from "../runtime/transaction-check.ts";
import type { InvalidTransaction } from "../runtime/transaction-validity.ts";
import { RUNTIME_VERSION } from "../runtime/version.ts";
import { type SealedHeader, sealHeader } from "./header.ts";
import { Journal, JournalError, type JournalRecord } from "./journal.ts";
import { orderedTrieRoot } from "./ordered-trie-root.ts";
import { StateStore } from "./state-store.ts";

export type BlockRecord = {
  readonly number: number;
  readonly hash: string;
  readonly header: SealedHeader;
  readonly extrinsics: readonly Uint8Array[];
  readonly changes: ReadonlyMap<string, Uint8Array | null>;
};

export type BlockOutcome = {
  readonly block: BlockRecord;
  /** Extrinsic hash → its index in the block. */
  readonly included: ReadonlyMap<string, number>;
  /** Extrinsic hash → the reason it was refused when applied. */
  readonly rejected: ReadonlyMap<string, InvalidTransaction>;
  /** Transactions that did not fit and wait for the next block. */
  readonly deferred: readonly CheckedTransaction[];
};

export type BlockListener = (block: BlockRecord) => void;

export class Chain {
  readonly store = new StateStore();
  readonly #blocks: BlockRecord[] = [];
  readonly #byHash = new Map<string, BlockRecord>();
  readonly #listeners = new Set<BlockListener>();
  readonly #finalityListeners = new Set<BlockListener>();
  #finalized: BlockRecord | undefined;

  private constructor(
    readonly runtime: Runtime,
    readonly journal: Journal | undefined,
  ) {}

  /** Replays the journal in `dataDir`, or starts from genesis (and journals it) when there is none. */
  static open(runtime: Runtime, dataDir: string | undefined): Chain {
    const journal = dataDir === undefined ? undefined : Journal.open(dataDir);
    const chain = new Chain(runtime, journal);
    if (journal !== undefined && journal.records.length > 0) {
      for (const record of journal.records) chain.#replay(record);
    } else {
      chain.#seal(0, `0x${"00".repeat(32)}`, genesisState(runtime).changes, []);
    }
    return chain;
  }

  get head(): BlockRecord {
    return this.#blocks[this.#blocks.length - 1]!;
  }

  /** The last finalized block: every sealed block is finalized by `finalize`, right after its import. */
  get finalized(): BlockRecord {
    return this.#finalized ?? this.head;
  }

  get genesisHash(): string {
    return this.#blocks[0]!.hash;
  }

  block(numberOrHash: number | string): BlockRecord | undefined {
    return typeof numberOrHash === "number" ? this.#blocks[numberOrHash] : this.#byHash.get(numberOrHash);
  }

  stateAt(block: BlockRecord): StateView {
    return this.store.at(block.number);
  }

  /** Hash of block `number` as the runtime may see it from block `current`: genesis or the last 4096. */
  recentBlockHash(number: number, current: number): string | undefined {
    if (number !== 0 && (number >= current || number < current - BLOCK_HASH_COUNT)) return undefined;
    return this.#blocks[number]?.hash;
  }

  /** A read-only context over the state of a block (for runtime APIs and transaction checks). */
  readContext(block: BlockRecord): ExecutionContext {
    return new ExecutionContext(
      this.runtime,
      {
        blockNumber: block.number + 1,
        now: 0n,
        parentHash: block.hash,
        blockHash: (n) => this.recentBlockHash(n, block.number + 1),
      },
      new Overlay(this.stateAt(block)),
      "Initialization",
    );
  }

  /** What signed-extension checks need to validate a transaction for the block after `parent`. */
  validationEnv(parent: BlockRecord, expectedNonce: (signer: string) => number): ValidationEnv {
    const blockNumber = parent.number + 1;
    return {
      blockNumber,
      blockHash: (n) => this.recentBlockHash(n, blockNumber),
      genesisHash: this.genesisHash,
      specVersion: RUNTIME_VERSION.specVersion,
      transactionVersion: RUNTIME_VERSION.transactionVersion,
      expectedNonce,
      maxExtrinsicWeight: MAX_NORMAL_WEIGHT,
      maxExtrinsicLength: MAX_NORMAL_LENGTH,
    };
  }

  /** The environment of a block built on `parent` now: the wall clock, or just after the parent's time. */
  #nextEnvironment(parent: BlockRecord): BlockEnvironment {
    const number = parent.number + 1;
    const previousTime = timestampNow.get(this.readContext(parent));
    const wallClock = BigInt(Date.now());
    return {
      blockNumber: number,
      now: wallClock > previousTime ? wallClock : previousTime + MINIMUM_PERIOD_MS,
      parentHash: parent.hash,
      blockHash: (n) => this.recentBlockHash(n, number),
    };
  }

  /** The block and host functions a runtime API call at `block` runs with. */
  runtimeHost(block: BlockRecord): RuntimeApiHost {
    return {
      runtime: this.runtime,
      number: block.number,
      hash: block.hash,
      context: () => this.readContext(block),
      nextBlock: () => this.#nextEnvironment(block),
      validationEnv: () => {
        const ctx = this.readContext(block);
        return this.validationEnv(block, (signer) => accountNonce(ctx, signer));
      },
      sealHeader: (changes, extrinsics) => {
        const header = sealHeader(this.runtime.registry, {
          parentHash: block.hash,
          number: block.number + 1,
          stateRoot: this.store.rootAfter(block.number, changes),
          extrinsicsRoot: orderedTrieRoot(extrinsics),
        });
        return { ...header.fields, bytes: header.bytes };
      },
    };
  }

  onBlock(listener: BlockListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onFinalized(listener: BlockListener): () => void {
    this.#finalityListeners.add(listener);
    return () => this.#finalityListeners.delete(listener);
  }

  /** Declares a sealed block (and so its ancestors) final. */
  finalize(block: BlockRecord): void {
    if (block.number <= this.finalized.number && this.#finalized !== undefined) return;
    this.#finalized = block;
    for (const listener of this.#finalityListeners) listener(block);
  }

  /** Builds, seals, journals and announces the next block with as many candidates as fit. */
  produceBlock(candidates: readonly CheckedTransaction[]): BlockOutcome {
    const parent = this.head;
    const builder = new BlockBuilder(this.runtime, this.stateAt(parent), this.#nextEnvironment(parent));
    builder.initialize();
    const included = new Map<string, number>();
    const rejected = new Map<string, InvalidTransaction>();
    const deferred: CheckedTransaction[] = [];
    for (const transaction of candidates) {
      if (deferred.length > 0 || !builder.fits(transaction)) {
        deferred.push(transaction);
        continue;
      }
      const outcome = builder.apply(transaction);
      if (outcome.included) included.set(transaction.hash, outcome.index);
      else rejected.set(transaction.hash, outcome.reason);
    }
    const block = this.#seal(parent.number + 1, parent.hash, builder.finalize().changes, builder.extrinsics);
    return { block, included, rejected, deferred };
  }

  close(): void {
    this.journal?.close();
  }

  #seal(
    number: number,
    parentHash: string,
    changes: ReadonlyMap<string, Uint8Array | null>,
    extrinsics: readonly Uint8Array[],
  ): BlockRecord {
    const stateRoot = this.store.apply(number, changes);
    const header = sealHeader(this.runtime.registry, {
      parentHash,
      number,
      stateRoot,
      extrinsicsRoot: orderedTrieRoot(extrinsics),
    });
    const block: BlockRecord = { number, hash: header.hash, header, extrinsics, changes };
    this.journal?.append({
      number,
      hash: header.hash,
      header: u8aToHex(header.bytes),
      extrinsics: extrinsics.map((extrinsic) => u8aToHex(extrinsic)),
      changes: [...changes].map(([key, value]) => [key, value === null ? null : u8aToHex(value)] as const),
    });
    this.#add(block);
    for (const listener of this.#listeners) listener(block);
    return block;
  }

  #replay(record: JournalRecord): void {
    const changes = new Map(
      record.changes.map(([key, value]) => [key, value === null ? null : hexBytes(value)]),
    );
    const stateRoot = this.store.apply(record.number, changes);
    const headerBytes = hexBytes(record.header);
    const decoded = this.runtime.registry.createTypeUnsafe<Header>("Header", [headerBytes]);
    if (decoded.stateRoot.toHex() !== stateRoot) {
      throw new JournalError(
        `block ${record.number}: replayed state root ${stateRoot} differs from the header's`,
      );
    }
    const header: SealedHeader = {
      fields: {
        parentHash: decoded.parentHash.toHex(),
        number: record.number,
        stateRoot,
        extrinsicsRoot: decoded.extrinsicsRoot.toHex(),
      },
      bytes: headerBytes,
      hash: record.hash,
    };
    this.#add({
      number: record.number,
      hash: record.hash,
      header,
      extrinsics: record.extrinsics.map(hexBytes),
      changes,
    });
  }

  #add(block: BlockRecord): void {
    this.#blocks.push(block);
    this.#byHash.set(block.hash, block);
  }
}
