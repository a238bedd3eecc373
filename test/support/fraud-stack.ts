// The whole product on one machine for fraud scenarios: the dev chain with block production, the
// API over HTTP with Postgres and Redis, a paying customer, and node daemons in processes of their
// own, honest or started with `--fault`. A scenario makes the faulty node the only one the chain
// can draw for its role (the others of that role are unbonded), runs a real job through the API,
// and reports what happened to the cheat and the money: on chain (payouts, slashes, conservation
// of tokens) and in the ledger. A referee process (the dev chain's governance key, //Alice) rules
// on the pinpoint game's disputes from the evidence the running nodes publish.
// `test/fraud-*.e2e.test.ts` assert on it; `bench/fraud.ts` counts it.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Keyring } from "@polkadot/api";
import { blake2AsHex } from "@polkadot/util-crypto";
import canonicalize from "canonicalize";
import pino from "pino";
import { type RunningApi, startApi } from "../../api/server.ts";
import { type Devnet, startDevnet } from "../../chain/index.ts";
import {
  type ChainConnection,
  connectChain,
  NodeChainClient,
  newForcedErrorSecret,
  PLANCK_PER_VT,
  type ProtocolParameters,
  readNode,
  readTask,
  setProtocolParameters,
  signerFromSeed,
  type TaskView,
} from "../../chain-bridge/index.ts";
import { REFEREE_READY, refereeArgs } from "../../cli/local-nodes.ts";
import { loadConfig } from "../../config/env.ts";
import { createDatabase, type Database } from "../../prisma/client.ts";
import { type Receipt, verifyReceipt } from "../../protocol/receipt.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { currentProfile } from "../../worker-runtime/train/profile.ts";
import { train } from "../../worker-runtime/train/trainer.ts";
import { suiteRedisUrl } from "./app.ts";
import { createEmptySchema } from "./database.ts";
import { type StripeStandIn, startStripeStandIn } from "./stripe-stand-in.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const TOP_UP_CENTS = 1_000_000;
// What a scenario's node account is funded with by //Ferdie: a stake and its fees, many times over.
const NODE_FUNDS = 20_000n * PLANCK_PER_VT;
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export type NodeRole = "worker" | "verifier";
/** A whistleblower re-checks verdicts beside the scenario's nodes; no row is about one. */
export type StackRole = NodeRole | "whistleblower";

export interface JobEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

export interface JobJson {
  id: string;
  status: string;
  failure_reason: string | null;
  total_steps: number;
  price: { quoted_cents: number; reserved_cents: number; charged_cents: number | null };
  result: { model_sha256: string | null };
}

export interface NodeProcess {
  role: StackRole;
  seed: string;
  address: string;
  fault: string | null;
  /** Null for a node staked on chain that never runs (it misses every duty). */
  child: ChildProcess | null;
  output: string[];
}

export interface FraudStackOptions {
  /** The chain's block time; the windows below are counted in blocks of it. */
  blockMs: number;
  windows: Partial<ProtocolParameters>;
  /** Audits that are forced errors, per million (PROTOCOL.md §5.5); 0 unless given. */
  forcedErrorPpm?: number;
  verifyingDeadlineMs?: number;
  /** Where progress lines go (the benchmark prints them; tests keep quiet). */
  trace?: (line: string) => void;
}

