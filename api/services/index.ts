// The services behind the routes, built once per process from the connections it holds.
// Routes reach them through `app.deps.services`; services reach the database, queues and chain.
import type { Redis } from "ioredis";
import type { Config } from "../../config/env.ts";
import type { Database } from "../../prisma/client.ts";

export interface ServiceContext {
  config: Config;
  db: Database;
  /** A shared connection for caches and pub/sub publishing (BullMQ makes its own). */
  redis: Redis;
}

// biome-ignore lint/complexity/noBannedTypes: each resource's service is added as it is built
export type Services = {};

export function createServices(context: ServiceContext): Services {
  void context;
  return {};
}
