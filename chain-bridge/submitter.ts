// One submission queue per signing account. Every extrinsic is written to the journal before it
// is signed, and again, signed (nonce, bytes, hash, mortality window), before it is sent. Nonces
// are kept locally (fetched once, then incremented) and handed out in order under a lock, so
// parallel submissions never collide; a node answering "stale" or "future" makes the queue
// resync from the chain.
//
// Exactly-once rests on two facts of Substrate: a signed extrinsic can only be included in a
// block of its mortality window, and only while its nonce is unused. So after a crash (or a lost
// subscription) a `submitted` record is looked up by hash in the finalized blocks of its window:
// found, it is settled from that block's events; not found while its nonce is unused in the
// finalized state and its window still open, the very same bytes are sent again (a pool that has
// them answers "already imported": they can never be included twice); otherwise it can no longer
// be included and is signed anew. A cause key is recorded once, so the same cause never yields
// two extrinsics.
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { ISubmittableResult } from "@polkadot/types/types";
import { BridgeError } from "./errors.ts";
import {
  accountNonceAt,
  finalizedNumber,
  findInclusion,
  type Inclusion,
  inclusionFrom,
} from "./inclusion.ts";
import { classifyRefusal, dispatchFailed, invalidTransaction, type Refusal } from "./node-errors.ts";
import type { Signer } from "./signer.ts";
import type { TransactionStore, TxRecord } from "./transaction-store.ts";

export type Extrinsic = SubmittableExtrinsic<"promise">;

export interface SubmitterOptions {
  /** Blocks a signed extrinsic stays valid (a power of two, at least 4). */
  mortalityBlocks?: number;
  /** Signings of one cause before it is given up as dropped. */
  maxAttempts?: number;
  /** How long to wait for a sent extrinsic's finalization before looking for it on chain instead. */
  watchTimeoutMs?: number;
  /** Pause between scans of new finalized blocks while waiting without a subscription. */
  pollMs?: number;
}

export interface Cause {
  /** The row that causes the extrinsic, e.g. "task:task_01...:create". */
  causeKey: string;
  /** "Pallet.call", e.g. "Compute.create_task". */
  purpose: string;
}

type Watched =
  | { kind: "included"; inclusion: Inclusion }
  /** The pool dropped, replaced or invalidated it, or the subscription went quiet. */
  | { kind: "lost" };

