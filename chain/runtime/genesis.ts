// Genesis: //Alice..//Ferdie (sr25519 dev keys) funded, //Alice the sudo key and operator treasury,
// and `:code`, which on a Substrate chain holds the Wasm runtime.
import { Keyring } from "@polkadot/keyring";
import { ExecutionContext } from "./execution-context.ts";
import { Overlay, type StateView } from "./overlay.ts";
import { endow, PLANCK_PER_VT } from "./pallets/balances.ts";
import { key as sudoKey } from "./pallets/sudo.ts";
import { SS58_PREFIX } from "./pallets/system.ts";
import type { Runtime } from "./runtime.ts";
import { encodedVersion } from "./runtime-apis.ts";

export const DEV_ACCOUNT_NAMES = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"] as const;
/** Each dev account starts with one million VT. */
export const DEV_ENDOWMENT = 1_000_000n * PLANCK_PER_VT;

const EMPTY: StateView = { get: () => undefined, keysWithPrefix: () => [] };
/** The well-known key `:code`. */
const CODE_KEY = "0x3a636f6465";

export function devAccountAddress(name: (typeof DEV_ACCOUNT_NAMES)[number]): string {
  return new Keyring({ type: "sr25519", ss58Format: SS58_PREFIX }).addFromUri(`//${name}`).address;
}

/** The genesis state as storage writes. */
export function genesisState(runtime: Runtime): Overlay {
  const state = new Overlay(EMPTY);
  const ctx = new ExecutionContext(
    runtime,
    { blockNumber: 0, now: 0n, parentHash: `0x${"00".repeat(32)}`, blockHash: () => undefined },
    state,
    "Initialization",
  );
  for (const name of DEV_ACCOUNT_NAMES) endow(ctx, devAccountAddress(name), DEV_ENDOWMENT);
  sudoKey.set(ctx, devAccountAddress("Alice"));
  // There is no Wasm here: `:code` holds the runtime's SCALE RuntimeVersion, so that clients that
  // tell runtimes apart by the hash of `:code` (polkadot-api) see a new one when the version changes.
  state.set(CODE_KEY, encodedVersion(runtime));
  return state;
}
