// The transaction pool: admits submitted extrinsics in arrival order (signatures verified in
// parallel, nonces checked in order), keeps them ready for the next block and tells watchers
// what became of them (author_submitAndWatchExtrinsic and transactionWatch_v1 events).
import { accountNonce } from "../runtime/pallets/system.ts";
import { SIGNED_EXTENSIONS } from "../runtime/signed-extensions.ts";
import {
  type CheckedTransaction,
  checkExtrinsic,
  type SignatureCheck,
} from "../runtime/transaction-check.ts";
import { InvalidTransaction } from "../runtime/transaction-validity.ts";
import type { BlockOutcome, Chain } from "./chain.ts";

/** What became of an admitted transaction: included (block hash, index in its body), or refused. */
export type TransactionStatus =
  | { readonly kind: "inBlock" | "finalized"; readonly block: string; readonly index: number }
  | { readonly kind: "invalid"; readonly reason: InvalidTransaction };

export type StatusListener = (status: TransactionStatus) => void;

/** Checks signatures; the pool awaits the results in submission order. */
export interface SignatureVerifier {
  verify(check: SignatureCheck): Promise<boolean>;
  close(): Promise<void>;
}

export class AlreadyImportedError extends Error {
  readonly code = "AlreadyImported";
  constructor(hash: string) {
    super(`Transaction Already Imported: ${hash}`);
  }
}

export class TransactionPool {
  #ready: CheckedTransaction[] = [];
  readonly #hashes = new Set<string>();
  readonly #pendingBySigner = new Map<string, number>();
  readonly #watchers = new Map<string, StatusListener>();
  readonly #readyListeners = new Set<() => void>();
  /** Block hash → watchers of its transactions (with their index) waiting for it to be finalized. */
  readonly #awaitingFinality = new Map<string, { listener: StatusListener; index: number }[]>();
  #admission: Promise<unknown> = Promise.resolve();

  constructor(
    readonly chain: Chain,
    readonly verifier: SignatureVerifier,
  ) {
    chain.onFinalized((block) => {
      for (const [hash, listeners] of this.#awaitingFinality) {
        const included = chain.block(hash);
        if (included === undefined || included.number > block.number) continue;
        this.#awaitingFinality.delete(hash);
        for (const { listener, index } of listeners) listener({ kind: "finalized", block: hash, index });
      }
    });
  }

  /** The nonce the signer's next transaction needs: its account nonce plus its ready transactions. */
  nextNonce(signer: string): number {
    return (
      accountNonce(this.chain.readContext(this.chain.head), signer) + (this.#pendingBySigner.get(signer) ?? 0)
    );
  }

  /**
   * Checks and admits an extrinsic; resolves once it is ready, rejects with ExtrinsicFormatError,
   * InvalidTransaction, UnknownTransaction or AlreadyImportedError.
   */
  submit(bytes: Uint8Array): Promise<CheckedTransaction> {
    const env = this.chain.validationEnv(this.chain.head, (signer) => this.nextNonce(signer));
    const { transaction, signature } = checkExtrinsic(this.chain.runtime, bytes, env);
    const verified = this.verifier.verify(signature);
    const admitted = this.#admission.then(async () => {
      if (!(await verified)) throw new InvalidTransaction("BadProof");
      this.#admit(transaction, env);
      return transaction;
    });
    this.#admission = admitted.catch(() => undefined);
    return admitted;
  }

  #admit(transaction: CheckedTransaction, env: ReturnType<Chain["validationEnv"]>): void {
    if (this.#hashes.has(transaction.hash)) throw new AlreadyImportedError(transaction.hash);
    const ctx = this.chain.readContext(this.chain.head);
    for (const extension of SIGNED_EXTENSIONS) extension.validate?.(env, ctx, transaction);
    this.#ready.push(transaction);
    this.#hashes.add(transaction.hash);
    this.#pendingBySigner.set(transaction.signer, (this.#pendingBySigner.get(transaction.signer) ?? 0) + 1);
    for (const listener of this.#readyListeners) listener();
  }

  /** Follows a transaction until it is finalized or dropped (the listener is removed then). */
  watch(hash: string, listener: StatusListener): () => void {
    this.#watchers.set(hash, listener);
    return () => this.#watchers.delete(hash);
  }

  onReady(listener: () => void): () => void {
    this.#readyListeners.add(listener);
    return () => this.#readyListeners.delete(listener);
  }

  get size(): number {
    return this.#ready.length;
  }

  ready(): readonly CheckedTransaction[] {
    return this.#ready;
  }

  /** Removes what the block included or refused and tells their watchers. */
  blockProduced(outcome: BlockOutcome): void {
    const waiting = new Set(outcome.deferred.map((transaction) => transaction.hash));
    const remaining: CheckedTransaction[] = [];
    for (const transaction of this.#ready) {
      if (waiting.has(transaction.hash)) {
        remaining.push(transaction);
        continue;
      }
      this.#hashes.delete(transaction.hash);
      const listener = this.#watchers.get(transaction.hash);
      if (listener === undefined) continue;
      this.#watchers.delete(transaction.hash);
      const index = outcome.included.get(transaction.hash);
      if (index === undefined) {
        // A candidate the block did not defer was either included or refused.
        listener({ kind: "invalid", reason: outcome.rejected.get(transaction.hash)! });
      } else {
        listener({ kind: "inBlock", block: outcome.block.hash, index });
        const waiting = this.#awaitingFinality.get(outcome.block.hash) ?? [];
        waiting.push({ listener, index });
        this.#awaitingFinality.set(outcome.block.hash, waiting);
      }
    }
    this.#ready = remaining;
    this.#pendingBySigner.clear();
    for (const transaction of remaining) {
      this.#pendingBySigner.set(transaction.signer, (this.#pendingBySigner.get(transaction.signer) ?? 0) + 1);
    }
  }
}
