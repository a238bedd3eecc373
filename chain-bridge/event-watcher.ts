// Follows finalized blocks and applies the Compute pallet's events to the database, block by
// block, each block in one database transaction together with the cursor (the last block
// applied). A restart resumes after the cursor: no event is missed, none is applied twice (the
// journal of applied events is keyed by block number and event index as a second guard).
import type { ApiPromise } from "@polkadot/api";
import type { Database } from "../prisma/client.ts";
import type { Prisma } from "../prisma/generated/client.ts";
import { BridgeError } from "./errors.ts";
import { eventEffects } from "./event-effects.ts";
import { type DecodedEvent, decodeEvent, eventsAt, finalizedNumber } from "./inclusion.ts";
import { bigintOf } from "./values.ts";

export interface WatchedEvent extends DecodedEvent {
  blockNumber: number;
  blockHash: string;
  eventIndex: number;
  extrinsicHash: string | null;
  chainTaskId: bigint | null;
  /** The task row the event changed, when it is one of ours. */
  taskId: string | null;
}

export interface EventWatcherOptions {
  api: ApiPromise;
  db: Database;
  /** The cursor's name; one per independent consumer. */
  cursor?: string;
  /** The first block to apply when there is no cursor yet (default 1, the first after genesis). */
  fromBlock?: number;
  /** Called after each block's events are committed, in chain order. */
  onEvent?: (event: WatchedEvent) => void | Promise<void>;
  /** Called when applying a block fails; the watcher retries it at the next finalized head. */
  onError?: (error: unknown) => void;
}

export class EventWatcher {
  readonly #api: ApiPromise;
  readonly #db: Database;
  readonly #cursor: string;
  readonly #fromBlock: number;
  readonly #onEvent: EventWatcherOptions["onEvent"];
  readonly #onError: EventWatcherOptions["onError"];
  #genesisHash = "";
  #unsubscribe: (() => void) | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(options: EventWatcherOptions) {
    this.#api = options.api;
    this.#db = options.db;
    this.#cursor = options.cursor ?? "compute";
    this.#fromBlock = options.fromBlock ?? 1;
    this.#onEvent = options.onEvent;
    this.#onError = options.onError;
  }

  /** Applies everything finalized so far, then follows new finalized heads until `stop()`. */
  async start(): Promise<void> {
    this.#genesisHash = this.#api.genesisHash.toHex();
    await this.catchUp();
    this.#unsubscribe = await this.#api.rpc.chain.subscribeFinalizedHeads(() => {
      this.#schedule();
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    await this.#running;
  }

  /** Applies every finalized block after the cursor; resolves with the last block applied. */
  async catchUp(): Promise<number> {
    if (this.#genesisHash === "") this.#genesisHash = this.#api.genesisHash.toHex();
    let applied = await this.#appliedThrough();
    const head = await finalizedNumber(this.#api);
    while (applied < head) {
      applied += 1;
      await this.#applyBlock(applied);
    }
    return applied;
  }

  /** Runs catch-ups one at a time; a head that arrives meanwhile triggers one more. */
  #schedule(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.catchUp();
        } catch (error) {
          this.#onError?.(error);
        }
      } while (this.#again && this.#unsubscribe !== null);
      this.#running = null;
    })();
  }

  async #appliedThrough(): Promise<number> {
    const cursor = await this.#db.chainCursor.findUnique({ where: { name: this.#cursor } });
    if (cursor === null) return this.#fromBlock - 1;
    if (cursor.genesisHash !== this.#genesisHash) {
      throw new BridgeError(
        "RECONCILE_FAILED",
        `cursor "${this.#cursor}" belongs to the chain with genesis ${cursor.genesisHash}, ` +
          `but the node serves genesis ${this.#genesisHash}: this database follows another chain`,
      );
    }
    return cursor.blockNumber;
  }

  async #applyBlock(blockNumber: number): Promise<void> {
    const blockHash = (await this.#api.rpc.chain.getBlockHash(blockNumber)).toHex();
    const records = await eventsAt(this.#api, blockHash);
    const ours = records
      .map((record, eventIndex) => ({ record, eventIndex }))
      .filter(({ record }) => record.event.section === "compute");
    let extrinsicHashes: string[] = [];
    if (ours.length > 0) {
      const block = await this.#api.rpc.chain.getBlock(blockHash);
      extrinsicHashes = block.block.extrinsics.map((extrinsic) => extrinsic.hash.toHex());
    }
    const watched = await this.#db.$transaction(async (tx) => {
      await this.#advanceCursor(tx, blockNumber, blockHash);
      const applied: WatchedEvent[] = [];
      for (const { record, eventIndex } of ours) {
        const event = decodeEvent(record);
        const extrinsicHash = record.phase.isApplyExtrinsic
          ? (extrinsicHashes[record.phase.asApplyExtrinsic.toNumber()] ?? null)
          : null;
        const chainTaskId =
          event.data.taskId === undefined ? null : bigintOf(event.data.taskId, `${event.name}.taskId`);
        await tx.chainEvent.create({
          data: {
            blockNumber,
            eventIndex,
            blockHash,
            extrinsicHash,
            pallet: event.pallet,
            name: event.name,
            chainTaskId,
            data: event.data as Prisma.InputJsonValue,
          },
        });
        const effect = Object.hasOwn(eventEffects, event.name) ? eventEffects[event.name] : undefined;
        const taskId = effect ? await effect(tx, event, { blockNumber, extrinsicHash }) : null;
        applied.push({ ...event, blockNumber, blockHash, eventIndex, extrinsicHash, chainTaskId, taskId });
      }
      return applied;
    });
    for (const event of watched) await this.#onEvent?.(event);
  }

  /** Moves the cursor from `blockNumber - 1` to `blockNumber`; fails if another watcher got there first. */
  async #advanceCursor(tx: Prisma.TransactionClient, blockNumber: number, blockHash: string): Promise<void> {
    const data = { genesisHash: this.#genesisHash, blockNumber, blockHash };
    if (blockNumber === this.#fromBlock) {
      const existing = await tx.chainCursor.findUnique({ where: { name: this.#cursor } });
      if (existing === null) {
        await tx.chainCursor.create({ data: { name: this.#cursor, ...data } });
        return;
      }
    }
    const moved = await tx.chainCursor.updateMany({
      where: { name: this.#cursor, blockNumber: blockNumber - 1 },
      data,
    });
    if (moved.count !== 1) {
      throw new BridgeError(
        "RECONCILE_FAILED",
        `cursor "${this.#cursor}" is not at block ${blockNumber - 1}: another watcher applied block ${blockNumber}`,
      );
    }
  }
}
