// The pallets of the Veritrain runtime, in the order their hooks run (construct_runtime!), and the
// runtime APIs it implements (impl_runtime_apis!).
import type { PalletDefinition } from "./pallet.ts";
import { balancesPallet } from "./pallets/balances.ts";
import { computePallet } from "./pallets/compute.ts";
import { sudoPallet } from "./pallets/sudo.ts";
import { SS58_PREFIX, systemPallet } from "./pallets/system.ts";
import { timestampPallet } from "./pallets/timestamp.ts";
import { transactionPaymentPallet } from "./pallets/transaction-payment.ts";
import { utilityPallet } from "./pallets/utility.ts";
import { Runtime } from "./runtime.ts";
import { RUNTIME_API_METADATA } from "./runtime-apis.ts";

export const RUNTIME_PALLETS: readonly PalletDefinition[] = [
  systemPallet,
  timestampPallet,
  balancesPallet,
  transactionPaymentPallet,
  sudoPallet,
  utilityPallet,
  computePallet,
];

export const TOKEN_SYMBOL = "VT";
export const TOKEN_DECIMALS = 12;

export function constructRuntime(): Runtime {
  return new Runtime(RUNTIME_PALLETS, RUNTIME_API_METADATA, {
    ss58Format: SS58_PREFIX,
    tokenSymbol: TOKEN_SYMBOL,
    tokenDecimals: TOKEN_DECIMALS,
  });
}
