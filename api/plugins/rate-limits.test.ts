// Request budgets, attacked from outside: one budget across API instances, a password sprayed from
// one address, one account guessed from many, signups from one address, and a forged
// X-Forwarded-For, with the headers and error body clients see.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DEFAULT_RATE_LIMITS } from "../../config/rate-limits.ts";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type App, buildApp } from "../app.ts";

const WINDOW_MS = 60_000;
const limits = {
  ...DEFAULT_RATE_LIMITS,
  reads: { max: 3, windowMs: WINDOW_MS },
  login_address: { max: 5, windowMs: WINDOW_MS },
  login_account: { max: 3, windowMs: WINDOW_MS },
  signup: { max: 2, windowMs: WINDOW_MS },
};
const up = async () => undefined;

describe("rate limits", () => {
  let t: TestApp;
  /** A second API instance over the same database and Redis, trusting X-Forwarded-For. */
  let other: App;

  before(async () => {
    t = await createTestApp({ rateLimits: limits });
    other = await buildApp({
      deps: {
        services: t.services,
        probes: { database: up, redis: up, chain: up },
        rateLimits: t.rateLimits,
      },
      trustProxy: true,
    });
    await other.ready();
  });

  after(async () => {
    await other.close();
    await t.close();
  });

  it("counts one budget across API instances, with RateLimit headers and the API's 429", async () => {
    const alice = await signUp(t.app, undefined, "10.9.0.1");
    const read = (app: App) => app.inject({ method: "GET", url: "/v1/files", headers: alice.headers });
    const remaining: string[] = [];
    for (const app of [t.app, other, t.app]) {
      const res = await read(app);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers["ratelimit-limit"], "3");
      remaining.push(String(res.headers["ratelimit-remaining"]));
    }
    assert.deepEqual(remaining, ["2", "1", "0"]);
    const limited = await read(other);
    const error = expectApiError(limited, 429, "rate_limited");
    assert.equal(error.type, "rate_limit_error");
    const retryAfter = Number(limited.headers["retry-after"]);
    assert.ok(retryAfter > 0 && retryAfter <= WINDOW_MS / 1000, `Retry-After ${retryAfter}`);
    // Another organization's budget is its own.
    const bob = await signUp(t.app, undefined, "10.9.0.2");
    assert.equal(
      (await t.app.inject({ method: "GET", url: "/v1/files", headers: bob.headers })).statusCode,
      200,
    );
  });

  it("stops a password sprayed over many accounts from one address", async () => {
    const guess = (email: string, remoteAddress: string, password = "Winter2026!") =>
      t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password }, remoteAddress });
    for (let i = 0; i < 5; i++) {
      expectApiError(await guess(`victim${i}@example.com`, "10.1.0.1"), 401, "invalid_credentials");
    }
    expectApiError(await guess("victim5@example.com", "10.1.0.1"), 429, "rate_limited");
    expectApiError(await guess("victim5@example.com", "10.1.0.2"), 401, "invalid_credentials");
  });

  it("stops one account guessed from many addresses, locking its owner out for one window at most", async () => {
    const carol = await signUp(t.app, undefined, "10.2.0.1");
    for (let i = 0; i < 3; i++) {
      expectApiError(
        await t.app.inject({
          method: "POST",
          url: "/v1/auth/login",
          payload: { email: carol.email, password: `guess ${i}` },
          remoteAddress: `10.3.0.${i + 1}`,
        }),
        401,
        "invalid_credentials",
      );
    }
    const own = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: carol.email.toUpperCase(), password: carol.password },
      remoteAddress: "10.2.0.1",
    });
    expectApiError(own, 429, "rate_limited");
    const retryAfter = Number(own.headers["retry-after"]);
    assert.ok(retryAfter > 0 && retryAfter <= WINDOW_MS / 1000, `Retry-After ${retryAfter}`);
  });

  it("limits signups per address, and takes the address from X-Forwarded-For only when told to", async () => {
    const signup = (app: App, remoteAddress: string, forwardedFor: string) =>
      app.inject({
        method: "POST",
        url: "/v1/auth/signup",
        payload: {
          email: `u-${Math.random().toString(36).slice(2)}@example.com`,
          password: "a long password",
        },
        remoteAddress,
        headers: { "x-forwarded-for": forwardedFor },
      });
    // TRUST_PROXY off (the default): a forged header changes nothing.
    assert.equal((await signup(t.app, "10.4.0.1", "1.1.1.1")).statusCode, 201);
    assert.equal((await signup(t.app, "10.4.0.1", "2.2.2.2")).statusCode, 201);
    expectApiError(await signup(t.app, "10.4.0.1", "3.3.3.3"), 429, "rate_limited");
    assert.equal((await signup(t.app, "10.4.0.2", "3.3.3.3")).statusCode, 201);
    // Behind a proxy (TRUST_PROXY on) the client is the address the proxy saw.
    assert.equal((await signup(other, "10.4.0.1", "4.4.4.4")).statusCode, 201);
  });
});
