// Nodes and their money at risk (PROTOCOL.md §3 and §8): registration, bonding, unbonding,
// eligibility, duty counting and slashing. Stakes and bonds stay reserved on their owners.
import { encodeAddress } from "@polkadot/util-crypto";
import { type AccountId, type DispatchContext, DispatchError } from "../pallet.ts";
import { EXISTENTIAL_DEPOSIT } from "./balances.ts";
import { lesser, percentOf } from "./compute-amounts.ts";
import { computeError, ensure } from "./compute-errors.ts";
import { emit } from "./compute-events.ts";
import { nodes, parameters } from "./compute-storage.ts";
import type { Hash, NodeInfo, Parameters, Role, Roles, SlashReason } from "./compute-types.ts";

const SS58_PREFIX = 42;

/** `modl` ‖ `vt/jackp` padded with zeros to 32 bytes (Substrate's PalletId account convention). */
export const JACKPOT_ACCOUNT: AccountId = encodeAddress(
  Uint8Array.from([...Buffer.from("modlvt/jackp"), ...new Uint8Array(20)]),
  SS58_PREFIX,
);

const ROLES: readonly Role[] = ["worker", "verifier", "whistleblower"];

const dutyField = {
  worker: "workerDuties",
  verifier: "verifierDuties",
  whistleblower: "whistleblowerDuties",
} as const satisfies Record<Role, keyof NodeInfo>;

export function minimumStake(params: Parameters, role: Role): bigint {
  if (role === "worker") return params.minWorkerStake;
  if (role === "verifier") return params.minVerifierStake;
  return params.minWhistleblowerStake;
}

export function getNode(ctx: DispatchContext, who: AccountId): NodeInfo {
  const node = nodes.get(ctx, who);
  if (node === undefined) throw computeError("NotRegistered");
  return node;
}

function openDuties(node: NodeInfo): number {
  return node.workerDuties + node.verifierDuties + node.whistleblowerDuties;
}

/**
 * What one open duty in `role` puts at risk (PROTOCOL.md §3): the role's minimum stake for a
 * worker's task or a verifier's audit. A whistleblower risks its challenge bond, reserved apart.
 */
export function dutyStake(params: Parameters, role: Role): bigint {
  return role === "whistleblower" ? 0n : minimumStake(params, role);
}

/** The part of the bond that backs the node's open duties, one duty stake each. */
export function stakeAtRisk(node: NodeInfo, params: Parameters): bigint {
  return (
    BigInt(node.workerDuties) * dutyStake(params, "worker") +
    BigInt(node.verifierDuties) * dutyStake(params, "verifier")
  );
}

/**
 * A node has capacity for another duty while its bond not yet backing a duty covers one more duty
 * stake; a verifier also needs a forced-error commitment no open audit of its holds (§5.5).
 */
export function isEligible(node: NodeInfo, role: Role, params: Parameters): boolean {
  if (!node.roles[role] || node.bonded < minimumStake(params, role)) return false;
  if (role === "verifier" && node.commitmentInUse) return false;
  return node.bonded - stakeAtRisk(node, params) >= dutyStake(params, role);
}

/** Eligible nodes in `Nodes` storage-key order, so that a draw depends on the randomness only. */
export function eligibleNodes(
  ctx: DispatchContext,
  role: Role,
  profile: Hash | null,
  excluded: readonly AccountId[],
): AccountId[] {
  const params = parameters.get(ctx);
  return nodes
    .entries(ctx)
    .filter(
      ([who, node]) =>
        isEligible(node, role, params) &&
        (profile === null || node.profile === profile) &&
        !excluded.includes(who),
    )
    .map(([who]) => who);
}

export function changeDuties(ctx: DispatchContext, who: AccountId, role: Role, delta: 1 | -1): void {
  const node = getNode(ctx, who);
  const changed = { ...node, [dutyField[role]]: node[dutyField[role]] + delta };
  // With no verifier duty left no open audit holds the commitment (one that timed out was never
  // revealed), so it may serve the next audit.
  if (changed.verifierDuties === 0) changed.commitmentInUse = false;
  nodes.set(ctx, who, changed);
}

/** Opens an audit duty: the audit records the verifier's commitment, which is then spent. */
export function takeAudit(ctx: DispatchContext, verifier: AccountId): Hash {
  const node = getNode(ctx, verifier);
  nodes.set(ctx, verifier, { ...node, verifierDuties: node.verifierDuties + 1, commitmentInUse: true });
  return node.commitment;
}

/** Reserves on behalf of the pallet, reporting a shortfall as this pallet's error. */
export function reserveFunds(ctx: DispatchContext, who: AccountId, amount: bigint): void {
  try {
    ctx.currency.reserve(who, amount);
  } catch (error) {
    if (error instanceof DispatchError) throw computeError("InsufficientBalance");
    throw error;
  }
}

export function register(
  ctx: DispatchContext,
  who: AccountId,
  args: { roles: Roles; profile: Hash; commitment: Hash; bond: bigint },
): void {
  ensure(!nodes.has(ctx, who), "AlreadyRegistered");
  const roles = ROLES.filter((role) => args.roles[role]);
  ensure(roles.length > 0, "NoRoles");
  const params = parameters.get(ctx);
  ensure(
    roles.every((role) => args.bond >= minimumStake(params, role)),
    "BondTooLow",
  );
  reserveFunds(ctx, who, args.bond);
  nodes.set(ctx, who, {
    roles: args.roles,
    profile: args.profile,
    bonded: args.bond,
    unbonding: 0n,
    unlockAt: 0,
    commitment: args.commitment,
    commitmentInUse: false,
    workerDuties: 0,
    verifierDuties: 0,
    whistleblowerDuties: 0,
  });
  emit(ctx, "NodeRegistered", { who, roles: args.roles, profile: args.profile, bond: args.bond });
}

