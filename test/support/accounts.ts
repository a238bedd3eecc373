// Signs up a fresh user and organization through the real route, for any test that needs an
// authenticated caller: `const alice = await signUp(app); app.inject({ headers: alice.headers, ... })`.
import { randomBytes } from "node:crypto";
import type { App } from "../../api/app.ts";

export interface SignedUp {
  email: string;
  password: string;
  userId: string;
  organizationId: string;
  apiKey: string;
  apiKeyId: string;
  /** `{ authorization: "Bearer vt_..." }`, to spread into `app.inject({ headers })`. */
  headers: { authorization: string };
}

interface SignUpResponse {
  user: { id: string };
  organization: { id: string };
  api_key: { id: string; secret: string };
}

/** `remoteAddress` is the client address the API sees (each is budgeted on its own). */
export async function signUp(app: App, email?: string, remoteAddress?: string): Promise<SignedUp> {
  const address = email ?? `user-${randomBytes(6).toString("hex")}@example.com`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const res = await app.inject({
    method: "POST",
    url: "/v1/auth/signup",
    payload: { email: address, password },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
  if (res.statusCode !== 201) throw new Error(`signup failed with ${res.statusCode}: ${res.body}`);
  const body = res.json<SignUpResponse>();
  return {
    email: address,
    password,
    userId: body.user.id,
    organizationId: body.organization.id,
    apiKey: body.api_key.secret,
    apiKeyId: body.api_key.id,
    headers: { authorization: `Bearer ${body.api_key.secret}` },
  };
}

/**
 * Requests made as a signed-up user. `app` is read at each call, so a suite can build these
 * before its `before` hook has started the app.
 */
export function userCalls(app: () => App) {
  const get = (user: SignedUp, url: string, headers: Record<string, string> = {}) =>
    app().inject({ method: "GET", url, headers: { ...user.headers, ...headers } });
  const post = (user: SignedUp, url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app().inject({
      method: "POST",
      url,
      payload: payload as object,
      headers: { ...user.headers, ...headers },
    });
  const balance = async (user: SignedUp) =>
    (await get(user, "/v1/billing/balance")).json<{ available_cents: number; reserved_cents: number }>();
  return { get, post, balance };
}
