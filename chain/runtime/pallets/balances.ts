// pallet_balances: free and reserved balances kept in System.Account, transfers, the existential
// deposit, total issuance, and the Currency other pallets use.
import {
  type AccountId,
  type Currency,
  type DispatchContext,
  defineCall,
  definePallet,
  type Existence,
  ensureRoot,
  ensureSigned,
  lookupAccount,
  moduleError,
  type NativeValue,
  storageValue,
} from "../pallet.ts";
import { type AccountData, type AccountInfo, account } from "./system.ts";

/** 12 decimals: 1 VT = 10^12 planck. */
export const PLANCK_PER_VT = 1_000_000_000_000n;
/** An account whose free + reserved balance would drop below 0.001 VT is removed (the dust is burned). */
export const EXISTENTIAL_DEPOSIT = 1_000_000_000n;

const TRANSFER_WEIGHT = 200_000_000n;
const FORCE_WEIGHT = 150_000_000n;

export const totalIssuance = storageValue<bigint>({
  type: "u128",
  default: 0n,
  docs: "The total units issued in the system.",
});

function load(ctx: DispatchContext, who: AccountId): AccountInfo {
  return account.get(ctx, who);
}

function exists(info: AccountInfo): boolean {
  return info.providers > 0;
}

/**
 * Writes an account's balances, creating it (NewAccount, Endowed) when it first reaches the
 * existential deposit and removing it (DustLost, KilledAccount) when it falls below.
 */
function store(ctx: DispatchContext, who: AccountId, before: AccountInfo, data: AccountData): void {
  const total = data.free + data.reserved;
  if (total < EXISTENTIAL_DEPOSIT) {
    if (exists(before)) {
      account.remove(ctx, who);
      if (total > 0n) {
        totalIssuance.set(ctx, totalIssuance.get(ctx) - total);
        ctx.depositEvent("Balances", "DustLost", { account: who, amount: total });
      }
      ctx.depositEvent("System", "KilledAccount", { account: who });
      return;
    }
    if (total > 0n) throw moduleError("Balances", "ExistentialDeposit");
    return;
  }
  if (!exists(before)) {
    account.set(ctx, who, { ...before, providers: 1, data });
    ctx.depositEvent("System", "NewAccount", { account: who });
    ctx.depositEvent("Balances", "Endowed", { account: who, freeBalance: data.free });
    return;
  }
  account.set(ctx, who, { ...before, data });
}

function transfer(
  ctx: DispatchContext,
  from: AccountId,
  to: AccountId,
  amount: bigint,
  existence: Existence,
): void {
  if (amount === 0n || from === to) {
    ctx.depositEvent("Balances", "Transfer", { from, to, amount });
    return;
  }
  const source = load(ctx, from);
  if (source.data.free < amount) throw moduleError("Balances", "InsufficientBalance");
  const sourceData = { ...source.data, free: source.data.free - amount };
  if (existence === "keepAlive" && sourceData.free + sourceData.reserved < EXISTENTIAL_DEPOSIT) {
    throw moduleError("Balances", "Expendability");
  }
  store(ctx, from, source, sourceData);
  const dest = load(ctx, to);
  store(ctx, to, dest, { ...dest.data, free: dest.data.free + amount });
  ctx.depositEvent("Balances", "Transfer", { from, to, amount });
}

function reserve(ctx: DispatchContext, who: AccountId, amount: bigint): void {
  const info = load(ctx, who);
  if (info.data.free < amount) throw moduleError("Balances", "InsufficientBalance");
  store(ctx, who, info, {
    ...info.data,
    free: info.data.free - amount,
    reserved: info.data.reserved + amount,
  });
  ctx.depositEvent("Balances", "Reserved", { who, amount });
}

function unreserve(ctx: DispatchContext, who: AccountId, amount: bigint): bigint {
  const info = load(ctx, who);
  const moved = amount < info.data.reserved ? amount : info.data.reserved;
  if (moved > 0n) {
    store(ctx, who, info, {
      ...info.data,
      free: info.data.free + moved,
      reserved: info.data.reserved - moved,
    });
    ctx.depositEvent("Balances", "Unreserved", { who, amount: moved });
  }
  return amount - moved;
}

