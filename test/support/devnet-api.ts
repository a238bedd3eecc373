// The dev chain in-process with an unmodified @polkadot/api connected to it: the set-up of the
// chain's tests that talk to it as a client does.
import { ApiPromise, WsProvider } from "@polkadot/api";
import { type Devnet, type DevnetOptions, startDevnet } from "../../chain/index.ts";

export type DevnetWithApi = { readonly devnet: Devnet; readonly api: ApiPromise; stop(): Promise<void> };

export async function startDevnetWithApi(options: DevnetOptions = {}): Promise<DevnetWithApi> {
  const devnet = await startDevnet({ port: 0, ...options });
  try {
    const api = await ApiPromise.create({ provider: new WsProvider(devnet.wsUrl), noInitWarn: true });
    return {
      devnet,
      api,
      async stop() {
        await api.disconnect();
        await devnet.stop();
      },
    };
  } catch (error) {
    await devnet.stop();
    throw error;
  }
}
