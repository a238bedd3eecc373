// frame_system: accounts and nonces, block number and hashes, events, remarks.
import { blake2AsHex } from "@polkadot/util-crypto";
import {
  type AccountId,
  type DispatchContext,
  defineCall,
  definePallet,
  ensureSigned,
  type NativeValue,
  storageMap,
  storageValue,
} from "../pallet.ts";
import { RUNTIME_VERSION } from "../version.ts";

/** Blocks whose hashes stay queryable (mortal eras can be born at most this far back). */
export const BLOCK_HASH_COUNT = 4096;
export const SS58_PREFIX = 42;

/** 2 s of compute per block, three quarters for ordinary transactions, as in Substrate's defaults. */
export const MAX_BLOCK_WEIGHT = 2_000_000_000_000n;
export const MAX_NORMAL_WEIGHT = (MAX_BLOCK_WEIGHT * 3n) / 4n;
export const MAX_BLOCK_LENGTH = 5 * 1024 * 1024;
export const MAX_NORMAL_LENGTH = (MAX_BLOCK_LENGTH * 3) / 4;
/** Proof size is not metered on this chain (no parachain validation): its limit is u64::MAX. */
const UNMETERED = (1n << 64n) - 1n;

const weight = (refTime: bigint, proofSize = UNMETERED) => ({ refTime, proofSize });

export type AccountData = { free: bigint; reserved: bigint; frozen: bigint; flags: bigint };
export type AccountInfo = {
  nonce: number;
  consumers: number;
  providers: number;
  sufficients: number;
  data: AccountData;
};

export const EMPTY_ACCOUNT: AccountInfo = {
  nonce: 0,
  consumers: 0,
  providers: 0,
  sufficients: 0,
  data: { free: 0n, reserved: 0n, frozen: 0n, flags: 0n },
};

export const account = storageMap<AccountId, AccountInfo>({
  hasher: "Blake2_128Concat",
  key: "AccountId32",
  type: "AccountInfo",
  default: EMPTY_ACCOUNT,
  docs: "The full account information for a particular account ID.",
});
export const blockHash = storageMap<number, string>({
  hasher: "Twox64Concat",
  key: "u32",
  type: "H256",
  default: `0x${"00".repeat(32)}`,
  docs: "Map of block numbers to block hashes.",
});
export const number = storageValue<number>({ type: "u32", default: 0, docs: "The current block number." });
export const parentHash = storageValue<string>({
  type: "H256",
  default: `0x${"00".repeat(32)}`,
  docs: "Hash of the previous block.",
});
export const events = storageValue<readonly NativeValue[]>({
  type: "Vec<EventRecord>",
  default: [],
  docs: "Events deposited for the current block (written by the executive when the block is sealed).",
});
export const eventCount = storageValue<number>({
  type: "u32",
  default: 0,
  docs: "The number of events in `Events`.",
});

const REMARK_BASE_WEIGHT = 1_000_000n;
const REMARK_WEIGHT_PER_BYTE = 1_000n;

function remarkWeight(args: { remark: string }): bigint {
  return REMARK_BASE_WEIGHT + REMARK_WEIGHT_PER_BYTE * BigInt((args.remark.length - 2) / 2);
}

