// API keys: `vt_` + 256 random bits, stored only as SHA-256 (a fast hash is right for secrets of
// this entropy). Verified keys are cached in process so an authenticated request costs no
// database round trip; a revocation evicts the key here at once and in every other API process
// through Redis pub/sub, and the cache's short TTL bounds staleness if a message is ever lost.
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Database } from "../../prisma/client.ts";
import type { ApiKey } from "../../prisma/generated/client.ts";
import { newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import { announceEviction, listenForEvictions } from "./cache-evictions.ts";
import type { DbClient } from "./db-client.ts";
import { NotFoundError } from "./domain-errors.ts";
import { ExpiringCache } from "./expiring-cache.ts";

export const API_KEY_PATTERN = /^vt_[A-Za-z0-9_-]{43}$/;
const REVOCATION_CHANNEL = "veritrain:api-keys:revoked";

export interface VerifiedKey {
  apiKeyId: string;
  organizationId: string;
}

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface ApiKeysOptions {
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  /** How long a secret that matched no key answers "invalid" without a lookup. */
  unknownTtlMs?: number;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function view(key: ApiKey): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
  };
}

export class ApiKeys {
  private readonly cache: ExpiringCache<VerifiedKey>;
  // Secrets that matched no key: a flood of made-up keys costs one database lookup each per
  // period, and the bound keeps the flood from growing the process.
  private readonly unknown: ExpiringCache<true>;
  private readonly lookups = new Map<string, Promise<VerifiedKey | null>>();

  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
    options: ApiKeysOptions = {},
  ) {
    this.cache = new ExpiringCache(options.cacheMaxEntries ?? 10_000, options.cacheTtlMs ?? 10_000);
    this.unknown = new ExpiringCache(options.cacheMaxEntries ?? 10_000, options.unknownTtlMs ?? 30_000);
  }

  /** Creates a key; the returned secret exists nowhere else and is shown to the user once. */
  async create(
    organizationId: string,
    name: string,
    client: DbClient = this.db,
  ): Promise<ApiKeyView & { secret: string }> {
    const secret = `vt_${randomBytes(32).toString("base64url")}`;
    const key = await client.apiKey.create({
      data: {
        id: newId("key"),
        organizationId,
        name,
        prefix: secret.slice(0, 11),
        secretHash: hashSecret(secret),
      },
    });
    return { ...view(key), secret };
  }

  async list(organizationId: string, limit: number, after?: string) {
    const rows = await this.db.apiKey.findMany({
      where: { organizationId, revokedAt: null, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return pageOf(rows.map(view), limit);
  }

  /** Revokes an active key of this organization; another organization's key is "not found". */
  async revoke(organizationId: string, id: string): Promise<ApiKeyView & { revoked_at: string }> {
    const key = await this.db.apiKey.findFirst({ where: { id, organizationId, revokedAt: null } });
    if (!key) throw new NotFoundError("API key", id, "id");
    const revoked = await this.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    this.cache.evict(key.secretHash);
    // The revocation is committed; if Redis cannot carry the news, other processes' caches
    // still drop the key when its TTL runs out, so the request does not fail for it.
    await announceEviction(this.redis, REVOCATION_CHANNEL, key.secretHash);
    return { ...view(revoked), revoked_at: revoked.revokedAt!.toISOString() };
  }

  /** The key's owner, or null for a malformed, unknown or revoked secret. */
  async verify(secret: string): Promise<VerifiedKey | null> {
    if (!API_KEY_PATTERN.test(secret)) return null;
    const hash = hashSecret(secret);
    const cached = this.cache.get(hash);
    if (cached) return cached;
    if (this.unknown.get(hash)) return null;
    // Requests that miss together (at start, or when the entry expires under load) share one
    // lookup instead of queueing on the key's row lock.
    let lookup = this.lookups.get(hash);
    if (!lookup) {
      lookup = this.lookUp(hash).finally(() => this.lookups.delete(hash));
      this.lookups.set(hash, lookup);
    }
    return lookup;
  }

  private async lookUp(hash: string): Promise<VerifiedKey | null> {
    const generation = this.cache.generation;
    // One round trip both finds the key and records its use, once per cache period.
    const rows = await this.db.$queryRaw<Array<{ id: string; organization_id: string }>>`
      UPDATE api_keys SET last_used_at = now()
      WHERE secret_hash = ${hash} AND revoked_at IS NULL
      RETURNING id, organization_id`;
    const row = rows[0];
    if (!row) {
      // A key made since has a fresh random secret, never one looked up before.
      this.unknown.set(hash, true);
      return null;
    }
    const verified = { apiKeyId: row.id, organizationId: row.organization_id };
    if (this.cache.generation === generation) this.cache.set(hash, verified);
    return verified;
  }

  /** Evicts keys revoked by any API process; resolves once subscribed, returns the unsubscriber. */
  listenForRevocations(): Promise<() => Promise<void>> {
    return listenForEvictions(this.redis, REVOCATION_CHANNEL, this.cache);
  }
}
