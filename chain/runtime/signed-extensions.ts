// The signed extensions this runtime declares in its metadata, in order, each with what it adds to
// the extrinsic (extra), what it adds only to the signed payload (additional), its validity check
// against the state and its pre-dispatch effect, like the SignedExtension impls of FRAME.

import type { GenericExtrinsicEra } from "@polkadot/types";
import { bnToU8a, compactToU8a, hexToU8a } from "@polkadot/util";
import type { ExtensionMetadata } from "./metadata/build-metadata.ts";
import type { AccountId, DispatchContext } from "./pallet.ts";
import { canPayFee, withdrawFee } from "./pallets/balances.ts";
import { accountNonce, incrementNonce } from "./pallets/system.ts";
import { InvalidTransaction } from "./transaction-validity.ts";

/** A decoded signed extrinsic with the values the extensions look at. */
export type SignedTransaction = {
  readonly signer: AccountId;
  readonly signerId: Uint8Array;
  readonly era: GenericExtrinsicEra;
  readonly nonce: number;
  readonly tip: bigint;
  /** Encoded length of the whole extrinsic (the length fee is charged on it). */
  readonly length: number;
  readonly weight: bigint;
  /** Inclusion fee plus tip. */
  readonly fee: bigint;
};

export type ValidationEnv = {
  /** The number of the block the transaction would be included in. */
  readonly blockNumber: number;
  blockHash(blockNumber: number): string | undefined;
  readonly genesisHash: string;
  readonly specVersion: number;
  readonly transactionVersion: number;
  /** The nonce the signer's next transaction must carry (state nonce + its transactions in the pool). */
  expectedNonce(signer: AccountId): number;
  readonly maxExtrinsicWeight: bigint;
  readonly maxExtrinsicLength: number;
};

export type SignedExtension = ExtensionMetadata & {
  extra?(tx: SignedTransaction): Uint8Array;
  additional?(env: ValidationEnv, tx: SignedTransaction): Uint8Array;
  /** Throws InvalidTransaction when the transaction may not be included now. */
  validate?(env: ValidationEnv, ctx: DispatchContext, tx: SignedTransaction): void;
  /** The effect kept even when the call fails (nonce, fee); throws InvalidTransaction. */
  prepare?(ctx: DispatchContext, tx: SignedTransaction): void;
  /** After the call, whether it succeeded or not (post_dispatch). */
  finish?(ctx: DispatchContext, tx: SignedTransaction): void;
};

function systemExtension(module: string, identifier: string, fields: readonly { type: string }[]) {
  return {
    identifier,
    type: {
      path: ["frame_system", "extensions", module, identifier],
      params: [{ name: "T", type: null }],
      shape: { composite: fields },
    },
  };
}

/** The block a transaction's era starts at, seen from block `current` (0 for an immortal era). */
export function eraBirth(era: GenericExtrinsicEra, current: number): number {
  return era.isImmortalEra ? 0 : era.asMortalEra.birth(current);
}

const u32 = (value: number): Uint8Array => bnToU8a(value, { bitLength: 32 });

export const SIGNED_EXTENSIONS: readonly SignedExtension[] = [
  {
    ...systemExtension("check_non_zero_sender", "CheckNonZeroSender", []),
    additionalSigned: "()",
    validate(_env, _ctx, tx) {
      if (tx.signerId.every((byte) => byte === 0)) throw new InvalidTransaction("BadSigner");
    },
  },
  {
    ...systemExtension("check_spec_version", "CheckSpecVersion", []),
    additionalSigned: "u32",
    additional: (env) => u32(env.specVersion),
  },
  {
    ...systemExtension("check_tx_version", "CheckTxVersion", []),
    additionalSigned: "u32",
    additional: (env) => u32(env.transactionVersion),
  },
  {
    ...systemExtension("check_genesis", "CheckGenesis", []),
    additionalSigned: "H256",
    additional: (env) => hexToU8a(env.genesisHash),
  },
  {
    ...systemExtension("check_mortality", "CheckMortality", [{ type: "Era" }]),
    additionalSigned: "H256",
    extra: (tx) => tx.era.toU8a(),
    additional(env, tx) {
      const hash = env.blockHash(eraBirth(tx.era, env.blockNumber));
      if (hash === undefined) throw new InvalidTransaction("AncientBirthBlock");
      return hexToU8a(hash);
    },
  },
  {
    ...systemExtension("check_nonce", "CheckNonce", [{ type: "Compact<u32>" }]),
    additionalSigned: "()",
    extra: (tx) => compactToU8a(tx.nonce),
    validate(env, _ctx, tx) {
      const expected = env.expectedNonce(tx.signer);
      if (tx.nonce < expected) throw new InvalidTransaction("Stale");
      if (tx.nonce > expected) throw new InvalidTransaction("Future");
    },
    prepare(ctx, tx) {
      const current = accountNonce(ctx, tx.signer);
      if (tx.nonce < current) throw new InvalidTransaction("Stale");
      if (tx.nonce > current) throw new InvalidTransaction("Future");
      incrementNonce(ctx, tx.signer);
    },
  },
  {
    ...systemExtension("check_weight", "CheckWeight", []),
    additionalSigned: "()",
    validate(env, _ctx, tx) {
      if (tx.weight > env.maxExtrinsicWeight || tx.length > env.maxExtrinsicLength) {
        throw new InvalidTransaction("ExhaustsResources");
      }
    },
  },
  {
    identifier: "ChargeTransactionPayment",
    type: {
      path: ["pallet_transaction_payment", "ChargeTransactionPayment"],
      params: [{ name: "T", type: null }],
      shape: { composite: [{ type: "Compact<u128>" }] },
    },
    additionalSigned: "()",
    extra: (tx) => compactToU8a(tx.tip),
    validate(_env, ctx, tx) {
      if (!canPayFee(ctx, tx.signer, tx.fee)) throw new InvalidTransaction("Payment");
    },
    prepare(ctx, tx) {
      if (!withdrawFee(ctx, tx.signer, tx.fee)) throw new InvalidTransaction("Payment");
    },
    finish(ctx, tx) {
      ctx.depositEvent("TransactionPayment", "TransactionFeePaid", {
        who: tx.signer,
        actualFee: tx.fee,
        tip: tx.tip,
      });
    },
  },
];
