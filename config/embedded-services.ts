// Embedded defaults for a machine with nothing installed: a real Postgres (PGlite, compiled
// to WebAssembly) behind a local socket, and a redis-server child process on a free port.
// A service whose URL is already configured is used as it is and nothing is started for it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { ConfigError } from "./errors.ts";
import { SessionQueue } from "./pglite-queue.ts";

export interface EmbeddedServices {
  /** Variables to add to the environment so every component finds the services. */
  env: { DATABASE_URL: string; REDIS_URL: string };
  /** What was started here, for the start-up banner. */
  started: string[];
  stop(): Promise<void>;
}

export interface EmbeddedServicesOptions {
  dataDir: string;
  /** Start from empty data (tests); otherwise data persists under dataDir. */
  fresh?: boolean;
  /** Present (even undefined) overrides DATABASE_URL; undefined starts an embedded Postgres. */
  databaseUrl?: string | undefined;
  /** Present (even undefined) overrides REDIS_URL; undefined spawns a redis-server. */
  redisUrl?: string | undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Postgres in WebAssembly behind a local socket; `dataDir` undefined keeps it in memory. */
export async function startPglite(
  dataDir: string | undefined,
  fresh = false,
): Promise<{ url: string; stop: () => Promise<void> }> {
  let dir: string | undefined;
  if (dataDir) {
    dir = join(dataDir, "pgdata");
    if (fresh) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const db = await PGlite.create(dir);
  const port = await freePort();
  // One connection per pool slot: the API, the queue workers and migrations each hold some.
  const server = new PGLiteSocketServer({ db, port, host: "127.0.0.1", maxConnections: 64 });
  // The server's own queue interleaves clients' messages on PGlite's one session (pglite-queue.ts).
  (server as unknown as { queryQueue: SessionQueue }).queryQueue = new SessionQueue(db);
  await server.start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

export function redisServerPath(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

async function startRedis(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const binary = redisServerPath();
  if (!binary) {
    throw new ConfigError(
      "REDIS_MISSING",
      "REDIS_URL is not set and no redis-server is installed. Install one (Debian/Ubuntu: " +
        "`sudo apt-get install redis-server`, macOS: `brew install redis`) or set REDIS_URL=redis://host:port.",
    );
  }
  const dir = join(dataDir, "redis");
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await waitForPort(port, child, "redis-server");
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new ConfigError("SERVICE_START_FAILED", `${name} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new ConfigError(
    "SERVICE_START_FAILED",
    `${name} did not accept connections on port ${port} within 10 s`,
  );
}

export async function startEmbeddedServices(options: EmbeddedServicesOptions): Promise<EmbeddedServices> {
  // An option given as undefined means "start it embedded", whatever the environment says.
  const databaseUrl = "databaseUrl" in options ? options.databaseUrl : process.env.DATABASE_URL;
  const redisUrl = "redisUrl" in options ? options.redisUrl : process.env.REDIS_URL;
  const stops: Array<() => Promise<void>> = [];
  const started: string[] = [];
  try {
    let db = databaseUrl;
    if (!db) {
      const pg = await startPglite(options.dataDir, options.fresh ?? false);
      stops.push(pg.stop);
      started.push(`embedded Postgres (PGlite) at ${pg.url}`);
      db = pg.url;
    }
    let redis = redisUrl;
    if (!redis) {
      const r = await startRedis(options.dataDir);
      stops.push(r.stop);
      started.push(`redis-server at ${r.url}`);
      redis = r.url;
    }
    return {
      env: { DATABASE_URL: db, REDIS_URL: redis },
      started,
      stop: async () => {
        for (const stop of stops.reverse()) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    throw error;
  }
}