export const systemPallet = definePallet({
  name: "System",
  index: 0,
  crate: "frame_system",
  types: {
    AccountData: { struct: { free: "u128", reserved: "u128", frozen: "u128", flags: "u128" } },
    AccountInfo: {
      struct: { nonce: "u32", consumers: "u32", providers: "u32", sufficients: "u32", data: "AccountData" },
    },
    WeightsPerClass: {
      struct: {
        baseExtrinsic: "Weight",
        maxExtrinsic: "Option<Weight>",
        maxTotal: "Option<Weight>",
        reserved: "Option<Weight>",
      },
    },
    BlockWeights: {
      struct: { baseBlock: "Weight", maxBlock: "Weight", perClass: "WeightsPerDispatchClass" },
    },
    WeightsPerDispatchClass: {
      struct: { normal: "WeightsPerClass", operational: "WeightsPerClass", mandatory: "WeightsPerClass" },
    },
    LengthPerDispatchClass: { struct: { normal: "u32", operational: "u32", mandatory: "u32" } },
    BlockLength: { struct: { max: "LengthPerDispatchClass" } },
  },
  calls: {
    remark: defineCall<{ remark: string }>({
      args: { remark: "Bytes" },
      weight: remarkWeight,
      docs: "Make some on-chain remark.",
      handler(_ctx, origin) {
        ensureSigned(origin);
      },
    }),
    remarkWithEvent: defineCall<{ remark: string }>({
      args: { remark: "Bytes" },
      weight: remarkWeight,
      docs: "Make some on-chain remark and emit an event.",
      handler(ctx, origin, args) {
        const sender = ensureSigned(origin);
        ctx.depositEvent("System", "Remarked", { sender, hash: blake2AsHex(args.remark, 256) });
      },
    }),
  },
  storage: {
    Account: account,
    BlockHash: blockHash,
    Number: number,
    ParentHash: parentHash,
    Events: events,
    EventCount: eventCount,
  },
  events: {
    ExtrinsicSuccess: { dispatchInfo: "DispatchInfo" },
    ExtrinsicFailed: { dispatchError: "DispatchError", dispatchInfo: "DispatchInfo" },
    CodeUpdated: {},
    NewAccount: { account: "AccountId32" },
    KilledAccount: { account: "AccountId32" },
    Remarked: { sender: "AccountId32", hash: "H256" },
  },
  errors: {
    InvalidSpecName:
      "The name of specification does not match between the current runtime and the new runtime.",
    SpecVersionNeedsToIncrease: "The specification version is not allowed to decrease.",
    FailedToExtractRuntimeVersion: "Failed to extract the runtime version from the new runtime.",
    NonDefaultComposite: "Suicide called when the account has non-default composite data.",
    NonZeroRefCount: "There is a non-zero reference count preventing the account from being purged.",
    CallFiltered: "The origin filter prevent the call to be dispatched.",
  },
  constants: {
    BlockWeights: {
      type: "BlockWeights",
      value: {
        baseBlock: weight(0n, 0n),
        maxBlock: weight(MAX_BLOCK_WEIGHT),
        perClass: {
          normal: {
            baseExtrinsic: weight(0n, 0n),
            maxExtrinsic: weight(MAX_NORMAL_WEIGHT),
            maxTotal: weight(MAX_NORMAL_WEIGHT),
            reserved: weight(0n, 0n),
          },
          operational: {
            baseExtrinsic: weight(0n, 0n),
            maxExtrinsic: weight(MAX_BLOCK_WEIGHT),
            maxTotal: weight(MAX_BLOCK_WEIGHT),
            reserved: weight(MAX_BLOCK_WEIGHT - MAX_NORMAL_WEIGHT),
          },
          mandatory: { baseExtrinsic: weight(0n, 0n), maxExtrinsic: null, maxTotal: null, reserved: null },
        },
      },
      docs: "Block and extrinsic weight limits, by dispatch class.",
    },
    BlockLength: {
      type: "BlockLength",
      value: {
        max: { normal: MAX_NORMAL_LENGTH, operational: MAX_BLOCK_LENGTH, mandatory: MAX_BLOCK_LENGTH },
      },
      docs: "The maximum length of a block (in bytes), by dispatch class.",
    },
    BlockHashCount: {
      type: "u32",
      value: BLOCK_HASH_COUNT,
      docs: "Maximum number of block number to block hash mappings to keep.",
    },
    Version: {
      type: "RuntimeVersion",
      value: { ...RUNTIME_VERSION, apis: RUNTIME_VERSION.apis.map(([id, version]) => [id, version]) },
      docs: "Get the chain's in-code version.",
    },
    SS58Prefix: { type: "u16", value: SS58_PREFIX, docs: "The designated SS58 prefix of this chain." },
  },
  onInitialize(ctx) {
    number.set(ctx, ctx.blockNumber);
    parentHash.set(ctx, ctx.parentHash);
    blockHash.set(ctx, ctx.blockNumber - 1, ctx.parentHash);
    const expired = ctx.blockNumber - 1 - BLOCK_HASH_COUNT;
    if (expired > 0) blockHash.remove(ctx, expired);
  },
});

export function accountNonce(ctx: DispatchContext, who: AccountId): number {
  return account.get(ctx, who).nonce;
}

export function incrementNonce(ctx: DispatchContext, who: AccountId): void {
  const info = account.get(ctx, who);
  account.set(ctx, who, { ...info, nonce: info.nonce + 1 });
}
