// Runs a training job against a Cluster over HTTP the way a customer does, tolerating API instances
// that are down, and audits what it left behind: the job ended exactly once, every ledger
// transaction sums to zero, the organization's balance is its top-up minus what it was charged
// with nothing left reserved, and the escrow on chain was released and matches the database.
import { setTimeout as sleep } from "node:timers/promises";
import { Ledger } from "../../api/services/ledger.ts";
import { readBalance, readTask, signerFromSeed } from "../../chain-bridge/index.ts";
import { createPool } from "../../prisma/pool.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import type { Cluster } from "./cluster.ts";

export interface Customer {
  organizationId: string;
  authorization: string;
  toppedUpCents: number;
  model: string;
  dataset: string;
}

export interface JobOutcome {
  jobId: string;
  status: string;
  /** Terminal events recorded for the job: exactly 1 when it ended once. */
  endings: number;
  /** What broke an invariant, in words; empty when the job is "held". */
  problems: string[];
}

const fixture = loadFixture("mlp");
const { epochs: _epochs, ...baseSpec } = fixture.spec;
export const SHORT_SPEC = { ...baseSpec, max_steps: 200, checkpoint_every: 50 };

/** Requests to whichever API instance is up, retried while instances restart. */
export async function request<T>(
  cluster: Cluster,
  method: string,
  path: string,
  init: { authorization?: string; body?: unknown; form?: FormData; idempotencyKey?: string } = {},
  timeoutMs = 60_000,
): Promise<{ status: number; body: T }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const headers: Record<string, string> = {};
      if (init.authorization) headers.authorization = init.authorization;
      if (init.idempotencyKey) headers["idempotency-key"] = init.idempotencyKey;
      if (init.body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(`${cluster.url}${path}`, {
        method,
        headers,
        body: init.form ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
        // A request that got through but answered slowly is not sent again: signup is not idempotent.
        signal: AbortSignal.timeout(120_000),
      });
      const text = await response.text();
      // A 5xx from an instance whose Redis, Postgres or chain is down is retried like a refused connection.
      if (response.status < 500) return { status: response.status, body: JSON.parse(text) as T };
      if (Date.now() > deadline) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    } catch (error) {
      if (Date.now() > deadline || (error instanceof Error && error.name === "TimeoutError")) throw error;
    }
    await sleep(250);
  }
}