function slashReserved(ctx: DispatchContext, who: AccountId, amount: bigint): bigint {
  const info = load(ctx, who);
  const slashed = amount < info.data.reserved ? amount : info.data.reserved;
  if (slashed > 0n) {
    totalIssuance.set(ctx, totalIssuance.get(ctx) - slashed);
    store(ctx, who, info, { ...info.data, reserved: info.data.reserved - slashed });
    ctx.depositEvent("Balances", "Slashed", { who, amount: slashed });
  }
  return slashed;
}

function repatriateReserved(
  ctx: DispatchContext,
  from: AccountId,
  to: AccountId,
  amount: bigint,
  into: "free" | "reserved",
): bigint {
  const source = load(ctx, from);
  const moved = amount < source.data.reserved ? amount : source.data.reserved;
  if (moved === 0n) return 0n;
  if (from === to) {
    if (into === "free") unreserve(ctx, from, moved);
    return moved;
  }
  const dest = load(ctx, to);
  if (!exists(dest) && moved < EXISTENTIAL_DEPOSIT) throw moduleError("Balances", "DeadAccount");
  store(ctx, from, source, { ...source.data, reserved: source.data.reserved - moved });
  const destData =
    into === "free"
      ? { ...dest.data, free: dest.data.free + moved }
      : { ...dest.data, reserved: dest.data.reserved + moved };
  store(ctx, to, dest, destData);
  ctx.depositEvent("Balances", "ReserveRepatriated", {
    from,
    to,
    amount: moved,
    destinationStatus: into === "free" ? "Free" : "Reserved",
  });
  return moved;
}

/** The Currency view of Balances for one dispatch context. */
export function currencyFor(ctx: DispatchContext): Currency {
  return {
    free: (who) => load(ctx, who).data.free,
    reserved: (who) => load(ctx, who).data.reserved,
    transfer: (from, to, amount, existence) => transfer(ctx, from, to, amount, existence),
    reserve: (who, amount) => reserve(ctx, who, amount),
    unreserve: (who, amount) => unreserve(ctx, who, amount),
    slashReserved: (who, amount) => slashReserved(ctx, who, amount),
    repatriateReserved: (from, to, amount, into) => repatriateReserved(ctx, from, to, amount, into),
  };
}

/** Whether the account can pay the fee from free balance and keep the existential deposit. */
export function canPayFee(ctx: DispatchContext, who: AccountId, fee: bigint): boolean {
  const info = load(ctx, who);
  return (
    exists(info) && info.data.free >= fee && info.data.free - fee + info.data.reserved >= EXISTENTIAL_DEPOSIT
  );
}

/**
 * Takes a transaction fee from free balance and burns it; false when the payer cannot pay it and
 * stay alive (Substrate's InvalidTransaction::Payment).
 */
export function withdrawFee(ctx: DispatchContext, who: AccountId, fee: bigint): boolean {
  if (!canPayFee(ctx, who, fee)) return false;
  if (fee === 0n) return true;
  const info = load(ctx, who);
  store(ctx, who, info, { ...info.data, free: info.data.free - fee });
  totalIssuance.set(ctx, totalIssuance.get(ctx) - fee);
  ctx.depositEvent("Balances", "Withdraw", { who, amount: fee });
  return true;
}

/** Genesis endowment: creates the account and adds the amount to the total issuance. */
export function endow(ctx: DispatchContext, who: AccountId, amount: bigint): void {
  const info = load(ctx, who);
  store(ctx, who, info, { ...info.data, free: info.data.free + amount });
  totalIssuance.set(ctx, totalIssuance.get(ctx) + amount);
}

type TransferArgs = { dest: NativeValue; value: bigint };

