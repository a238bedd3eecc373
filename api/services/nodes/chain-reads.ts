// What the node gateway reads of the chain to decide who may do what in a dispute or a challenge:
// the chain, not the gateway's database, is the authority on who is a party to a dispute and
// which verdicts are open to whistleblowers. Built over the operator's bridge connection (or, in a
// test, any connection to the chain).
import {
  type ChainBridge,
  type DisputeView,
  readDispute,
  readHead,
  readTask,
  type TaskView,
} from "../../../chain-bridge/index.ts";
import { ApiError } from "../../errors.ts";

export interface GatewayChainReads {
  /** An open dispute, or null when there is none of that id (never opened, or over). */
  dispute(chainDisputeId: bigint): Promise<DisputeView | null>;
  task(chainTaskId: bigint): Promise<TaskView | null>;
  /** The best block's number: the chain's windows are block numbers. */
  head(): Promise<number>;
}

export function chainReadsOf({ api }: Pick<ChainBridge, "api">): GatewayChainReads {
  return {
    dispute: (id) => readDispute(api, id),
    task: (id) => readTask(api, id),
    head: () => readHead(api),
  };
}

/** The chain reads, or the typed refusal of a gateway started without a chain connection. */
export function requireChain(chain: GatewayChainReads | null): GatewayChainReads {
  if (!chain) {
    throw new ApiError(503, "api_error", "chain_unavailable", "this gateway runs without a chain connection");
  }
  return chain;
}