export function bondExtra(ctx: DispatchContext, who: AccountId, amount: bigint): void {
  const node = getNode(ctx, who);
  ensure(amount > 0n, "ZeroAmount");
  reserveFunds(ctx, who, amount);
  nodes.set(ctx, who, { ...node, bonded: node.bonded + amount });
  emit(ctx, "Bonded", { who, amount });
}

/** Only the bond no open duty needs may start unbonding. */
export function unbond(ctx: DispatchContext, who: AccountId, amount: bigint): void {
  const node = getNode(ctx, who);
  ensure(amount > 0n, "ZeroAmount");
  ensure(amount <= node.bonded - stakeAtRisk(node, parameters.get(ctx)), "InsufficientBond");
  const unlockAt = ctx.blockNumber + parameters.get(ctx).unbondingBlocks;
  nodes.set(ctx, who, {
    ...node,
    bonded: node.bonded - amount,
    unbonding: node.unbonding + amount,
    unlockAt,
  });
  emit(ctx, "Unbonding", { who, amount, unlockAt });
}

export function withdrawUnbonded(ctx: DispatchContext, who: AccountId): void {
  const node = getNode(ctx, who);
  ensure(node.unbonding > 0n, "NothingToWithdraw");
  ensure(ctx.blockNumber >= node.unlockAt, "StillLocked");
  // A node busy with several duties may still leave with what none of them needs; when a slash or
  // a higher minimum left the bond short of its duties, the unbonding chunk stays to back them.
  ensure(node.bonded >= stakeAtRisk(node, parameters.get(ctx)), "HasOpenDuties");
  ctx.currency.unreserve(who, node.unbonding);
  nodes.set(ctx, who, { ...node, unbonding: 0n });
  emit(ctx, "Withdrawn", { who, amount: node.unbonding });
}

export function deregister(ctx: DispatchContext, who: AccountId): void {
  const node = getNode(ctx, who);
  ensure(node.bonded === 0n && node.unbonding === 0n, "StakeRemaining");
  ensure(openDuties(node) === 0, "HasOpenDuties");
  nodes.remove(ctx, who);
  emit(ctx, "NodeDeregistered", { who });
}

/** A fresh forced-error commitment: the verifier may take another audit with it. */
export function rotateCommitment(ctx: DispatchContext, who: AccountId, commitment: Hash): void {
  const node = getNode(ctx, who);
  ensure(commitment !== node.commitment, "CommitmentReused");
  nodes.set(ctx, who, { ...node, commitment, commitmentInUse: false });
}

/** Balances refuses to create an account with less than the existential deposit. */
export function canReceive(ctx: DispatchContext, who: AccountId, amount: bigint): boolean {
  return amount >= EXISTENTIAL_DEPOSIT || ctx.currency.free(who) + ctx.currency.reserved(who) > 0n;
}

/**
 * Splits `amount` of the offender's reserved balance between the winner (if any), the jackpot
 * and the treasury; nothing is burnt (PROTOCOL.md §8).
 */
function distribute(
  ctx: DispatchContext,
  offender: AccountId,
  amount: bigint,
  winner: AccountId | null,
  reason: SlashReason,
): void {
  const params = parameters.get(ctx);
  const toWinner = winner === null ? 0n : percentOf(amount, params.winnerSharePercent);
  const jackpotShare = percentOf(amount, params.jackpotSharePercent);
  const toJackpot = canReceive(ctx, JACKPOT_ACCOUNT, jackpotShare) ? jackpotShare : 0n;
  const toTreasury = amount - toWinner - toJackpot;
  const parts: Array<[AccountId | null, bigint]> = [
    [winner, toWinner],
    [JACKPOT_ACCOUNT, toJackpot],
    [params.treasury, toTreasury],
  ];
  for (const [recipient, part] of parts) {
    if (recipient !== null && part > 0n) ctx.currency.repatriateReserved(offender, recipient, part, "free");
  }
  emit(ctx, "Slashed", { who: offender, amount, toWinner, toJackpot, toTreasury, reason });
}

/**
 * Takes `percent` of the duty stake of the duty the offender failed in `role` (never of its whole
 * bond, which backs its other duties too), from `bonded` first, then from `unbonding`.
 */
export function slashStake(
  ctx: DispatchContext,
  offender: AccountId,
  role: Exclude<Role, "whistleblower">,
  reason: Exclude<SlashReason, "LostChallenge">,
  winner: AccountId | null,
): void {
  const node = getNode(ctx, offender);
  const params = parameters.get(ctx);
  const percent = reason === "Fraud" ? params.fraudSlashPercent : params.timeoutSlashPercent;
  const amount = lesser(percentOf(dutyStake(params, role), percent), node.bonded + node.unbonding);
  const fromBonded = lesser(amount, node.bonded);
  nodes.set(ctx, offender, {
    ...node,
    bonded: node.bonded - fromBonded,
    unbonding: node.unbonding - (amount - fromBonded),
  });
  distribute(ctx, offender, amount, winner, reason);
}

/** A whistleblower that loses a transcript dispute forfeits its whole challenge bond. */
export function slashChallengeBond(
  ctx: DispatchContext,
  offender: AccountId,
  bond: bigint,
  winner: AccountId,
): void {
  distribute(ctx, offender, bond, winner, "LostChallenge");
}