export const balancesPallet = definePallet({
  name: "Balances",
  index: 2,
  calls: {
    transferAllowDeath: defineCall<TransferArgs>({
      args: { dest: "MultiAddress", value: "Compact<u128>" },
      weight: () => TRANSFER_WEIGHT,
      docs: "Transfer some liquid free balance to another account; the sender may be reaped.",
      handler(ctx, origin, args) {
        transfer(ctx, ensureSigned(origin), lookupAccount(args.dest), args.value, "allowDeath");
      },
    }),
    forceTransfer: defineCall<{ source: NativeValue; dest: NativeValue; value: bigint }>({
      args: { source: "MultiAddress", dest: "MultiAddress", value: "Compact<u128>" },
      weight: () => TRANSFER_WEIGHT,
      docs: "Exactly as `transfer_allow_death`, except the origin must be root and the source account may be specified.",
      handler(ctx, origin, args) {
        ensureRoot(origin);
        transfer(ctx, lookupAccount(args.source), lookupAccount(args.dest), args.value, "allowDeath");
      },
    }),
    transferKeepAlive: defineCall<TransferArgs>({
      args: { dest: "MultiAddress", value: "Compact<u128>" },
      weight: () => TRANSFER_WEIGHT,
      docs: "Same as `transfer_allow_death`, but fails rather than reaping the sender.",
      handler(ctx, origin, args) {
        transfer(ctx, ensureSigned(origin), lookupAccount(args.dest), args.value, "keepAlive");
      },
    }),
    forceSetBalance: defineCall<{ who: NativeValue; newFree: bigint }>({
      args: { who: "MultiAddress", newFree: "Compact<u128>" },
      weight: () => FORCE_WEIGHT,
      docs: "Set the free balance of an account (root); the difference is minted or burned.",
      handler(ctx, origin, args) {
        ensureRoot(origin);
        const who = lookupAccount(args.who);
        const info = load(ctx, who);
        totalIssuance.set(ctx, totalIssuance.get(ctx) + args.newFree - info.data.free);
        store(ctx, who, info, { ...info.data, free: args.newFree });
        const stored = load(ctx, who);
        ctx.depositEvent("Balances", "BalanceSet", { who, free: stored.data.free });
      },
    }),
  },
  storage: { TotalIssuance: totalIssuance },
  events: {
    Endowed: { account: "AccountId32", freeBalance: "u128" },
    DustLost: { account: "AccountId32", amount: "u128" },
    Transfer: { from: "AccountId32", to: "AccountId32", amount: "u128" },
    BalanceSet: { who: "AccountId32", free: "u128" },
    Reserved: { who: "AccountId32", amount: "u128" },
    Unreserved: { who: "AccountId32", amount: "u128" },
    ReserveRepatriated: {
      from: "AccountId32",
      to: "AccountId32",
      amount: "u128",
      destinationStatus: "BalanceStatus",
    },
    Deposit: { who: "AccountId32", amount: "u128" },
    Withdraw: { who: "AccountId32", amount: "u128" },
    Slashed: { who: "AccountId32", amount: "u128" },
  },
  types: {
    BalanceStatus: { enum: { Free: null, Reserved: null } },
  },
  errors: {
    VestingBalance: "Vesting balance too high to send value.",
    LiquidityRestrictions: "Account liquidity restrictions prevent withdrawal.",
    InsufficientBalance: "Balance too low to send value.",
    ExistentialDeposit: "Value too low to create account due to existential deposit.",
    Expendability: "Transfer/payment would kill account.",
    ExistingVestingSchedule: "A vesting schedule already exists for this account.",
    DeadAccount: "Beneficiary account must pre-exist.",
    TooManyReserves: "Number of named reserves exceed `MaxReserves`.",
  },
  constants: {
    ExistentialDeposit: {
      type: "u128",
      value: EXISTENTIAL_DEPOSIT,
      docs: "The minimum amount required to keep an account open.",
    },
    MaxLocks: {
      type: "u32",
      value: 50,
      docs: "The maximum number of locks that should exist on an account.",
    },
    MaxReserves: {
      type: "u32",
      value: 50,
      docs: "The maximum number of named reserves that can exist on an account.",
    },
    MaxFreezes: {
      type: "u32",
      value: 0,
      docs: "The maximum number of individual freeze locks that can exist on an account.",
    },
  },
});
