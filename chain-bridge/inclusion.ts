// Where an extrinsic landed and what it did: its block, its index in the block, its events, and
// whether its call failed (ExtrinsicFailed, with the module error decoded from the chain's own
// metadata). Also the search used after a crash or a lost subscription: an extrinsic can only be
// in a block of its mortality window, so looking there by hash is conclusive.
import type { ApiPromise } from "@polkadot/api";
import type { Vec } from "@polkadot/types";
import type { DispatchError, EventRecord } from "@polkadot/types/interfaces";
import { stringCamelCase } from "@polkadot/util";
import { BridgeError, type ModuleError } from "./errors.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface DecodedEvent {
  pallet: string;
  name: string;
  /** Fields by camelCase name; integers beyond 2^53 as decimal strings, hashes and bytes as hex. */
  data: Record<string, JsonValue>;
}

export interface Inclusion {
  extrinsicHash: string;
  blockHash: string;
  blockNumber: number;
  extrinsicIndex: number;
  events: DecodedEvent[];
  /** False when the call failed: `module`/`detail` say why. */
  succeeded: boolean;
  module: ModuleError | null;
  detail: string | null;
}

export function decodeEvent(record: EventRecord): DecodedEvent {
  const { event } = record;
  const names = event.data.names ?? event.data.map((_, i) => String(i));
  const data: Record<string, JsonValue> = {};
  event.data.forEach((value, i) => {
    data[stringCamelCase(names[i] ?? String(i))] = value.toPrimitive() as JsonValue;
  });
  return { pallet: event.section.charAt(0).toUpperCase() + event.section.slice(1), name: event.method, data };
}

export function describeDispatchError(
  api: ApiPromise,
  error: DispatchError,
): { module: ModuleError | null; detail: string } {
  if (error.isModule) {
    const meta = api.registry.findMetaError(error.asModule);
    const pallet = meta.section.charAt(0).toUpperCase() + meta.section.slice(1);
    return {
      module: { pallet, name: meta.name, docs: meta.docs.join(" ").trim() },
      detail: `${pallet}.${meta.name}`,
    };
  }
  return { module: null, detail: error.toString() };
}

/** The outcome of one extrinsic from the events of its block that belong to it. */
export function inclusionFrom(
  api: ApiPromise,
  records: readonly EventRecord[],
  place: { extrinsicHash: string; blockHash: string; blockNumber: number; extrinsicIndex: number },
): Inclusion {
  const own = records.filter(
    (record) =>
      record.phase.isApplyExtrinsic && record.phase.asApplyExtrinsic.toNumber() === place.extrinsicIndex,
  );
  let outcome: { module: ModuleError | null; detail: string | null } | null = null;
  for (const { event } of own) {
    if (event.section !== "system") continue;
    if (event.method === "ExtrinsicSuccess") outcome = { module: null, detail: null };
    if (event.method === "ExtrinsicFailed") {
      outcome = describeDispatchError(api, api.createType("DispatchError", event.data[0]));
    }
  }
  // Every applied extrinsic ends with one of the two; without either, nothing can be concluded.
  if (outcome === null) {
    throw new BridgeError(
      "RECONCILE_FAILED",
      `extrinsic ${place.extrinsicHash} in block #${place.blockNumber} has neither ExtrinsicSuccess nor ExtrinsicFailed among its events`,
    );
  }
  return {
    ...place,
    events: own.map(decodeEvent),
    succeeded: outcome.module === null && outcome.detail === null,
    module: outcome.module,
    detail: outcome.detail,
  };
}

export async function eventsAt(api: ApiPromise, blockHash: string): Promise<EventRecord[]> {
  const at = await api.at(blockHash);
  const query = at.query.system?.events;
  if (!query) throw new BridgeError("RECONCILE_FAILED", "the chain's metadata has no System.Events storage");
  // System.Events is Vec<EventRecord> in every FRAME runtime; the metadata decodes it as such.
  return [...((await query()) as unknown as Vec<EventRecord>)];
}

/** The decoded events of `pallet` in blocks `from` … the best head, in order. */
export async function palletEventsSince(
  api: ApiPromise,
  pallet: string,
  from: number,
): Promise<DecodedEvent[]> {
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  const events: DecodedEvent[] = [];
  for (let block = from; block <= head; block += 1) {
    const records = await eventsAt(api, (await api.rpc.chain.getBlockHash(block)).toHex());
    events.push(...records.map(decodeEvent).filter((e) => e.pallet === pallet));
  }
  return events;
}

/** Looks for an extrinsic by hash in blocks [from, to] of the finalized chain. */
export async function findInclusion(
  api: ApiPromise,
  extrinsicHash: string,
  from: number,
  to: number,
): Promise<Inclusion | null> {
  for (let number = Math.max(from, 0); number <= to; number++) {
    const blockHash = (await api.rpc.chain.getBlockHash(number)).toHex();
    const block = await api.rpc.chain.getBlock(blockHash);
    const extrinsicIndex = block.block.extrinsics.findIndex((ex) => ex.hash.toHex() === extrinsicHash);
    if (extrinsicIndex >= 0) {
      const records = await eventsAt(api, blockHash);
      return inclusionFrom(api, records, { extrinsicHash, blockHash, blockNumber: number, extrinsicIndex });
    }
  }
  return null;
}

export async function finalizedNumber(api: ApiPromise): Promise<number> {
  const hash = await api.rpc.chain.getFinalizedHead();
  const header = await api.rpc.chain.getHeader(hash);
  return header.number.toNumber();
}

/** The account's nonce in the state of block `blockHash`. */
export async function accountNonceAt(api: ApiPromise, address: string, blockHash: string): Promise<number> {
  const at = await api.at(blockHash);
  const query = at.query.system?.account;
  if (!query) throw new BridgeError("RECONCILE_FAILED", "the chain's metadata has no System.Account storage");
  const account = (await query(address)).toPrimitive();
  const nonce =
    typeof account === "object" && account !== null && "nonce" in account ? account.nonce : undefined;
  if (typeof nonce !== "number") {
    throw new BridgeError(
      "RECONCILE_FAILED",
      `System.Account(${address}).nonce is not a number: ${String(nonce)}`,
    );
  }
  return nonce;
}
