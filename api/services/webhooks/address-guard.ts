// Server-side request forgery guard for outgoing webhooks. A customer chooses the URL, so in
// production a delivery must never reach the platform's own network: every address the host
// resolves to is checked (a name with one public and one private address is refused), and the
// connection is then pinned to the checked address, so a second DNS answer (DNS rebinding) cannot
// redirect it. Redirects are never followed (http-post.ts).

import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

const blocked = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this" network
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata services
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["::ffff:0:0", 96], // IPv4-mapped: would reach any IPv4 address, private ones included
  ["64:ff9b::", 96], // NAT64: the same
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, "ipv6");
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Why a host may not be called, or null when it may. */
export function refusedAddress(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return `"${address}" is not an IP address`;
  return blocked.check(address, family === 4 ? "ipv4" : "ipv6")
    ? `${address} is a private, loopback, link-local or reserved address`
    : null;
}

export class AddressRefusedError extends Error {
  constructor(
    readonly host: string,
    reason: string,
  ) {
    super(`refused to call ${host}: ${reason}`);
    this.name = "AddressRefusedError";
  }
}

/**
 * The address to connect to for `host`: the first it resolves to when `checked` is false (a
 * development stack calls receivers on its own machine), and otherwise one that passed the check,
 * after every address the name resolves to did.
 */
export async function resolveAllowed(host: string, checked: boolean): Promise<ResolvedAddress> {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  const found = await dnsLookup(bare, { all: true, verbatim: true });
  if (found.length === 0) throw new AddressRefusedError(host, "it resolves to no address");
  if (checked) {
    for (const { address } of found) {
      const reason = refusedAddress(address);
      if (reason) throw new AddressRefusedError(host, reason);
    }
  }
  const first = found[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
