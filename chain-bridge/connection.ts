// The one long-lived connection to a chain node. @polkadot/api reconnects by itself; the
// status probe reads the best header so a node that accepts sockets but does not answer
// counts as down.
import { ApiPromise, WsProvider } from "@polkadot/api";
import { BridgeError } from "./errors.ts";

export interface ChainConnection {
  api: ApiPromise;
  /** Resolves with a one-line description of the chain head, or rejects when unreachable. */
  probe(): Promise<string>;
  close(): Promise<void>;
}

export async function connectChain(url: string, timeoutMs = 30_000): Promise<ChainConnection> {
  const provider = new WsProvider(url, 1000, {}, timeoutMs);
  let api: ApiPromise;
  try {
    api = await ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
  } catch (error) {
    await provider.disconnect();
    throw new BridgeError(
      "CHAIN_UNREACHABLE",
      `cannot connect to the chain node at ${url}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return {
    api,
    async probe() {
      if (!api.isConnected)
        throw new BridgeError("CHAIN_UNREACHABLE", `not connected to the chain node at ${url}`);
      const header = await api.rpc.chain.getHeader();
      return `${api.runtimeChain.toString()} at block #${header.number.toNumber()}`;
    },
    close: () => api.disconnect(),
  };
}
