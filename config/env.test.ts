import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWellKnownDevSeed } from "./dev-keys.ts";
import { loadConfig } from "./env.ts";
import { ConfigError } from "./errors.ts";

const PRODUCTION = {
  NODE_ENV: "production",
  DATABASE_URL: "postgresql://db.internal/veritrain",
  REDIS_URL: "redis://cache.internal:6379",
  CHAIN_WS_URL: "wss://chain.internal",
  OPERATOR_SEED: "0x4f1c5d2e7a9b0c3d6e8f1a2b4c5d7e9f0a1b3c4d6e7f8a9b0c2d3e4f5a6b7c8d",
  PLATFORM_SIGNING_KEY: "-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIA==\\n-----END PRIVATE KEY-----",
};

function refusal(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, "UNSAFE_PRODUCTION_CONFIG");
    return error.message;
  }
  assert.fail("production configuration was accepted");
}

describe("production mode", () => {
  it("starts with every service, its own operator key and its own receipt key", () => {
    const config = loadConfig(PRODUCTION);
    assert.equal(config.production, true);
    assert.equal(config.operatorSeed, PRODUCTION.OPERATOR_SEED);
  });

  it("refuses the dev chain's treasury and any key derived from the public dev phrase", () => {
    for (const seed of [
      "//Alice",
      "//Bob//stash",
      "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Charlie",
    ]) {
      assert.match(
        refusal({ ...PRODUCTION, OPERATOR_SEED: seed }),
        /OPERATOR_SEED is a public development key/,
      );
    }
  });

  it("refuses to fall back on anything embedded, and names every missing setting at once", () => {
    const message = refusal({ NODE_ENV: "production" });
    for (const name of [
      "DATABASE_URL",
      "REDIS_URL",
      "CHAIN_WS_URL",
      "OPERATOR_SEED",
      "PLATFORM_SIGNING_KEY",
    ]) {
      assert.match(message, new RegExp(`${name} is unset`));
    }
  });

  it("leaves development defaults alone outside production", () => {
    const config = loadConfig({});
    assert.equal(config.production, false);
    assert.equal(config.operatorSeed, "//Alice");
    assert.equal(config.chainWsUrl, undefined);
  });
});

describe("well-known development seeds", () => {
  it("knows the dev phrase, its derivations and pasted dev mini-secrets, and nothing else", () => {
    assert.ok(isWellKnownDevSeed("//Ferdie"));
    assert.ok(isWellKnownDevSeed("  Bottom drive obey lake curtain smoke basket hold race lonely fit walk "));
    assert.ok(isWellKnownDevSeed("0xE5BE9A5092B81BCA64BE81D212E7F2F9EBA183BB7A90954F7B76361F6EDB5C0A"));
    assert.ok(!isWellKnownDevSeed(PRODUCTION.OPERATOR_SEED));
    assert.ok(
      !isWellKnownDevSeed("legal winner thank year wave sausage worth useful legal winner thank yellow"),
    );
  });
});

describe("the verifying deadline", () => {
  it("is a day unless VERIFYING_DEADLINE_MS shortens it", () => {
    assert.equal(loadConfig({}).verifyingDeadlineMs, 24 * 3_600_000);
    assert.equal(loadConfig({ VERIFYING_DEADLINE_MS: "5000" }).verifyingDeadlineMs, 5_000);
  });

  it("refuses what is not a positive whole number of milliseconds", () => {
    for (const raw of ["0", "-1", "1.5", "5s", "1e30"]) {
      assert.throws(
        () => loadConfig({ VERIFYING_DEADLINE_MS: raw }),
        (e: unknown) => e instanceof ConfigError && e.code === "INVALID_DURATION",
        raw,
      );
    }
  });
});

describe("the portal's origins", () => {
  it("are none besides the API's own unless PORTAL_ORIGINS lists them", () => {
    assert.deepEqual(loadConfig({}).portalOrigins, []);
    assert.deepEqual(
      loadConfig({ PORTAL_ORIGINS: "https://portal.example.com, http://localhost:3000/" }).portalOrigins,
      ["https://portal.example.com", "http://localhost:3000"],
    );
  });

  it("refuses entries that are not bare http(s) origins", () => {
    for (const raw of [
      "portal.example.com",
      "https://portal.example.com/billing",
      "ftp://files.example.com",
    ]) {
      assert.throws(
        () => loadConfig({ PORTAL_ORIGINS: raw }),
        (e: unknown) => e instanceof ConfigError && e.code === "INVALID_URL",
        raw,
      );
    }
  });
});

describe("the storage quota", () => {
  it("is 20 GB of live files unless STORAGE_QUOTA_BYTES sets it, and must be a whole number of bytes", () => {
    assert.equal(loadConfig({}).storageQuotaBytes, 20_000_000_000);
    assert.equal(loadConfig({ STORAGE_QUOTA_BYTES: "5000000000000" }).storageQuotaBytes, 5_000_000_000_000);
    for (const raw of ["0", "-1", "1.5", "10GB", "1e12"]) {
      assert.throws(
        () => loadConfig({ STORAGE_QUOTA_BYTES: raw }),
        (e: unknown) => e instanceof ConfigError && e.code === "INVALID_LIMIT",
        raw,
      );
    }
  });
});

describe("the unassigned deadline", () => {
  it("is an hour unless UNASSIGNED_DEADLINE_MS sets it", () => {
    assert.equal(loadConfig({}).unassignedDeadlineMs, 3_600_000);
    assert.equal(loadConfig({ UNASSIGNED_DEADLINE_MS: "250" }).unassignedDeadlineMs, 250);
    assert.throws(
      () => loadConfig({ UNASSIGNED_DEADLINE_MS: "soon" }),
      (e: unknown) => e instanceof ConfigError && e.code === "INVALID_DURATION",
    );
  });
});

describe("rate limits", () => {
  it("are the defaults unless RATE_LIMITS replaces some families, and a bad value is refused", () => {
    const defaults = loadConfig({}).rateLimits;
    const raised = loadConfig({ RATE_LIMITS: '{"signup": {"max": 500, "windowMs": 60000}}' }).rateLimits;
    assert.deepEqual(raised.signup, { max: 500, windowMs: 60_000 });
    assert.deepEqual({ ...raised, signup: defaults.signup }, defaults);
    for (const raw of [
      "not json",
      "[]",
      '{"signups": {"max": 5, "windowMs": 1000}}',
      '{"signup": {"max": 0, "windowMs": 1000}}',
      '{"signup": {"max": 5}}',
      '{"__proto__": {"max": 5, "windowMs": 1000}}',
    ]) {
      assert.throws(
        () => loadConfig({ RATE_LIMITS: raw }),
        (e: unknown) =>
          e instanceof ConfigError && e.code === "INVALID_LIMIT" && /RATE_LIMITS/.test(e.message),
        raw,
      );
    }
  });
});
