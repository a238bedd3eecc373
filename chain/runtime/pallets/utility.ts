// pallet_utility: batches of calls, best-effort (`batch`) or all-or-nothing (`batch_all`).
import { defineCall, definePallet, moduleError } from "../pallet.ts";

const BATCH_OVERHEAD_WEIGHT = 5_000_000n;
const MAX_BATCH_CALLS = 1024;

type BatchArgs = { calls: readonly string[] };

function batchWeight(args: BatchArgs, weigh: (call: string) => bigint): bigint {
  return args.calls.reduce((sum, call) => sum + weigh(call), BATCH_OVERHEAD_WEIGHT);
}

export const utilityPallet = definePallet({
  name: "Utility",
  index: 5,
  calls: {
    batch: defineCall<BatchArgs>({
      args: { calls: "Vec<RuntimeCall>" },
      weight: batchWeight,
      docs: "Dispatch calls in order until one fails; the batch itself succeeds (BatchInterrupted).",
      handler(ctx, origin, args) {
        if (args.calls.length > MAX_BATCH_CALLS) throw moduleError("Utility", "TooManyCalls");
        for (const [index, call] of args.calls.entries()) {
          const outcome = ctx.dispatch(origin, call);
          if (!outcome.ok) {
            ctx.depositEvent("Utility", "BatchInterrupted", { index, error: outcome.errorValue });
            return;
          }
          ctx.depositEvent("Utility", "ItemCompleted", {});
        }
        ctx.depositEvent("Utility", "BatchCompleted", {});
      },
    }),
    batchAll: defineCall<BatchArgs>({
      args: { calls: "Vec<RuntimeCall>" },
      weight: batchWeight,
      docs: "Dispatch calls in order; if one fails, none of them has any effect.",
      handler(ctx, origin, args) {
        if (args.calls.length > MAX_BATCH_CALLS) throw moduleError("Utility", "TooManyCalls");
        for (const call of args.calls) {
          const outcome = ctx.dispatch(origin, call);
          if (!outcome.ok) throw outcome.error;
          ctx.depositEvent("Utility", "ItemCompleted", {});
        }
        ctx.depositEvent("Utility", "BatchCompleted", {});
      },
    }),
  },
  events: {
    BatchInterrupted: { index: "u32", error: "DispatchError" },
    BatchCompleted: {},
    BatchCompletedWithErrors: {},
    ItemCompleted: {},
    ItemFailed: { error: "DispatchError" },
  },
  errors: { TooManyCalls: "Too many calls batched." },
});
