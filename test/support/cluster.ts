// A whole deployment as separate processes, each of which a test may `kill -9` and start again:
// the dev chain (with its data on disk), API instances sharing one Postgres, one Redis, one chain
// and one blob directory, and node daemons (workers and verifiers). Redis and Postgres are the
// suite's own unless a test asks for private ones it may kill: a `redis-server` on a free port
// with its append-only file, and a Postgres cluster of its own (initdb, run as the postgres user
// when the tests run as root). The machine's Redis and Postgres are never touched.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type ChainConnection, connectChain, setProtocolParameters } from "../../chain-bridge/index.ts";
import { REFEREE_READY, refereeArgs } from "../../cli/local-nodes.ts";
import { createDatabase, type Database } from "../../prisma/client.ts";
import { createScratchSchema, type ScratchSchema } from "../../prisma/pool.ts";
import { suiteRedisUrl } from "./app.ts";
import { suiteDatabaseUrl } from "./database.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const BLOCK_MS = 200;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A child process that can be killed with SIGKILL and started again with the same arguments. */
export class ManagedProcess {
  child: ChildProcess | null = null;
  readonly output: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    /** A line of output that says the process is ready. */
    private readonly ready: RegExp | null,
    private readonly user?: { uid: number; gid: number },
  ) {}

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits for its ready line; resolves with the line's match. */
  async start(timeoutMs = 240_000): Promise<RegExpMatchArray | null> {
    const child = spawn(this.command, this.args, {
      cwd: repoRoot,
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
      ...(this.user ?? {}),
    });
    this.child = child;
    // A test process that dies (a timeout, Ctrl+C) takes its cluster with it.
    const orphaned = () => child.kill("SIGKILL");
    process.once("exit", orphaned);
    child.once("exit", () => process.off("exit", orphaned));
    // What the previous run printed (a leadership it held, a ready line) says nothing about this one.
    this.output.length = 0;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const seen = { match: null as RegExpMatchArray | null };
    const watch = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output.push(text);
      if (this.output.length > 2_000) this.output.splice(0, 1_000);
      if (this.ready && !seen.match) seen.match = this.output.join("").match(this.ready);
    };
    child.stdout!.on("data", watch);
    child.stderr!.on("data", watch);
    if (!this.ready) return null;
    const deadline = Date.now() + timeoutMs;
    while (!seen.match) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name} was not ready in time:\n${this.tail()}`);
      await sleep(50);
    }
    return seen.match;
  }

  /** `kill -9`: no shutdown code runs. */
  async kill9(): Promise<void> {
    if (this.running) this.child!.kill("SIGKILL");
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.running) {
      this.child!.kill("SIGTERM");
      const done = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) this.child!.kill("SIGKILL");
    }
    await this.exited;
  }

  tail(lines = 40): string {
    return this.output.join("").split("\n").slice(-lines).join("\n");
  }
}

/**
 * The load balancer in front of the API instances: each connection goes to the next instance that
 * is running. Nodes and customers talk to it, so a killed instance only costs the connections it
 * held, as behind a real load balancer.
 */
async function startFrontDoor(
  apis: ManagedProcess[],
  ports: number[],
): Promise<{ url: string; server: Server }> {
  let next = 0;
  const server = createServer((client) => {
    const live = apis.map((api, index) => ({ api, index })).filter(({ api }) => api.running);
    if (live.length === 0) {
      client.destroy();
      return;
    }
    const { index } = live[next++ % live.length]!;
    const upstream = connect(ports[index]!, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, server };
}

export interface ClusterOptions {
  apis: number;
  workers: string[];
  verifiers: string[];
  /** A redis-server of the cluster's own, which a test may kill; else the suite's Redis. */
  privateRedis?: boolean;
  /** A Postgres cluster of the cluster's own, which a test may kill; else a schema in the suite's. */
  privatePostgres?: boolean;
}

/** The protocol's windows at the test block time, as the end-to-end tests size them. */
const WINDOWS = {
  // Two minutes to train and commit: the shared machines run the job many times slower than a laptop.
  commitBlocks: 600,
  verdictBlocks: 40,
  challengeBlocks: 3,
  revealBlocks: 8,
  // A pinpoint-game turn may replay a stride window or trace a step on a loaded machine.
  roundBlocks: 75,
};

export class Cluster {
  readonly chain: ManagedProcess;
  redis: ManagedProcess | null = null;
  postgres: ManagedProcess | null = null;
  readonly apis: ManagedProcess[] = [];
  readonly apiUrls: string[] = [];
  private readonly apiPorts: number[] = [];
  /** The load balancer's URL: what nodes and customers use. */
  url = "";
  private frontDoor: Server | null = null;
  readonly nodes: ManagedProcess[] = [];
  referee: ManagedProcess | null = null;
  db!: Database;
  chainClient!: ChainConnection;
  databaseUrl = "";
  redisUrl = "";
  private schema: ScratchSchema | null = null;

  private constructor(
    private readonly dir: string,
    readonly chainWsUrl: string,
    chainPort: number,
  ) {
    this.chain = new ManagedProcess(
      "chain",
      process.execPath,
      [
        "bin/veritrain.mjs",
        "devnet",
        ...["--port", String(chainPort), "--block-time", String(BLOCK_MS)],
        ...["--data-dir", join(dir, "chain")],
      ],
      process.env,
      /dev chain ready/,
    );
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), "veritrain-cluster-"));
    chmodSync(dir, 0o755);
    const chainPort = await freePort();
    const cluster = new Cluster(dir, `ws://127.0.0.1:${chainPort}`, chainPort);
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
    }
    try {
      await cluster.boot(options);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private async boot(options: ClusterOptions): Promise<void> {
    await this.chain.start();
    await setProtocolParameters(this.chainWsUrl, "//Alice", { ...WINDOWS, forcedErrorPpm: 0 });
    this.chainClient = await connectChain(this.chainWsUrl);

    if (options.privateRedis) {
      const port = await freePort();
      const redisDir = join(this.dir, "redis");
      mkdirSync(redisDir);
      // BullMQ's queues live in Redis: a Redis that may be killed keeps them in its append-only file.
      this.redis = new ManagedProcess(
        "redis",
        "redis-server",
        [
          ...["--port", String(port), "--bind", "127.0.0.1", "--save", ""],
          ...["--appendonly", "yes", "--appendfsync", "always", "--dir", redisDir],
        ],
        process.env,
        /Ready to accept connections/,
      );
      await this.redis.start();
      this.redisUrl = `redis://127.0.0.1:${port}`;
    } else {
      this.redisUrl = suiteRedisUrl();
    }

    if (options.privatePostgres) {
      this.databaseUrl = await this.startPostgres();
    } else {
      this.schema = await createScratchSchema(suiteDatabaseUrl(), "t_");
      this.databaseUrl = this.schema.url;
    }

    const { privateKey } = generateKeyPairSync("ed25519");
    const apiEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.redisUrl,
      CHAIN_WS_URL: this.chainWsUrl,
      VERITRAIN_DATA_DIR: join(this.dir, "api"),
      VERITRAIN_QUEUE_PREFIX: `cluster-${randomBytes(4).toString("hex")}`,
      PLATFORM_SIGNING_KEY: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      // A job the network can no longer verify (say its verifiers were slashed for reveals missed
      // while they were down) fails at no charge within a chaos run's wait, not after a day.
      VERIFYING_DEADLINE_MS: String(2 * 60_000),
      // Every chaos run signs up a customer of its own, all from this one address.
      RATE_LIMITS: JSON.stringify({ signup: { max: 1_000, windowMs: 600_000 } }),
    };
    for (let i = 0; i < options.apis; i++) {
      const port = await freePort();
      const api = new ManagedProcess(
        `api-${i}`,
        process.execPath,
        ["--import", "tsx", "test/support/api-process.ts"],
        { ...apiEnv, PORT: String(port) },
        /listening (http:\S+)/,
      );
      this.apis.push(api);
      this.apiPorts.push(port);
      this.apiUrls.push(`http://127.0.0.1:${port}`);
      // One at a time: the first applies the migrations.
      await api.start();
    }
    const door = await startFrontDoor(this.apis, this.apiPorts);
    this.url = door.url;
    this.frontDoor = door.server;
    this.db = createDatabase(this.databaseUrl, 4);
    for (const [role, seeds] of [
      ["worker", options.workers],
      ["verifier", options.verifiers],
    ] as const) {
      for (const seed of seeds) {
        const node = new ManagedProcess(
          `${role} ${seed}`,
          process.execPath,
          [
            "bin/veritrain.mjs",
            "node",
            ...["--role", role, "--api", this.url, "--chain", this.chainWsUrl],
            ...["--data-dir", join(this.dir, seed.replace(/\W/g, ""))],
          ],
          { ...process.env, VERITRAIN_NODE_SEED: seed },
          /registered 5\w+ as/,
        );
        this.nodes.push(node);
      }
    }
    // Staking takes a few finalized blocks per node; on a loaded machine, minutes.
    await Promise.all(this.nodes.map((node) => node.start(600_000)));
    // Rules on the nodes' disputes with the dev chain's governance key, from their evidence.
    const nodeDirs = [...options.workers, ...options.verifiers].map((seed) =>
      join(this.dir, seed.replace(/\W/g, "")),
    );
    this.referee = new ManagedProcess(
      "referee",
      process.execPath,
      ["bin/veritrain.mjs", ...refereeArgs(this.chainWsUrl, this.url, nodeDirs)],
      { ...process.env, VERITRAIN_NODE_SEED: "//Alice" },
      REFEREE_READY,
    );
    await this.referee.start();
  }

  /** The API instance that currently runs the background loops, once one does. */
  async leader(timeoutMs = 15_000): Promise<ManagedProcess | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leading = this.apis.find((api) => api.running && Cluster.leads(api));
      if (leading) return leading;
      await sleep(100);
    }
    return null;
  }

  private static leads(api: ManagedProcess): boolean {
    const lines = api.output.join("").match(/^(leader|standby) \d+$/gm) ?? [];
    return lines.at(-1)?.startsWith("leader") ?? false;
  }

  private async startPostgres(): Promise<string> {
    const bin = join("/usr/lib/postgresql", readdirSync("/usr/lib/postgresql").sort().at(-1)!, "bin");
    const data = join(this.dir, "postgres");
    mkdirSync(data);
    // Postgres refuses to run as root; the suite's machines run tests as root.
    const user =
      process.getuid?.() === 0
        ? {
            uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
            gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
          }
        : undefined;
    if (user) chownSync(data, user.uid, user.gid);
    execFileSync(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres"], {
      stdio: "ignore",
      ...(user ?? {}),
    });
    const port = await freePort();
    this.postgres = new ManagedProcess(
      "postgres",
      join(bin, "postgres"),
      ["-D", data, "-p", String(port), "-k", data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"],
      process.env,
      /ready to accept connections/,
      user,
    );
    await this.postgres.start();
    return `postgresql://postgres@127.0.0.1:${port}/postgres`;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await node.kill9();
    await this.referee?.kill9();
    await Promise.all(this.apis.map((api) => api.stop()));
    this.frontDoor?.close();
    await this.chainClient?.close().catch(() => undefined);
    await this.db?.$disconnect().catch(() => undefined);
    await this.schema?.drop().catch(() => undefined);
    await this.chain.kill9();
    await this.redis?.kill9();
    await this.postgres?.kill9();
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}
