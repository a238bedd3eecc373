// The delivery dispute of a task (PROTOCOL.md §7, "Undelivered commit") as the bridge reads it: the
// submitter's challenge of a commit whose checkpoints or model never arrived, and the referee's ruling.
import { stringToHex } from "@polkadot/util";
import { BridgeError } from "./errors.ts";
import { bigintOf, hashArgument, hashOf, numberOf, objectOf, optionalOf, variantOf } from "./values.ts";

export const DELIVERY_OUTCOMES = ["Delivered", "Undelivered", "FalseClaim"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export interface DeliveryView {
  /** The submitter's bond, in planck. */
  bond: bigint;
  /** The model the worker's signed claim named, when the challenge carries one. */
  claimedModel: string | null;
  /** The worker's last block to republish its checkpoints; `Undelivered` is ruled only after it. */
  deadline: number;
  /** After this block, without a ruling, the challenge lapses: void, nobody slashed. */
  lapsesAfter: number;
  /** `Delivered` once ruled so (the task goes on); null while the challenge is open. */
  ruling: DeliveryOutcome | null;
}

/**
 * The worker's signed commitment to a model, as the gateway received it: `taskRef` the platform's
 * task id the worker signed, `modelSha256` and `signature` (sr25519, 64 bytes) as hex.
 */
export interface DeliveryClaimInput {
  taskRef: string;
  modelSha256: string;
  signature: string;
}

const SIGNATURE_HEX = /^(0x)?[0-9a-f]{128}$/i;

/** The `Option<DeliveryClaim>` argument of `challenge_delivery`. */
export function deliveryClaimArgument(claim: DeliveryClaimInput | null): Record<string, string> | null {
  if (claim === null) return null;
  if (!SIGNATURE_HEX.test(claim.signature)) {
    throw new BridgeError("INVALID_ARGUMENT", "claim.signature must be 64 bytes of hex");
  }
  return {
    taskRef: stringToHex(claim.taskRef),
    model: hashArgument(claim.modelSha256, "claim.modelSha256"),
    signature: claim.signature.startsWith("0x") ? claim.signature : `0x${claim.signature}`,
  };
}

export function deliveryFromPrimitive(value: unknown, where: string): DeliveryView | null {
  return optionalOf(value, (present) => {
    const raw = objectOf(present, where);
    const claim = optionalOf(raw.claim, (c) => objectOf(c, `${where}.claim`));
    return {
      bond: bigintOf(raw.bond, `${where}.bond`),
      claimedModel: claim === null ? null : hashOf(claim.model, `${where}.claim.model`),
      deadline: numberOf(raw.deadline, `${where}.deadline`),
      lapsesAfter: numberOf(raw.lapsesAfter, `${where}.lapsesAfter`),
      ruling: optionalOf(raw.ruling, (r) => variantOf(r, DELIVERY_OUTCOMES, `${where}.ruling`)),
    };
  });
}

/** Whether the delivery challenge waits for the referee (open: not ruled, not lapsed and closed). */
export function deliveryOpen(delivery: DeliveryView | null): delivery is DeliveryView {
  return delivery !== null && delivery.ruling === null;
}
