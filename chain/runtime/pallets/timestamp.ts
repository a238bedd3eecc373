// pallet_timestamp: the block's time, set by the block producer's inherent as the first extrinsic.
import { defineCall, definePallet, ensureNone, moduleError, storageValue } from "../pallet.ts";

/** Blocks may be sealed a millisecond apart (instant seal); each block's time is strictly later. */
export const MINIMUM_PERIOD_MS = 1n;
const SET_WEIGHT = 10_000_000n;

export const now = storageValue<bigint>({
  type: "u64",
  default: 0n,
  docs: "The current time for the current block.",
});
export const didUpdate = storageValue<boolean>({
  type: "bool",
  default: false,
  docs: "Whether the timestamp has been updated in this block.",
});

export const timestampPallet = definePallet({
  name: "Timestamp",
  index: 1,
  calls: {
    set: defineCall<{ now: bigint }>({
      args: { now: "Compact<u64>" },
      weight: () => SET_WEIGHT,
      docs: "Set the current time (inherent, unsigned, once per block).",
      handler(ctx, origin, args) {
        ensureNone(origin);
        if (didUpdate.get(ctx)) throw moduleError("Timestamp", "AlreadyUpdated");
        if (args.now < now.get(ctx) + MINIMUM_PERIOD_MS) throw moduleError("Timestamp", "TooEarly");
        now.set(ctx, args.now);
        didUpdate.set(ctx, true);
      },
    }),
  },
  storage: { Now: now, DidUpdate: didUpdate },
  errors: {
    AlreadyUpdated: "Timestamp must be updated only once in the block.",
    TooEarly: "Timestamp must increment by at least `MinimumPeriod` between sequential blocks.",
  },
  constants: {
    MinimumPeriod: {
      type: "u64",
      value: MINIMUM_PERIOD_MS,
      docs: "The minimum period between blocks, in milliseconds.",
    },
  },
  onFinalize(ctx) {
    didUpdate.kill(ctx);
  },
});