/** What one job did, read from the API, the ledger and the chain once it came to rest. */
export interface Outcome {
  job: JobJson;
  events: JobEvent[];
  task: TaskView | null;
  /** Verdicts that disagreed with the worker's commitment. */
  disagreeingVerdicts: number;
  /** Transcript disputes a whistleblower's challenge opened against a verdict. */
  transcriptDisputes: number;
  /** Delivery challenges the referee ruled against the worker (undelivered or a false claim). */
  lostDeliveries: number;
  /** Uploads and completions the gateway refused (from the faulty worker's own log). */
  refusedUploads: string[];
  /**
   * The chain re-assigned the task after a missed deadline, a verifier drawn for an audit never
   * answered it, or the verifying deadline failed the job.
   */
  deadlines: string[];
  /** Audits the chain drew for the faulty attempt, and the segments committed. */
  audited: number;
  segments: number;
  /** Planck the scenario's node was paid by the task's settlement. */
  nodePaid: bigint;
  /** Accounts slashed in the scenario other than a faulty node. */
  honestSlashed: string[];
  /** Whether the scenario's node was slashed. */
  nodeSlashed: boolean;
  /** Whether the job's delivered model is bit-identical to an honest local run (null: none delivered). */
  deliveredCorrect: boolean | null;
  /** The checks a succeeded job's receipt fails (`verifyReceipt`), as `name: detail`. */
  receiptFailures: string[];
  /** Sum of every account's free and reserved balance equals the total issuance. */
  conserved: boolean;
  /** The customer's balance after the job: what is still held for it and what it was charged. */
  balance: { available_cents: number; reserved_cents: number };
}

/** The verifiers drawn for an audit of the job (once per audit) that never reported a verdict on it. */
function missedVerdicts(events: JobEvent[]): string[] {
  const answered = events
    .filter((e) => e.type === "verification.verdict")
    .map((e) => String(e.data.verifier));
  return events
    .filter((e) => e.type === "verification.audits_selected")
    .flatMap((e) => (e.data.audits as Array<{ verifier: string }>).map((audit) => audit.verifier))
    .filter((verifier) => {
      const verdict = answered.indexOf(verifier);
      if (verdict >= 0) answered.splice(verdict, 1);
      return verdict < 0;
    });
}

export class FraudStack {
  readonly nodes: NodeProcess[] = [];
  /** Rules on disputes; restarted with every new node, whose evidence directory it must read. */
  private referee: { child: ChildProcess; output: string[] } | null = null;
  /** Restarts one at a time: nodes start side by side. */
  private refereeRestart: Promise<void> = Promise.resolve();
  private authorization = "";
  private inputs: { model: string; dataset: string } | null = null;
  private readonly honestModels = new Map<string, string>();
  private readonly keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  private jobCounter = 0;

  private constructor(
    readonly devnet: Devnet,
    readonly api: RunningApi,
    readonly chain: ChainConnection,
    readonly db: Database,
    private readonly stripe: StripeStandIn,
    private readonly schema: Awaited<ReturnType<typeof createEmptySchema>>,
    private readonly dataDir: string,
    readonly trace: (line: string) => void,
  ) {}

  static async start(options: FraudStackOptions): Promise<FraudStack> {
    const dataDir = mkdtempSync(join(tmpdir(), "veritrain-fraud-"));
    const devnet = await startDevnet({ port: 0, blockTimeMs: options.blockMs });
    await setProtocolParameters(devnet.wsUrl, "//Alice", {
      forcedErrorPpm: options.forcedErrorPpm ?? 0,
      ...options.windows,
    });
    const schema = await createEmptySchema();
    const stripe = await startStripeStandIn();
    const config = {
      ...loadConfig({}),
      ...stripe.config,
      port: 0,
      dataDir: join(dataDir, "api"),
      logLevel: "warn",
      ...(options.verifyingDeadlineMs ? { verifyingDeadlineMs: options.verifyingDeadlineMs } : {}),
    };
    const api = await startApi(
      config,
      { databaseUrl: schema.url, redisUrl: suiteRedisUrl(), chainWsUrl: devnet.wsUrl },
      // Its log lines on stderr: bench:fraud --json prints one JSON document on stdout.
      {
        queuePrefix: `fraud-${Date.now()}-${process.pid}`,
        verificationPassMs: 250,
        logTo: pino.destination(2),
      },
    );
    const stack = new FraudStack(
      devnet,
      api,
      await connectChain(devnet.wsUrl),
      createDatabase(schema.url, 2),
      stripe,
      schema,
      dataDir,
      options.trace ?? (() => undefined),
    );
    await stack.signUpAndPay();
    return stack;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) node.child?.kill("SIGKILL");
    this.referee?.child.kill("SIGKILL");
    await this.api.close();
    await this.chain.close();
    await this.stripe.close();
    await this.db.$disconnect();
    await this.schema.drop();
    await this.devnet.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  logs(): string {
    const nodes = this.nodes.map((n) => `--- ${n.role} ${n.seed} ${n.fault ?? ""}\n${n.output.join("")}`);
    return [...nodes, `--- referee\n${this.referee?.output.join("") ?? ""}`].join("\n");
  }