type Sent =
  | { kind: "accepted"; outcome: Promise<Watched> }
  | { kind: "refused"; refusal: Refusal; message: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Serializes nonce allocation and sending for one account. */
class NonceQueue {
  #next: number | null = null;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly api: ApiPromise,
    private readonly address: string,
  ) {}

  /** Runs `task` with the next nonce; the nonce is consumed only if `task` reports it `used`. */
  run<T>(task: (nonce: number) => Promise<{ used: boolean; value: T }>): Promise<T> {
    const turn = this.#tail.then(async () => {
      if (this.#next === null) this.#next = await this.chainNonce();
      const { used, value } = await task(this.#next);
      if (used) this.#next += 1;
      return value;
    });
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  resync(): void {
    this.#next = null;
  }

  async chainNonce(): Promise<number> {
    return (await this.api.rpc.system.accountNextIndex(this.address)).toNumber();
  }
}

export class Submitter {
  readonly address: string;
  readonly #nonces: NonceQueue;
  readonly #inflight = new Map<string, Promise<TxRecord>>();
  readonly #mortality: number;
  readonly #maxAttempts: number;
  readonly #watchTimeoutMs: number;
  readonly #pollMs: number;

  constructor(
    private readonly api: ApiPromise,
    private readonly signer: Signer,
    private readonly store: TransactionStore,
    options: SubmitterOptions = {},
  ) {
    this.address = signer.address;
    this.#nonces = new NonceQueue(api, signer.address);
    this.#mortality = options.mortalityBlocks ?? 64;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#watchTimeoutMs = options.watchTimeoutMs ?? 60_000;
    this.#pollMs = options.pollMs ?? 500;
  }

  /**
   * Records `call` under `cause` and sees it onto the chain; resolves with the settled record once
   * it is finalized and succeeded, rejects with DISPATCH_FAILED (the module error decoded) when its
   * call failed, TRANSACTION_INVALID when the node refuses it for good, TRANSACTION_DROPPED when it
   * could not be included after `maxAttempts` signings. The same cause again returns the same
   * outcome without submitting anything.
   */
  async submit(cause: Cause, call: Extrinsic): Promise<TxRecord> {
    const draft = { ...cause, signer: this.address, callHex: call.method.toHex() };
    const record = await this.store.record(draft);
    return this.resume(record, draft);
  }

  /**
   * Continues a record already in the journal (written by `recordWithin` beside its causing row):
   * sends it if it never went out, settles it if it already landed.
   */
  resume(record: TxRecord, expected?: { callHex: string; signer: string }): Promise<TxRecord> {
    if (expected && (record.callHex !== expected.callHex || record.signer !== expected.signer)) {
      return Promise.reject(
        new BridgeError(
          "CAUSE_CONFLICT",
          `cause ${record.causeKey} is already recorded for a different call or signer (${record.purpose} by ${record.signer})`,
        ),
      );
    }
    const running = this.#inflight.get(record.causeKey);
    if (running) return running;
    const driven = this.#drive(record).finally(() => this.#inflight.delete(record.causeKey));
    this.#inflight.set(record.causeKey, driven);
    return driven;
  }

  /** Resumes every record this account left `pending` or `submitted` (call once at start-up). */
  async reconcile(): Promise<Array<PromiseSettledResult<TxRecord>>> {
    const records = await this.store.unsettled(this.address);
    return Promise.allSettled(records.map((record) => this.resume(record)));
  }

  async #drive(initial: TxRecord): Promise<TxRecord> {
    let record = initial;
    // The current signed form was refused by the node: it never entered a pool, so it can never
    // be included and signing anew is safe. Any other signed form is re-signed only once the
    // finalized chain shows it can no longer be included (#whereIs).
    let refused = false;
    for (;;) {
      if (record.status === "succeeded") return record;
      if (record.status === "failed") throw this.#failure(record);
      if (record.status === "submitted" && !refused) {
        const where = await this.#whereIs(record);
        if (where.kind === "included") return this.#settle(record, where.inclusion);
        if (where.kind === "possible") {
          const resent = await this.#resend(record);
          if (resent.kind === "included") return this.#settle(record, resent.inclusion);
          refused = resent.kind === "refused";
          if (!refused) await sleep(this.#pollMs);
          continue;
        }
      }
      if (record.attempts >= this.#maxAttempts) {
        const settled = await this.store.settle(record.causeKey, {
          status: "failed",
          errorCode: "TRANSACTION_DROPPED",
          error: `${record.purpose} was not included after ${record.attempts} signings`,
        });
        throw this.#failure(settled);
      }
      const next = await this.#signAndSend(record);
      record = next.record;
      if (next.sent.kind === "refused") {
        if (next.sent.refusal === "fatal") {
          const settled = await this.store.settle(record.causeKey, {
            status: "failed",
            errorCode: "TRANSACTION_INVALID",
            error: next.sent.message,
          });
          throw this.#failure(settled);
        }
        // A nonce the chain has moved past, or one it is not ready for: resync and sign again.
        this.#nonces.resync();
        refused = true;
        continue;
      }
      refused = false;
      const watched = await next.sent.outcome;
      if (watched.kind === "included") return this.#settle(record, watched.inclusion);
      this.#nonces.resync();
    }
  }

  #failure(record: TxRecord): BridgeError {
    if (record.errorCode === "TRANSACTION_INVALID") return invalidTransaction(record.error ?? "");
    if (record.errorCode === "TRANSACTION_DROPPED") {
      return new BridgeError("TRANSACTION_DROPPED", record.error ?? `${record.purpose} was dropped`);
    }
    const [pallet, name] = (record.errorCode ?? "").split(".");
    const module = pallet && name ? { pallet, name, docs: record.error ?? "" } : null;
    return dispatchFailed(record.purpose, module, record.error ?? "unknown dispatch error");
  }

  async #settle(record: TxRecord, inclusion: Inclusion): Promise<TxRecord> {
    const settled = await this.store.settle(record.causeKey, {
      status: inclusion.succeeded ? "succeeded" : "failed",
      blockHash: inclusion.blockHash,
      blockNumber: inclusion.blockNumber,
      extrinsicIndex: inclusion.extrinsicIndex,
      events: inclusion.events,
      errorCode: inclusion.module ? `${inclusion.module.pallet}.${inclusion.module.name}` : null,
      error: inclusion.succeeded ? null : (inclusion.module?.docs ?? inclusion.detail),
    });
    if (settled.status === "failed") throw this.#failure(settled);
    return settled;
  }

  /**
   * Whether the record's signed form is in a finalized block of its window, could still get into
   * one, or never can: its nonce is used in the finalized state by another extrinsic, or its
   * window closed with the nonce unused. Only finalized facts count, so a form sitting in an
   * unfinalized block is never mistaken for a lost one.
   */
  async #whereIs(
    record: TxRecord,
  ): Promise<{ kind: "included"; inclusion: Inclusion } | { kind: "possible" } | { kind: "impossible" }> {
    if (record.extrinsicHash === null || record.validFrom === null || record.validUntil === null) {
      return { kind: "impossible" };
    }
    const finalizedHash = (await this.api.rpc.chain.getFinalizedHead()).toHex();
    const head = (await this.api.rpc.chain.getHeader(finalizedHash)).number.toNumber();
    const found = await findInclusion(
      this.api,
      record.extrinsicHash,
      record.validFrom,
      Math.min(head, record.validUntil),
    );
    if (found) return { kind: "included", inclusion: found };
    const nonce = await accountNonceAt(this.api, this.address, finalizedHash);
    if (nonce > (record.nonce ?? -1) || head >= record.validUntil) return { kind: "impossible" };
    return { kind: "possible" };
  }

  /** Sends the stored signed form again: harmless, the chain includes one extrinsic once at most. */
  async #resend(record: TxRecord): Promise<Watched | { kind: "refused" }> {
    const sent = await this.#send(record);
    if (sent.kind === "accepted") return sent.outcome;
    if (sent.refusal === "already_imported") return this.#waitByScanning(record);
    // Refused for good (bad proof, fees): it is in no pool. Stale, future or a nonce held by
    // another pooled extrinsic: the finalized chain will tell, see #whereIs.
    return sent.refusal === "fatal" ? { kind: "refused" } : { kind: "lost" };
  }

  async #signAndSend(record: TxRecord): Promise<{ record: TxRecord; sent: Sent }> {
    return this.#nonces.run(async (nonce) => {
      const signed = await this.#sign(record, nonce);
      const sent = await this.#send(signed);
      return { used: sent.kind === "accepted", value: { record: signed, sent } };
    });
  }

  async #sign(record: TxRecord, nonce: number): Promise<TxRecord> {
    const finalizedHash = await this.api.rpc.chain.getFinalizedHead();
    const header = await this.api.rpc.chain.getHeader(finalizedHash);
    const current = header.number.toNumber();
    const era = this.api.createType("ExtrinsicEra", { current, period: this.#mortality });
    const call = this.api.tx(this.api.createType("Call", record.callHex));
    const signed = await call.signAsync(this.signer, { nonce, era, blockHash: finalizedHash });
    const mortal = era.asMortalEra;
    return this.store.markSigned(record.causeKey, {
      nonce,
      signedHex: signed.toHex(),
      extrinsicHash: signed.hash.toHex(),
      validFrom: mortal.birth(current),
      validUntil: mortal.death(current),
    });
  }

  async #send(record: TxRecord): Promise<Sent> {
    const extrinsic = this.api.tx(record.signedHex!);
    let settle: (watched: Watched) => void = () => undefined;
    const outcome = new Promise<Watched>((resolve) => {
      settle = resolve;
    });
    let unsubscribe: (() => void) | null = null;
    let finished = false;
    const finish = (watched: Watched) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      unsubscribe?.();
      settle(watched);
    };
    const timer = setTimeout(() => finish({ kind: "lost" }), this.#watchTimeoutMs);
    try {
      unsubscribe = await extrinsic.send((result: ISubmittableResult) => {
        if (result.status.isFinalized) {
          // Should reading the block fail, the record is looked up again on chain by the caller.
          this.#inclusionOf(record, result).then(
            (inclusion) => finish({ kind: "included", inclusion }),
            () => finish({ kind: "lost" }),
          );
        } else if (result.status.isDropped || result.status.isInvalid || result.status.isUsurped) {
          finish({ kind: "lost" });
        }
      });
      if (finished) unsubscribe();
    } catch (error) {
      finished = true;
      clearTimeout(timer);
      return { kind: "refused", ...classifyRefusal(error) };
    }
    return { kind: "accepted", outcome };
  }

  async #inclusionOf(record: TxRecord, result: ISubmittableResult): Promise<Inclusion> {
    const blockHash = result.status.asFinalized.toHex();
    const blockNumber = (await this.api.rpc.chain.getHeader(blockHash)).number.toNumber();
    return inclusionFrom(this.api, result.events, {
      extrinsicHash: record.extrinsicHash!,
      blockHash,
      blockNumber,
      extrinsicIndex: result.txIndex ?? 0,
    });
  }

  /** Waits for an extrinsic the pool already holds, following finalized blocks to its window's end. */
  async #waitByScanning(record: TxRecord): Promise<Watched> {
    let scanned = (record.validFrom ?? 0) - 1;
    for (;;) {
      const head = Math.min(await finalizedNumber(this.api), record.validUntil ?? 0);
      if (head > scanned) {
        const found = await findInclusion(this.api, record.extrinsicHash!, scanned + 1, head);
        if (found) return { kind: "included", inclusion: found };
        scanned = head;
      }
      if (scanned >= (record.validUntil ?? 0)) return { kind: "lost" };
      await sleep(this.#pollMs);
    }
  }
}
