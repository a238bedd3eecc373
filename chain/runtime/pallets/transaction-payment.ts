// pallet_transaction_payment: the fee formula (served by TransactionPaymentApi) and its event.
import { definePallet, storageValue } from "../pallet.ts";

/** Fee = BASE_FEE + LENGTH_FEE_PER_BYTE × encoded length + weight / WEIGHT_PER_PLANCK, plus the tip. */
export const BASE_FEE = 1_000_000n;
export const LENGTH_FEE_PER_BYTE = 1_000n;
export const WEIGHT_PER_PLANCK = 100n;
const FEE_MULTIPLIER_ONE = 1_000_000_000_000_000_000n;

export type InclusionFee = { baseFee: bigint; lenFee: bigint; adjustedWeightFee: bigint };

export function inclusionFee(encodedLength: number, weight: bigint): InclusionFee {
  return {
    baseFee: BASE_FEE,
    lenFee: LENGTH_FEE_PER_BYTE * BigInt(encodedLength),
    adjustedWeightFee: weight / WEIGHT_PER_PLANCK,
  };
}

export function totalFee(fee: InclusionFee, tip: bigint): bigint {
  return fee.baseFee + fee.lenFee + fee.adjustedWeightFee + tip;
}

export const nextFeeMultiplier = storageValue<bigint>({
  type: "u128",
  default: FEE_MULTIPLIER_ONE,
  docs: "The fee multiplier (FixedU128), constant 1 on this chain.",
});

export const transactionPaymentPallet = definePallet({
  name: "TransactionPayment",
  index: 3,
  storage: { NextFeeMultiplier: nextFeeMultiplier },
  events: {
    TransactionFeePaid: { who: "AccountId32", actualFee: "u128", tip: "u128" },
  },
  constants: {
    OperationalFeeMultiplier: {
      type: "u8",
      value: 5,
      docs: "A fee multiplier for `Operational` extrinsics to compute their priority.",
    },
  },
});