export async function newCustomer(cluster: Cluster, topUpCents: number): Promise<Customer> {
  const email = `chaos-${Date.now()}-${Math.random().toString(16).slice(2)}@example.com`;
  const signup = await request<{ organization: { id: string }; api_key: { secret: string } }>(
    cluster,
    "POST",
    "/v1/auth/signup",
    { body: { email, password: "a long enough password" } },
  );
  if (signup.status !== 201) throw new Error(`signup answered ${signup.status}`);
  const organizationId = signup.body.organization.id;
  const authorization = `Bearer ${signup.body.api_key.secret}`;
  // Credits as a Stripe webhook would post them (billing's own tests cover the webhook).
  const { pool } = createPool(cluster.databaseUrl, 1);
  try {
    await new Ledger(cluster.db, pool).topUp(organizationId, topUpCents, `chaos:${organizationId}:top-up`);
  } finally {
    await pool.end();
  }
  const upload = async (purpose: string, bytes: Uint8Array, name: string) => {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([bytes]), name);
    const uploaded = await request<{ id: string }>(cluster, "POST", "/v1/files", { authorization, form });
    if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}`);
    return uploaded.body.id;
  };
  const model = await upload("model", fixture.model, "mlp.onnx");
  const dataset = await upload("dataset", fixture.dataset.bytes, fixture.dataset.fileName);
  return { organizationId, authorization, toppedUpCents: topUpCents, model, dataset };
}

/** Creates a job; resolves with its id, or null when the balance could not cover it (402). */
export async function createJob(
  cluster: Cluster,
  customer: Customer,
  key: string,
  spec: Record<string, unknown> = SHORT_SPEC,
): Promise<string | null> {
  const created = await request<{ id: string }>(cluster, "POST", "/v1/training-jobs", {
    authorization: customer.authorization,
    idempotencyKey: key,
    body: { model: customer.model, dataset: customer.dataset, spec, verification: "basic" },
  });
  if (created.status === 402) return null;
  if (created.status !== 201) throw new Error(`creating a job answered ${created.status}`);
  return created.body.id;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Waits for the job to end; resolves with its last status (not terminal when it timed out). */
export async function waitForEnd(cluster: Cluster, jobId: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let status = "unknown";
  while (Date.now() < deadline) {
    const job = await cluster.db.trainingJob
      .findUnique({ where: { id: jobId }, select: { status: true } })
      .catch(() => null);
    status = job?.status ?? status;
    if (TERMINAL.has(status)) return status;
    await sleep(500);
  }
  return status;
}

// A job that ended while its escrow was being opened (a cancel racing the dispatch) has the
// escrow returned by the leader's next pass over orphaned escrows, a few seconds later.
const ORPHAN_RELEASE_MS = 30_000;

/** The job's task on chain once it left Assigned/Unassigned, or as it is when that takes too long. */
async function settledTask(cluster: Cluster, chainTaskId: bigint) {
  const until = Date.now() + ORPHAN_RELEASE_MS;
  for (;;) {
    const task = await readTask(cluster.chainClient.api, chainTaskId);
    if (!task || (task.status !== "Assigned" && task.status !== "Unassigned") || Date.now() > until)
      return task;
    await sleep(500);
  }
}

/** Every invariant that concerns one job and its customer. */
/**
 * `ledger`: also check the customer's ledger against this one job, which holds when it is the
 * customer's only job; a caller with several jobs per customer audits the ledger over all of them.
 */
export async function auditJob(
  cluster: Cluster,
  customer: Customer,
  jobId: string,
  { ledger = true }: { ledger?: boolean } = {},
): Promise<JobOutcome> {
  const { db } = cluster;
  const problems: string[] = [];
  const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  const endings = await db.jobEvent.count({
    where: { jobId, type: { in: ["job.succeeded", "job.failed", "job.cancelled"] } },
  });
  if (!TERMINAL.has(job.status)) problems.push(`the job is still ${job.status}`);
  if (TERMINAL.has(job.status) && endings !== 1) problems.push(`the job ended ${endings} times`);
  const settlements = await db.ledgerTransaction.count({
    where: { causeKey: { startsWith: `job:${jobId}:settle` } },
  });
  if (TERMINAL.has(job.status) && settlements !== 1)
    problems.push(`the job was settled ${settlements} times`);
  if (ledger) problems.push(...(await auditLedger(cluster, customer, [jobId])));

  const task = await db.task.findFirst({ where: { jobId } });
  if (task?.chainTaskId != null) {
    const onChain = await settledTask(cluster, task.chainTaskId);
    if (!onChain) problems.push(`task ${task.id} is not on chain`);
    else {
      if (onChain.status !== "Finalized" && onChain.status !== "Cancelled") {
        problems.push(
          `the escrow is still locked on chain (task ${onChain.status}) after the job ${job.status}`,
        );
      }
      if (onChain.price.toString() !== task.escrowPlanck.toFixed()) {
        problems.push(`the chain escrows ${onChain.price} planck, the database ${task.escrowPlanck}`);
      }
      if (onChain.status === "Finalized" && job.status !== "succeeded") {
        problems.push(`the chain paid the network for a job that ${job.status}`);
      }
      if (job.status === "succeeded" && onChain.payout) {
        const { worker, verifiers, jackpot, refund } = onChain.payout;
        if (worker + verifiers + jackpot + refund !== onChain.price)
          problems.push("the payout does not add up");
      }
    }
  }
  return { jobId, status: job.status, endings, problems };
}

/**
 * The customer's money: every ledger transaction balances, nothing stays reserved once its jobs
 * ended, and the balance is the top-up minus the sum charged, to the cent.
 */
export async function auditLedger(cluster: Cluster, customer: Customer, jobIds: string[]): Promise<string[]> {
  const { db } = cluster;
  const problems: string[] = [];
  const unbalanced = await db.$queryRaw<Array<{ transaction_id: string }>>`
    SELECT transaction_id FROM ledger_lines GROUP BY transaction_id HAVING SUM(amount_cents) <> 0`;
  if (unbalanced.length > 0) problems.push(`${unbalanced.length} ledger transactions do not sum to zero`);
  const jobs = await db.trainingJob.findMany({ where: { id: { in: jobIds } } });
  const live = jobs.filter((j) => !TERMINAL.has(j.status));
  const charged = jobs.reduce((sum, j) => sum + Number(j.chargedCents ?? 0n), 0);
  const stillReserved = live.reduce((sum, j) => sum + Number(j.reservedCents), 0);
  const sums = await db.ledgerLine.groupBy({
    by: ["account"],
    where: { organizationId: customer.organizationId },
    _sum: { amountCents: true },
  });
  const sum = (account: string) => Number(sums.find((s) => s.account === account)?._sum.amountCents ?? 0n);
  const revenue = await db.ledgerLine.aggregate({
    where: { account: "revenue", transaction: { organizationId: customer.organizationId } },
    _sum: { amountCents: true },
  });
  if (Number(revenue._sum.amountCents ?? 0n) !== charged) {
    problems.push(`the ledger charged ${revenue._sum.amountCents ?? 0n} cents, the jobs record ${charged}`);
  }
  if (sum("reserved") !== stillReserved) {
    problems.push(`${sum("reserved")} cents are reserved, the live jobs hold ${stillReserved}`);
  }
  if (sum("available") !== customer.toppedUpCents - charged - stillReserved) {
    problems.push(
      `available is ${sum("available")} cents, expected ${customer.toppedUpCents} - ${charged} charged - ${stillReserved} reserved`,
    );
  }
  const balance = await db.$queryRaw<Array<{ available_cents: bigint; reserved_cents: bigint }>>`
    SELECT available_cents, reserved_cents FROM balances WHERE organization_id = ${customer.organizationId}`;
  const row = balance[0];
  if (
    row &&
    (Number(row.available_cents) !== sum("available") || Number(row.reserved_cents) !== sum("reserved"))
  ) {
    problems.push("the balance row disagrees with the sum of the ledger lines");
  }
  if (row && Number(row.available_cents) < 0) problems.push("the balance went below zero");
  return problems;
}

/** The operator's tokens reserved on chain: every escrow not yet finalized or cancelled. */
export async function operatorReserved(cluster: Cluster): Promise<bigint> {
  const operator = await signerFromSeed("//Alice");
  return (await readBalance(cluster.chainClient.api, operator.address)).reserved;
}

/**
 * The operator's reserved balance once it is back at `expected`, or as it is after the orphan
 * grace: an escrow a dispatch finished opening after its job was cancelled is returned by the
 * leader's next pass, not at once.
 */
export async function operatorReservedSettled(cluster: Cluster, expected: bigint): Promise<bigint> {
  const until = Date.now() + ORPHAN_RELEASE_MS;
  for (;;) {
    const reserved = await operatorReserved(cluster);
    if (reserved === expected || Date.now() > until) return reserved;
    await sleep(500);
  }
}
