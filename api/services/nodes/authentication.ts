// Who sent a node request. api/plugins/node-auth.ts reads the node headers and hashes the body;
// this checks that the request is recent, signed by the key of the address it names
// (protocol/signed-messages.ts builds the signed message), and not a replay.
import type { Redis } from "ioredis";
import { type NodeRequestParts, nodeRequestMessage } from "../../../protocol/signed-messages.ts";
import { ApiError, type ApiErrorCode } from "../../errors.ts";
import { verifyNodeSignature } from "./signatures.ts";

/** How far a request's timestamp may be from the gateway's clock. */
export const REQUEST_CLOCK_SKEW_MS = 60_000;
// A nonce must be remembered as long as its timestamp is acceptable: on either side of now.
const NONCE_TTL_MS = 2 * REQUEST_CLOCK_SKEW_MS + 5_000;

export interface SignedRequest extends NodeRequestParts {
  address: string;
  signature: string;
}

const unauthenticated = (code: ApiErrorCode, message: string) =>
  new ApiError(401, "authentication_error", code, message);

export class NodeAuthenticator {
  /** `redis` remembers nonces; its key prefix (if any) isolates them. */
  constructor(private readonly redis: Redis) {}

  /** Checks a request's signature, freshness and nonce; returns the signing node's address. */
  async authenticate(request: SignedRequest, now: number = Date.now()): Promise<string> {
    const timestamp = Number(request.timestamp);
    if (!/^\d{1,15}$/.test(request.timestamp) || Math.abs(now - timestamp) > REQUEST_CLOCK_SKEW_MS) {
      throw unauthenticated(
        "stale_request",
        `x-node-timestamp must be the current time in milliseconds since the epoch, within ${REQUEST_CLOCK_SKEW_MS / 1000} s of the gateway's clock (${now}); got "${request.timestamp.slice(0, 32)}"`,
      );
    }
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(request.nonce)) {
      throw unauthenticated("bad_signature", "x-node-nonce must be 16 to 64 characters of [A-Za-z0-9_-]");
    }
    if (!(await verifyNodeSignature(request.address, nodeRequestMessage(request), request.signature))) {
      throw unauthenticated(
        "bad_signature",
        "x-node-signature is not the sr25519 signature of this request by the key of x-node-address",
      );
    }
    const fresh = await this.redis.set(
      `node-nonce:${request.address}:${request.nonce}`,
      "1",
      "PX",
      NONCE_TTL_MS,
      "NX",
    );
    if (fresh !== "OK") {
      throw unauthenticated(
        "replayed_request",
        "this nonce was already used; sign every request with a new one",
      );
    }
    return request.address;
  }
}
