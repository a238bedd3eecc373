// Which web pages may drive the chain's RPC. A browser lets any page open a WebSocket to
// 127.0.0.1:9944 and POST to it, and says where the page came from in `Origin`: without a check, a
// page the user merely visits can submit extrinsics, watch the chain and fill the pool. Clients
// outside a browser (the API, nodes, the CLI, @polkadot/api in Node) send no Origin and are served;
// a request whose Origin is not on the allow-list is refused, as a Substrate node's --rpc-cors does.

/** `all`, or origins: `https://app.example` exactly, or `http://localhost:*` on any port. */
export type RpcCors = "all" | readonly string[];

/** A Substrate node's default outside --dev: local pages and polkadot.js apps. */
export const DEFAULT_RPC_CORS: readonly string[] = [
  "http://localhost:*",
  "http://127.0.0.1:*",
  "https://localhost:*",
  "https://127.0.0.1:*",
  "https://polkadot.js.org",
];

export class RpcCorsError extends Error {
  readonly code = "InvalidRpcCors";
}

const PATTERN = /^(https?):\/\/([^/:*?#]+)(?::(\d{1,5}|\*))?$/;

/** Checks an allow-list once, at start: a typo must not silently refuse (or allow) everything. */
export function parseRpcCors(value: string): RpcCors {
  const trimmed = value.trim();
  if (trimmed === "all") return "all";
  const entries = trimmed
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (!PATTERN.test(entry)) {
      throw new RpcCorsError(
        `rpc-cors entry "${entry}" is not an origin: expected "all" or a comma-separated list such as ` +
          `"https://app.example,http://localhost:*" (scheme, host, optional port or :*; no path)`,
      );
    }
  }
  return entries;
}

function matches(origin: string, pattern: string): boolean {
  if (!pattern.endsWith(":*")) return origin === pattern;
  const base = pattern.slice(0, -2);
  return (
    origin === base || (origin.startsWith(`${base}:`) && /^\d{1,5}$/.test(origin.slice(base.length + 1)))
  );
}

/** No Origin (not a browser): allowed. Otherwise the origin must match the allow-list. */
export function originAllowed(origin: string | undefined, cors: RpcCors): boolean {
  if (origin === undefined) return true;
  if (cors === "all") return true;
  return cors.some((pattern) => matches(origin, pattern));
}