  private nodeDir(seed: string): string {
    return join(this.dataDir, seed.replace(/\W/g, ""));
  }

  /** (Re)starts the referee over every node started so far, and waits until it watches the chain. */
  private startReferee(): Promise<void> {
    const restart = this.refereeRestart.then(() => this.restartReferee());
    this.refereeRestart = restart.catch(() => undefined);
    return restart;
  }

  private async restartReferee(): Promise<void> {
    const previous = this.referee?.child;
    if (previous && previous.exitCode === null && previous.signalCode === null) {
      const exited = new Promise((resolve) => previous.once("exit", resolve));
      previous.kill("SIGKILL");
      await exited;
    }
    const dirs = this.nodes.filter((node) => node.child !== null).map((node) => this.nodeDir(node.seed));
    const output: string[] = [];
    const child = spawn(
      process.execPath,
      ["bin/veritrain.mjs", ...refereeArgs(this.devnet.wsUrl, this.api.url, dirs)],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, VERITRAIN_NODE_SEED: "//Alice" },
      },
    );
    child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    this.referee = { child, output };
    for (let i = 0; i < 1200 && !REFEREE_READY.test(output.join("")); i++) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      await sleep(100);
    }
    if (!REFEREE_READY.test(output.join("")))
      throw new Error(`the referee did not start:\n${output.join("")}`);
  }

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await fetch(`${this.api.url}${path}`, {
      method,
      headers: {
        authorization: this.authorization,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** A customer with credits bought through the Stripe stand-in, as the product's e2e test does. */
  private async signUpAndPay(): Promise<void> {
    const signup = await fetch(`${this.api.url}/v1/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "fraud@example.com", password: "a long enough password" }),
    });
    if (signup.status !== 201) throw new Error(`signup answered ${signup.status}: ${await signup.text()}`);
    this.authorization = `Bearer ${((await signup.json()) as { api_key: { secret: string } }).api_key.secret}`;
    const session = await this.call<{ id: string }>("POST", "/v1/billing/checkout-sessions", {
      amount_cents: TOP_UP_CENTS,
      success_url: "/portal/?checkout=success",
      cancel_url: "/portal/?checkout=cancelled",
    });
    const { payload, headers } = this.stripe.sign(this.stripe.completedEvent(session.id));
    const hook = await fetch(`${this.api.url}/v1/billing/webhook`, {
      method: "POST",
      headers,
      body: payload,
    });
    if (hook.status !== 200) throw new Error(`the webhook answered ${hook.status}`);
  }

  /** Sends `seed` enough tokens to stake for any role, from //Ferdie (never the operator's //Alice). */
  private async fund(seed: string): Promise<void> {
    const from = this.keyring.addFromUri("//Ferdie");
    const to = this.keyring.addFromUri(seed).address;
    const transfer = this.chain.api.tx.balances!.transferKeepAlive!(to, NODE_FUNDS);
    await new Promise<void>((resolve, reject) => {
      transfer
        .signAndSend(from, { nonce: -1 }, (result) => {
          if (result.dispatchError) reject(new Error(`funding ${seed} failed: ${result.dispatchError}`));
          else if (result.status.isInBlock || result.status.isFinalized) resolve();
        })
        .catch(reject);
    });
  }

  /**
   * Starts a node daemon (funded first unless a dev account) and waits until it staked and
   * registered, bonded for `duties` tasks or audits at once (PROTOCOL.md §3).
   */
  startNode(role: NodeRole, seed: string, fault: string | null = null, duties = 1): Promise<NodeProcess> {
    return this.launch(role, seed, fault, duties, []);
  }

  /**
   * Starts a whistleblower daemon re-checking `recheckShare` of the verdicts, bonded for
   * `duties` challenges at once.
   */
  startWhistleblower(seed: string, recheckShare: number, duties: number): Promise<NodeProcess> {
    return this.launch("whistleblower", seed, null, duties, ["--recheck-share", String(recheckShare)]);
  }

  private async launch(
    role: StackRole,
    seed: string,
    fault: string | null,
    duties: number,
    args: string[],
  ): Promise<NodeProcess> {
    if (!/^\/\/(Bob|Charlie|Dave|Eve)$/.test(seed)) await this.fund(seed);
    const output: string[] = [];
    const child = spawn(
      process.execPath,
      [
        "bin/veritrain.mjs",
        "node",
        ...["--role", role, "--api", this.api.url, "--chain", this.devnet.wsUrl],
        ...["--data-dir", this.nodeDir(seed)],
        ...(fault ? ["--fault", fault] : []),
        ...["--duties", String(duties)],
        ...args,
      ],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, VERITRAIN_NODE_SEED: seed, ...(fault ? { VERITRAIN_ALLOW_FAULTS: "1" } : {}) },
      },
    );
    child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const address = (await signerFromSeed(seed)).address;
    const node = { role, seed, address, fault, child, output };
    this.nodes.push(node);
    for (let i = 0; i < 1200 && !/registered 5\w+ as/.test(output.join("")); i++) {
      if (child.exitCode !== null) break;
      await sleep(100);
    }
    if (!/registered 5\w+ as/.test(output.join(""))) {
      throw new Error(`the ${role} node ${seed} did not register:\n${output.join("")}`);
    }
    this.trace(`${role} ${seed}${fault ? ` (${fault})` : ""} registered`);
    await this.startReferee();
    return node;
  }

  /** Stakes `seed` for `role` on chain, as a node daemon would, and never runs one: it misses every duty. */
  async registerAbsent(role: NodeRole, seed: string): Promise<NodeProcess> {
    await this.fund(seed);
    const client = await NodeChainClient.connect(this.devnet.wsUrl, seed);
    try {
      const tx = await client.register({
        roles: { worker: role === "worker", verifier: role === "verifier", whistleblower: false },
        profile: blake2AsHex(canonicalize(currentProfile())!, 256),
        commitment: newForcedErrorSecret().commitment,
        bond: await this.minimumStake(role),
      });
      if (tx.status === "failed") throw new Error(`registering ${seed} failed: ${tx.error}`);
      const node = { role, seed, address: client.address, fault: "absent", child: null, output: [] };
      this.nodes.push(node);
      return node;
    } finally {
      await client.close();
    }
  }

  private async minimumStake(role: StackRole): Promise<bigint> {
    const parameters = (await this.chain.api.query.compute!.parameters!()).toPrimitive() as Record<
      string,
      unknown
    >;
    const key = {
      worker: "minWorkerStake",
      verifier: "minVerifierStake",
      whistleblower: "minWhistleblowerStake",
    };
    return BigInt(String(parameters[key[role]]));
  }

  /**
   * Bonds a node's minimum stake, or unbonds all of it so the chain never draws it: a scenario's
   * faulty node is then the only one of its role, and a standby honest worker can wait, running,
   * until a scenario needs it. Eligible, it is bonded for at least `duties` more duties than it
   * holds. The node's own daemon resyncs its nonce after these.
   */
  async setEligible(node: NodeProcess, eligible: boolean, duties = 1): Promise<void> {
    const client = await NodeChainClient.connect(this.devnet.wsUrl, node.seed);
    try {
      const state = await readNode(client.api, node.address);
      const bonded = state?.bonded ?? 0n;
      const minimum = await this.minimumStake(node.role);
      // A duty still open (a dispute nobody plays) keeps its stake bonded; the rest can go, which
      // leaves the node without capacity for another duty all the same.
      const atRisk = BigInt((state?.duties.worker ?? 0) + (state?.duties.verifier ?? 0)) * minimum;
      const free = bonded - atRisk;
      const wanted = minimum * BigInt(duties);
      const tx = eligible
        ? free < wanted
          ? await client.bondExtra(wanted - free)
          : null
        : free > 0n
          ? await client.unbond(free)
          : null;
      if (tx?.status === "failed") throw new Error(`re-staking ${node.seed} failed: ${tx.error}`);
    } finally {
      await client.close();
    }
  }

  /** An honest worker, started and unbonded until a scenario bonds it (fraud-scenario.ts). */
  async startStandbyWorker(): Promise<NodeProcess> {
    const node = await this.startNode("worker", "//Bob");
    await this.setEligible(node, false);
    return node;
  }

  /** Stops a node for good and unbonds its stake. */
  async retire(node: NodeProcess): Promise<void> {
    const { child } = node;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    await this.setEligible(node, false);
  }

  /** Every account's free and reserved balance, escrow and stakes included, against the total issuance. */
  async conserved(): Promise<boolean> {
    const { api } = this.chain;
    const entries = await api.query.system!.account!.entries();
    const sum = entries.reduce((total, [, info]) => {
      const data = (info.toPrimitive() as { data: { free: string | number; reserved: string | number } })
        .data;
      return total + BigInt(data.free) + BigInt(data.reserved);
    }, 0n);
    const issuance = BigInt(String((await api.query.balances!.totalIssuance!()).toPrimitive()));
    return sum === issuance;
  }

  private async upload(purpose: "model" | "dataset", bytes: Uint8Array, filename: string): Promise<string> {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([bytes]), filename);
    const response = await fetch(`${this.api.url}/v1/files`, {
      method: "POST",
      headers: { authorization: this.authorization },
      body: form,
    });
    const body = (await response.json()) as { id: string };
    if (response.status !== 201)
      throw new Error(`upload answered ${response.status}: ${JSON.stringify(body)}`);
    return body.id;
  }

  /** Quotes and creates a job of the MLP fixture; returns it as created. */
  async submit(spec: Record<string, unknown>): Promise<JobJson> {
    const fixture = loadFixture("mlp");
    this.inputs ??= {
      model: await this.upload("model", fixture.model, "mlp.onnx"),
      dataset: await this.upload("dataset", fixture.dataset.bytes, fixture.dataset.fileName),
    };
    const request = { ...this.inputs, spec, verification: "basic" };
    await this.call("POST", "/v1/training-jobs/quote", request);
    this.jobCounter += 1;
    return this.call<JobJson>("POST", "/v1/training-jobs", request, {
      "idempotency-key": `fraud-${process.pid}-${this.jobCounter}`,
    });
  }

  async events(jobId: string): Promise<JobEvent[]> {
    const rows = await this.db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
    return rows.map((row) => ({
      id: Number(row.id),
      type: row.type,
      data: row.data as Record<string, unknown>,
    }));
  }

  async chainTask(jobId: string): Promise<TaskView | null> {
    const task = await this.db.task.findFirst({ where: { jobId } });
    // Chain task ids start at 0.
    if (task?.chainTaskId === null || task?.chainTaskId === undefined) return null;
    return readTask(this.chain.api, task.chainTaskId);
  }

  /** The model an honest run of `spec` delivers, trained locally once per spec. */
  private async honestModel(spec: Record<string, unknown>): Promise<string> {
    const key = JSON.stringify(spec);
    let sha256 = this.honestModels.get(key);
    if (!sha256) {
      const fixture = loadFixture("mlp");
      sha256 = sha256Hex((await train({ model: fixture.model, dataset: fixture.dataset, spec })).model);
      this.honestModels.set(key, sha256);
    }
    return sha256;
  }

  /** Waits until the job ended; `timeoutMs` bounds the wait. */
  async settle(jobId: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < until) {
      const job = await this.call<JobJson>("GET", `/v1/training-jobs/${jobId}`);
      const task = await this.chainTask(jobId);
      const now = `${job.status}/${task?.status ?? "-"}`;
      if (now !== last) this.trace(`job ${jobId}: ${now}`);
      last = now;
      if (TERMINAL.has(job.status)) return;
      await sleep(500);
    }
  }

  /** What the job came to, for a scenario around `node`, faulty or not. */
  async outcome(
    jobId: string,
    spec: Record<string, unknown>,
    node: NodeProcess,
    faulty: boolean,
    since: number,
  ): Promise<Outcome> {
    // The event journal trails the chain by a block or two.
    await sleep(1_000);
    const job = await this.call<JobJson>("GET", `/v1/training-jobs/${jobId}`);
    const events = await this.events(jobId);
    const task = await this.chainTask(jobId);
    const selected = events.filter((e) => e.type === "verification.audits_selected");
    const slashes = await this.db.chainEvent.findMany({
      where: { pallet: "Compute", name: "Slashed", blockNumber: { gt: since } },
    });
    const slashedAccounts = slashes.map((s) => String((s.data as { who: string }).who));
    const honestSlashed = slashedAccounts.filter((who) => !faulty || who !== node.address);
    const payout = task?.status === "Finalized" ? task.payout : null;
    const paid = !payout
      ? 0n
      : node.role === "worker"
        ? task!.worker === node.address
          ? payout.worker
          : 0n
        : task!.audits.some((a) => a.verifier === node.address && a.outcome === "Passed")
          ? payout.verifiers
          : 0n;
    let deliveredCorrect: boolean | null = null;
    let receiptFailures: string[] = [];
    if (job.status === "succeeded") {
      const model = await fetch(`${this.api.url}/v1/training-jobs/${jobId}/model`, {
        headers: { authorization: this.authorization },
      });
      const modelBytes = new Uint8Array(await model.arrayBuffer());
      deliveredCorrect = sha256Hex(modelBytes) === (await this.honestModel(spec));
      const receipt = await this.call<Receipt>("GET", `/v1/training-jobs/${jobId}/receipt`);
      const keys = await this.call<{ data: Array<{ public_key: string }> }>("GET", "/v1/receipt-keys");
      receiptFailures = verifyReceipt(receipt, modelBytes, { platformPublicKey: keys.data[0]!.public_key })
        .checks.filter((check) => !check.ok)
        .map((check) => `${check.name}: ${check.detail}`);
    }
    const log = node.output.join("");
    return {
      job,
      events,
      task,
      disagreeingVerdicts: events.filter((e) => e.type === "verification.verdict" && e.data.agrees === false)
        .length,
      transcriptDisputes: events.filter(
        (e) => e.type === "verification.disputed" && e.data.kind === "transcript",
      ).length,
      lostDeliveries: events.filter(
        (e) =>
          e.type === "verification.delivery_ruled" &&
          (e.data.outcome === "undelivered" || e.data.outcome === "false_claim"),
      ).length,
      refusedUploads: [
        ...log.matchAll(/giving it back \(([^)]*(?:checkpoint_invalid|model_mismatch)[^)]*)\)/g),
      ].map((m) => m[1]!),
      deadlines: [
        ...events.filter((e) => e.type === "training.reassigned").map((e) => String(e.data.reason)),
        ...missedVerdicts(events).map((verifier) => `no verdict from ${verifier}`),
        ...(job.failure_reason && /timeout|audits_missed/.test(job.failure_reason)
          ? [job.failure_reason]
          : []),
      ],
      audited: selected.length > 0 ? (selected[0]!.data.audits as unknown[]).length : 0,
      segments: Math.max(0, Math.ceil(job.total_steps / Number(spec.checkpoint_every))),
      nodePaid: paid,
      honestSlashed,
      nodeSlashed: slashedAccounts.includes(node.address),
      deliveredCorrect,
      receiptFailures,
      conserved: await this.conserved(),
      balance: await this.call("GET", "/v1/billing/balance"),
    };
  }

  /** The chain's latest block: slashes after it belong to the next scenario. */
  async head(): Promise<number> {
    return (await this.chain.api.rpc.chain.getHeader()).number.toNumber();
  }
}
