// The runtime APIs served through state_call and chainHead_v1_call: one declaration per API listed
// in the runtime version (version.ts), each method's SCALE inputs and output as metadata V15 lists
// them beside its body, which takes the input bytes and answers SCALE bytes like the Wasm runtime's
// exports.
import { bnToU8a, compactAddLength, compactFromU8a, compactToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { BlockBuilder, timestampInherent } from "./block-builder.ts";
import type { BlockEnvironment, ExecutionContext } from "./execution-context.ts";
import type { RuntimeApiMetadata } from "./metadata/build-metadata.ts";
import { METADATA_VERSIONS } from "./metadata/build-metadata.ts";
import type { Overlay } from "./overlay.ts";
import type { NativeRecord, NativeValue, ScaleType } from "./pallet.ts";
import { accountNonce, MAX_BLOCK_WEIGHT, MAX_NORMAL_LENGTH } from "./pallets/system.ts";
import { MINIMUM_PERIOD_MS, now as timestampNow, timestampPallet } from "./pallets/timestamp.ts";
import { inclusionFee, totalFee, WEIGHT_PER_PLANCK } from "./pallets/transaction-payment.ts";
import type { DecodedCall, Runtime } from "./runtime.ts";
import { verifySignature } from "./signature.ts";
import { SIGNED_EXTENSIONS, type ValidationEnv } from "./signed-extensions.ts";
import {
  type CheckedTransaction,
  checkExtrinsic,
  decodeExtrinsic,
  ExtrinsicFormatError,
  feeOf,
} from "./transaction-check.ts";
import { InvalidTransaction, UnknownTransaction } from "./transaction-validity.ts";
import { RUNTIME_VERSION, type RuntimeApiName } from "./version.ts";

/** A call the runtime cannot answer (no such export, undecodable input, a failed check: a panic in Wasm). */
export class RuntimeApiError extends Error {
  readonly code = "RuntimeApiError";
}

/** A block header as the runtime APIs read and return it. */
export type HeaderValue = {
  readonly parentHash: string;
  readonly number: number;
  readonly stateRoot: string;
  readonly extrinsicsRoot: string;
};

/** What the node gives a runtime API call: the block it is made at and the node's host functions. */
export interface RuntimeApiHost {
  readonly runtime: Runtime;
  readonly number: number;
  readonly hash: string;
  /** A context over a throwaway overlay of that block's state. */
  context(): ExecutionContext;
  /** The environment of a block built on that one now (its number, timestamp and recent hashes). */
  nextBlock(): BlockEnvironment;
  /** What transaction checks need for that next block, nonces taken from that block's state. */
  validationEnv(): ValidationEnv;
  /** The SCALE header of the block on top of this one that these storage writes and extrinsics make. */
  sealHeader(
    changes: Overlay["changes"],
    extrinsics: readonly Uint8Array[],
  ): HeaderValue & { bytes: Uint8Array };
}

/** Reads a runtime API's input bytes argument by argument. */
class ApiInput {
  #offset = 0;

  constructor(
    readonly runtime: Runtime,
    readonly bytes: Uint8Array,
  ) {}

  /** An argument of a type declared in metadata, as a NativeValue (pallet.ts). */
  value(type: ScaleType): NativeValue {
    const { value, length } = this.runtime.codec.decode("", type, this.bytes.subarray(this.#offset));
    this.#offset += length;
    return value;
  }

  u32(): number {
    return this.value("u32") as number;
  }

  /** A length-prefixed `UncheckedExtrinsic`, prefix included (the bytes a block holds). */
  extrinsic(): Uint8Array {
    const [prefix, length] = compactFromU8a(this.bytes.subarray(this.#offset));
    const end = this.#offset + prefix + length.toNumber();
    if (end > this.bytes.length) throw new RuntimeApiError("input ends inside an extrinsic");
    const extrinsic = this.bytes.subarray(this.#offset, end);
    this.#offset = end;
    return extrinsic;
  }

  /** A `RuntimeCall`, decoded. */
  call(): DecodedCall {
    const decoded = this.runtime.decodeCall(this.bytes.subarray(this.#offset));
    this.#offset += decoded.length;
    return decoded;
  }

  header(): HeaderValue {
    const header = this.value("Header") as NativeRecord;
    return {
      parentHash: header.parentHash as string,
      number: header.number as number,
      stateRoot: header.stateRoot as string,
      extrinsicsRoot: header.extrinsicsRoot as string,
    };
  }

  block(): { header: HeaderValue; extrinsics: Uint8Array[] } {
    const header = this.header();
    const extrinsics: Uint8Array[] = [];
    for (let count = this.#compact(); count > 0; count--) extrinsics.push(this.extrinsic());
    return { header, extrinsics };
  }

  /** `InherentData`: identifier (8 ASCII bytes) → encoded value. */
  inherentData(): Map<string, Uint8Array> {
    const data = new Map<string, Uint8Array>();
    for (let count = this.#compact(); count > 0; count--) {
      const identifier = Buffer.from(this.bytes.subarray(this.#offset, this.#offset + 8)).toString("latin1");
      this.#offset += 8;
      const length = this.#compact();
      data.set(identifier, this.bytes.slice(this.#offset, this.#offset + length));
      this.#offset += length;
    }
    return data;
  }

  #compact(): number {
    const [prefix, value] = compactFromU8a(this.bytes.subarray(this.#offset));
    this.#offset += prefix;
    return value.toNumber();
  }
}

/** A method body: a value of the declared output type, or bytes already encoded as that type. */
type ApiMethod = {
  readonly inputs: Readonly<Record<string, ScaleType>>;
  readonly output: ScaleType;
  readonly docs: string;
  readonly call: (host: RuntimeApiHost, input: ApiInput) => NativeValue | Uint8Array;
};

type RuntimeApi = { readonly docs: string; readonly methods: Readonly<Record<string, ApiMethod>> };

const UNIT = new Uint8Array();
const TIMESTAMP_INHERENT = "timstap0";
/** pallet_timestamp refuses a block more than this far ahead of the author's clock. */
const MAX_TIMESTAMP_DRIFT_MS = 30_000n;
const U64_MAX = (1n << 64n) - 1n;

/** The smaller of two bigints (Math.min takes numbers only). */
function least(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

/** The TransactionValidityError value of a refusal, or the error itself when it is not one. */
function validityError(error: unknown): NativeValue {
  if (error instanceof InvalidTransaction) return { Invalid: error.code };
  if (error instanceof UnknownTransaction) return { Unknown: error.code };
  if (error instanceof ExtrinsicFormatError) throw new RuntimeApiError(error.message);
  throw error;
}

/** Decodes and signature-checks a signed extrinsic for the block after the host's. */
function checkedTransaction(host: RuntimeApiHost, env: ValidationEnv, bytes: Uint8Array): CheckedTransaction {
  const { transaction, signature } = checkExtrinsic(host.runtime, bytes, env);
  if (!verifySignature(signature.scheme, signature.signature, signature.message, signature.accountId)) {
    throw new InvalidTransaction("BadProof");
  }
  return transaction;
}

/** pallet_transaction_payment's priority for a Normal transaction: its tip per unit of block space. */
function priority(transaction: CheckedTransaction): bigint {
  const boundedWeight = least(transaction.weight > 1n ? transaction.weight : 1n, MAX_BLOCK_WEIGHT);
  const boundedLength = BigInt(Math.min(Math.max(transaction.length, 1), MAX_NORMAL_LENGTH));
  const byWeight = MAX_BLOCK_WEIGHT / boundedWeight;
  const byLength = BigInt(MAX_NORMAL_LENGTH) / boundedLength;
  const perBlock = least(byWeight, byLength);
  const scaled = (transaction.tip + 1n) * perBlock;
  return least(scaled, U64_MAX);
}

/** The (AccountId32, nonce) tag CheckNonce provides and requires. */
function nonceTag(transaction: CheckedTransaction, nonce: number): string {
  return u8aToHex(u8aConcat(transaction.signerId, bnToU8a(nonce, { bitLength: 32 })));
}

/** TaggedTransactionQueue_validate_transaction: the pool's view of a transaction for the next block. */
function validateTransaction(host: RuntimeApiHost, bytes: Uint8Array): NativeValue {
  const env = host.validationEnv();
  const ctx = host.context();
  let transaction: CheckedTransaction;
  let stateNonce: number;
  try {
    transaction = checkedTransaction(host, env, bytes);
    stateNonce = accountNonce(ctx, transaction.signer);
    // A pool keeps a transaction with a future nonce until its predecessors arrive (it `requires`
    // them), so only a past nonce is refused here.
    const pooled = transaction.nonce;
    const poolEnv = { ...env, expectedNonce: () => Math.max(stateNonce, pooled) };
    for (const extension of SIGNED_EXTENSIONS) extension.validate?.(poolEnv, ctx, transaction);
  } catch (error) {
    return { Err: validityError(error) };
  }
  const longevity = transaction.era.isImmortalEra
    ? U64_MAX
    : BigInt(transaction.era.asMortalEra.death(env.blockNumber) - env.blockNumber);
  return {
    Ok: {
      priority: priority(transaction),
      requires: transaction.nonce > stateNonce ? [nonceTag(transaction, transaction.nonce - 1)] : [],
      provides: [nonceTag(transaction, transaction.nonce)],
      longevity,
      propagate: true,
    },
  };
}

/** A block on top of the host's with its timestamp inherent applied (BlockBuilder's first steps). */
function startBlock(host: RuntimeApiHost, environment: BlockEnvironment = host.nextBlock()): BlockBuilder {
  const builder = new BlockBuilder(host.runtime, host.context().state, environment);
  builder.initialize();
  return builder;
}

/** The value `Timestamp.set(now)` carries, when `extrinsic` is that inherent. */
function inherentTimestamp(runtime: Runtime, extrinsic: Uint8Array | undefined): bigint | undefined {
  if (extrinsic === undefined) return undefined;
  const [prefix] = compactFromU8a(extrinsic);
  const call = extrinsic.subarray(prefix + 1);
  if (call[0] !== timestampPallet.index || call[1] !== 0) return undefined;
  const { args } = runtime.decodeCall(call);
  return args.now as bigint;
}

/** Core_execute_block: replays a block on the host's, refusing it where Executive would panic. */
function executeBlock(host: RuntimeApiHost, input: ApiInput): Uint8Array {
  const { header, extrinsics } = input.block();
  if (header.parentHash !== host.hash || header.number !== host.number + 1) {
    throw new RuntimeApiError("Parent hash should be valid.");
  }
  const now = inherentTimestamp(host.runtime, extrinsics[0]);
  if (now === undefined) throw new RuntimeApiError("Timestamp inherent must be provided.");
  const builder = startBlock(host, { ...host.nextBlock(), now });
  const env = host.validationEnv();
  for (const [index, bytes] of extrinsics.entries()) {
    if (index === 0) continue;
    let outcome: ReturnType<BlockBuilder["apply"]>;
    try {
      outcome = builder.apply(checkedTransaction(host, env, bytes));
    } catch (error) {
      throw new RuntimeApiError(`Extrinsic ${index} is invalid: ${(error as Error).message}`);
    }
    if (!outcome.included) {
      throw new RuntimeApiError(`Extrinsic ${index} is invalid: ${outcome.reason.message}`);
    }
  }
  const sealed = host.sealHeader(builder.finalize().changes, builder.extrinsics);
  if (sealed.extrinsicsRoot !== header.extrinsicsRoot) {
    throw new RuntimeApiError("Transaction trie root must be valid.");
  }
  if (sealed.stateRoot !== header.stateRoot) {
    throw new RuntimeApiError("Storage root must match that calculated.");
  }
  return UNIT;
}

/** BlockBuilder_check_inherents: the block's timestamp against the author's clock (`data`). */
function checkInherents(host: RuntimeApiHost, input: ApiInput): Uint8Array {
  const { extrinsics } = input.block();
  const data = input.inherentData().get(TIMESTAMP_INHERENT);
  const blockTime = inherentTimestamp(host.runtime, extrinsics[0]);
  if (data === undefined || data.length !== 8) {
    throw new RuntimeApiError("Timestamp inherent data must be provided.");
  }
  if (blockTime === undefined) throw new RuntimeApiError("Timestamp inherent must be provided.");
  const authorTime = Buffer.from(data).readBigUInt64LE(0);
  const minimum = timestampNow.get(host.context()) + MINIMUM_PERIOD_MS;
  // sp_timestamp::InherentError: TooEarly (0) or TooFarInFuture (1), both fatal.
  const error = blockTime > authorTime + MAX_TIMESTAMP_DRIFT_MS ? 1 : blockTime < minimum ? 0 : undefined;
  if (error === undefined) return new Uint8Array([1, 0, 0]);
  return u8aConcat(
    new Uint8Array([0, 1]),
    compactToU8a(1),
    Buffer.from(TIMESTAMP_INHERENT, "latin1"),
    compactAddLength(new Uint8Array([error])),
  );
}

/** The fee of a call in an extrinsic of `length` bytes, as TransactionPaymentApi reports it. */
function dispatchInfo(host: RuntimeApiHost, call: DecodedCall, length: number, signed: boolean) {
  const { weight, fee } = feeOf(host.runtime, call, length);
  return {
    info: {
      weight: { refTime: weight, proofSize: 0n },
      class: "Normal",
      partialFee: signed ? totalFee(fee, 0n) : 0n,
    },
    fee,
  };
}

function extrinsicCall(host: RuntimeApiHost, input: ApiInput) {
  const bytes = input.extrinsic();
  const extrinsic = decodeExtrinsic(host.runtime, bytes);
  const call = host.runtime.fromCodec(extrinsic.method);
  return { extrinsic, call, length: input.u32() };
}

const FEE_CONVERSIONS = {
  query_weight_to_fee: {
    inputs: { weight: "Weight" },
    output: "u128",
    docs: "The fee of a weight (at most a block's), the fee multiplier being 1.",
    call: (_host, input) =>
      least((input.value("Weight") as NativeRecord).refTime as bigint, MAX_BLOCK_WEIGHT) / WEIGHT_PER_PLANCK,
  },
  query_length_to_fee: {
    inputs: { length: "u32" },
    output: "u128",
    docs: "The fee of an encoded length.",
    call: (_host, input) => inclusionFee(input.u32(), 0n).lenFee,
  },
} satisfies Readonly<Record<string, ApiMethod>>;

/** Core_version's answer: the SCALE RuntimeVersion. */
export function encodedVersion(runtime: Runtime): Uint8Array {
  return runtime.codec.encode("", "RuntimeVersion", {
    ...RUNTIME_VERSION,
    apis: RUNTIME_VERSION.apis.map(([id, version]) => [id, version]),
  });
}

/** Exactly the runtime APIs the version lists (RUNTIME_API_VERSIONS), by name. */
const RUNTIME_APIS: { readonly [Name in RuntimeApiName]: RuntimeApi } = {
  Core: {
    docs: "The runtime's version and block execution.",
    methods: {
      version: {
        inputs: {},
        output: "RuntimeVersion",
        docs: "The runtime's version.",
        call: (host) => encodedVersion(host.runtime),
      },
      execute_block: {
        inputs: { block: "Block" },
        output: "()",
        docs: "Executes a block on top of the one called at, checking its roots.",
        call: executeBlock,
      },
      initialize_block: {
        inputs: { header: "Header" },
        output: "()",
        docs: "Starts a block (its effects last only for this call).",
        call: (_host, input) => {
          input.header();
          return UNIT;
        },
      },
    },
  },
  Metadata: {
    docs: "The runtime's metadata.",
    methods: {
      metadata: {
        inputs: {},
        output: "OpaqueMetadata",
        docs: "Metadata V14.",
        call: (host) => compactAddLength(host.runtime.metadata.v14),
      },
      metadata_at_version: {
        inputs: { version: "u32" },
        output: "Option<OpaqueMetadata>",
        docs: "The metadata at a version listed by `metadata_versions`, or None.",
        call: (host, input) => {
          const version = input.u32();
          const bytes =
            version === 14
              ? host.runtime.metadata.v14
              : version === 15
                ? host.runtime.metadata.v15
                : undefined;
          return bytes === undefined ? new Uint8Array([0]) : u8aConcat([1], compactAddLength(bytes));
        },
      },
      metadata_versions: {
        inputs: {},
        output: "Vec<u32>",
        docs: "The metadata versions this runtime serves.",
        call: () => [...METADATA_VERSIONS],
      },
    },
  },
  BlockBuilder: {
    docs: "Building a block on top of the one called at.",
    methods: {
      apply_extrinsic: {
        inputs: { extrinsic: "UncheckedExtrinsic" },
        output: "ApplyExtrinsicResult",
        docs: "Applies an extrinsic in the next block (a dry run: nothing is kept).",
        call: (host, input): NativeValue => {
          const bytes = input.extrinsic();
          const env = host.validationEnv();
          const builder = startBlock(host);
          try {
            const transaction = checkedTransaction(host, env, bytes);
            for (const extension of SIGNED_EXTENSIONS) extension.validate?.(env, host.context(), transaction);
            const outcome = builder.apply(transaction);
            return outcome.included ? { Ok: outcome.result } : { Err: validityError(outcome.reason) };
          } catch (error) {
            return { Err: validityError(error) };
          }
        },
      },
      finalize_block: {
        inputs: {},
        output: "Header",
        docs: "The header of an empty block built on the one called at, now.",
        call: (host) => {
          const builder = startBlock(host);
          return host.sealHeader(builder.finalize().changes, builder.extrinsics).bytes;
        },
      },
      inherent_extrinsics: {
        inputs: { inherent: "InherentData" },
        output: "Vec<UncheckedExtrinsic>",
        docs: "The inherents a block author puts first: `Timestamp.set` from the `timstap0` data.",
        call: (_host, input) => {
          const data = input.inherentData().get(TIMESTAMP_INHERENT);
          if (data === undefined || data.length !== 8) {
            throw new RuntimeApiError("Timestamp inherent data must be provided.");
          }
          return u8aConcat(compactToU8a(1), timestampInherent(Buffer.from(data).readBigUInt64LE(0)));
        },
      },
      check_inherents: {
        inputs: { block: "Block", data: "InherentData" },
        output: "CheckInherentsResult",
        docs: "Checks a block's inherents against the author's inherent data.",
        call: checkInherents,
      },
    },
  },
  TaggedTransactionQueue: {
    docs: "Transaction validity for the pool.",
    methods: {
      validate_transaction: {
        inputs: { source: "TransactionSource", tx: "UncheckedExtrinsic", block_hash: "H256" },
        output: "TransactionValidity",
        docs: "Whether a transaction is valid for the block after the one called at, and its tags.",
        call: (host, input) => {
          input.value("TransactionSource");
          const bytes = input.extrinsic();
          input.value("H256");
          return validateTransaction(host, bytes);
        },
      },
    },
  },
  AccountNonceApi: {
    docs: "Account nonces.",
    methods: {
      account_nonce: {
        inputs: { account: "AccountId32" },
        output: "u32",
        docs: "The nonce of an account's next transaction (pending pool transactions not counted).",
        call: (host, input) => accountNonce(host.context(), input.value("AccountId32") as string),
      },
    },
  },
  TransactionPaymentApi: {
    docs: "The fees of extrinsics.",
    methods: {
      query_info: {
        inputs: { uxt: "UncheckedExtrinsic", len: "u32" },
        output: "RuntimeDispatchInfo",
        docs: "An extrinsic's weight, class and fee (without tip; 0 for an unsigned one).",
        call: (host, input) => {
          const { extrinsic, call, length } = extrinsicCall(host, input);
          return dispatchInfo(host, call, length, extrinsic.isSigned).info;
        },
      },
      query_fee_details: {
        inputs: { uxt: "UncheckedExtrinsic", len: "u32" },
        output: "FeeDetails",
        docs: "An extrinsic's fee in parts, and its tip.",
        call: (host, input) => {
          const { extrinsic, call, length } = extrinsicCall(host, input);
          const { fee } = dispatchInfo(host, call, length, extrinsic.isSigned);
          return { inclusionFee: extrinsic.isSigned ? fee : null, tip: extrinsic.tip.toBigInt() };
        },
      },
      ...FEE_CONVERSIONS,
    },
  },
  TransactionPaymentCallApi: {
    docs: "The fees of calls, as if signed.",
    methods: {
      query_call_info: {
        inputs: { call: "RuntimeCall", len: "u32" },
        output: "RuntimeDispatchInfo",
        docs: "A call's weight, class and fee in a signed extrinsic of `len` bytes.",
        call: (host, input) => {
          return dispatchInfo(host, input.call(), input.u32(), true).info;
        },
      },
      query_call_fee_details: {
        inputs: { call: "RuntimeCall", len: "u32" },
        output: "FeeDetails",
        docs: "A call's fee in parts, in a signed extrinsic of `len` bytes.",
        call: (host, input) => {
          return { inclusionFee: dispatchInfo(host, input.call(), input.u32(), true).fee, tip: 0n };
        },
      },
      ...FEE_CONVERSIONS,
    },
  },
};

/** The runtime APIs as metadata V15 lists them. */
export const RUNTIME_API_METADATA: readonly RuntimeApiMetadata[] = Object.entries(RUNTIME_APIS).map(
  ([name, api]) => ({ name, ...api }),
);

const METHODS = new Map<string, ApiMethod>(
  Object.entries(RUNTIME_APIS).flatMap(([api, { methods }]) =>
    Object.entries(methods).map(([name, method]) => [`${api}_${name}`, method] as const),
  ),
);

/** Runs `Api_method` at the host's block: SCALE input in, SCALE output out. */
export function callRuntimeApi(host: RuntimeApiHost, method: string, input: Uint8Array): Uint8Array {
  const api = METHODS.get(method);
  if (api === undefined) throw new RuntimeApiError(`Exported method ${method} is not found`);
  const output = api.call(host, new ApiInput(host.runtime, input));
  return output instanceof Uint8Array ? output : host.runtime.codec.encode("", api.output, output);
}
