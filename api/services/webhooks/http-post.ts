// One POST of a webhook: to an address resolved and checked beforehand (address-guard.ts), with a
// deadline, and without following redirects (a redirect could point anywhere, the checked
// address's own network included). Only the status matters; the receiver's body is drained unread.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { resolveAllowed } from "./address-guard.ts";

export const DELIVERY_TIMEOUT_MS = 15_000;

export interface PostOutcome {
  /** The receiver's HTTP status, or null when no answer came. */
  statusCode: number | null;
  /** Why the attempt failed, or null for a 2xx. */
  error: string | null;
}

export interface PostOptions {
  /** Refuse private, loopback and link-local addresses (always, in production). */
  checkAddresses: boolean;
  timeoutMs?: number;
}

export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: PostOptions,
): Promise<PostOutcome> {
  const target = new URL(url);
  let pinned: Awaited<ReturnType<typeof resolveAllowed>>;
  try {
    pinned = await resolveAllowed(target.hostname, options.checkAddresses);
  } catch (error) {
    return { statusCode: null, error: (error as Error).message };
  }
  // Every lookup the socket makes answers the checked address, whichever form Node asks for.
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<PostOutcome>((resolve) => {
    const request = send(
      target,
      {
        method: "POST",
        lookup,
        timeout: options.timeoutMs ?? DELIVERY_TIMEOUT_MS,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          "user-agent": "Veritrain-Webhooks/1",
          ...headers,
        },
      },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        const error =
          status >= 200 && status < 300
            ? null
            : status >= 300 && status < 400
              ? `answered ${status}: redirects are not followed, give the final URL`
              : `answered ${status}`;
        resolve({ statusCode: status, error });
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`no answer within ${options.timeoutMs ?? DELIVERY_TIMEOUT_MS} ms`)),
    );
    request.on("error", (error) => resolve({ statusCode: null, error: error.message }));
    request.end(body);
  });
}
