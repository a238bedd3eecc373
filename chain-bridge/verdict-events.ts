// The verdicts the chain accepted, read from `Compute.VerdictSubmitted` events block by block
// (PROTOCOL.md §5.4): what a whistleblower watches to pick verdicts to re-check. Each carries the
// transcript root and the end state, which is all a re-check compares against.
import type { ApiPromise } from "@polkadot/api";
import { decodeEvent, eventsAt } from "./inclusion.ts";
import { bigintOf, boolOf, hashOf, numberOf, stringOf } from "./values.ts";

export interface VerdictEvent {
  chainTaskId: bigint;
  auditIndex: number;
  verifier: string;
  agrees: boolean;
  /** Merkle root of the verdict's strided transcript, 0x hex. */
  transcript: string;
  /** The transcript's last leaf: the verifier's claimed state at the segment's end, 0x hex. */
  endState: string;
  /** The block that included it. */
  block: number;
}

/** Every verdict submitted in blocks `from..to` (both included), oldest first. */
export async function readVerdictEvents(api: ApiPromise, from: number, to: number): Promise<VerdictEvent[]> {
  const verdicts: VerdictEvent[] = [];
  for (let block = Math.max(from, 0); block <= to; block++) {
    const hash = (await api.rpc.chain.getBlockHash(block)).toHex();
    for (const { pallet, name, data } of (await eventsAt(api, hash)).map(decodeEvent)) {
      if (pallet !== "Compute" || name !== "VerdictSubmitted") continue;
      const where = `VerdictSubmitted at block ${block}`;
      verdicts.push({
        chainTaskId: bigintOf(data.taskId, `${where}.taskId`),
        auditIndex: numberOf(data.auditIndex, `${where}.auditIndex`),
        verifier: stringOf(data.verifier, `${where}.verifier`),
        agrees: boolOf(data.agrees, `${where}.agrees`),
        transcript: hashOf(data.transcript, `${where}.transcript`),
        endState: hashOf(data.endState, `${where}.endState`),
        block,
      });
    }
  }
  return verdicts;
}
