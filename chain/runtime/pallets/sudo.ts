// pallet_sudo: one key that may dispatch any call with Root origin.
import {
  type AccountId,
  type DispatchContext,
  defineCall,
  definePallet,
  ensureSigned,
  lookupAccount,
  moduleError,
  type NativeValue,
  type Origin,
  storageValue,
} from "../pallet.ts";

const SUDO_OVERHEAD_WEIGHT = 10_000_000n;

export const key = storageValue<AccountId>({ type: "AccountId32", docs: "The `AccountId` of the sudo key." });

function ensureSudo(ctx: DispatchContext, origin: Origin): AccountId {
  const sender = ensureSigned(origin);
  if (key.get(ctx) !== sender) throw moduleError("Sudo", "RequireSudo");
  return sender;
}

export const sudoPallet = definePallet({
  name: "Sudo",
  index: 4,
  calls: {
    sudo: defineCall<{ call: string }>({
      args: { call: "RuntimeCall" },
      weight: (args, weigh) => SUDO_OVERHEAD_WEIGHT + weigh(args.call),
      docs: "Authenticates the sudo key and dispatches a function call with `Root` origin.",
      handler(ctx, origin, args) {
        ensureSudo(ctx, origin);
        const outcome = ctx.dispatch({ kind: "root" }, args.call);
        ctx.depositEvent("Sudo", "Sudid", { sudoResult: outcome.result });
      },
    }),
    sudoUncheckedWeight: defineCall<{ call: string; weight: NativeValue }>({
      args: { call: "RuntimeCall", weight: "Weight" },
      weight: () => SUDO_OVERHEAD_WEIGHT,
      docs: "Like `sudo`, with the weight given by the caller.",
      handler(ctx, origin, args) {
        ensureSudo(ctx, origin);
        const outcome = ctx.dispatch({ kind: "root" }, args.call);
        ctx.depositEvent("Sudo", "Sudid", { sudoResult: outcome.result });
      },
    }),
    setKey: defineCall<{ new: NativeValue }>({
      args: { new: "MultiAddress" },
      weight: () => SUDO_OVERHEAD_WEIGHT,
      docs: "Authenticates the current sudo key and sets the given AccountId as the new sudo key.",
      handler(ctx, origin, args) {
        const old = ensureSudo(ctx, origin);
        const next = lookupAccount(args.new);
        key.set(ctx, next);
        ctx.depositEvent("Sudo", "KeyChanged", { old, new: next });
      },
    }),
    sudoAs: defineCall<{ who: NativeValue; call: string }>({
      args: { who: "MultiAddress", call: "RuntimeCall" },
      weight: (args, weigh) => SUDO_OVERHEAD_WEIGHT + weigh(args.call),
      docs: "Dispatches a call with a `Signed` origin of the given account.",
      handler(ctx, origin, args) {
        ensureSudo(ctx, origin);
        const outcome = ctx.dispatch({ kind: "signed", who: lookupAccount(args.who) }, args.call);
        ctx.depositEvent("Sudo", "SudoAsDone", { sudoResult: outcome.result });
      },
    }),
  },
  storage: { Key: key },
  events: {
    Sudid: { sudoResult: "DispatchResult" },
    KeyChanged: { old: "Option<AccountId32>", new: "AccountId32" },
    KeyRemoved: {},
    SudoAsDone: { sudoResult: "DispatchResult" },
  },
  errors: { RequireSudo: "Sender must be the Sudo account." },
});
