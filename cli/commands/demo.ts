// `veritrain demo`: the product's main path against a running stack, as a new user would take it,
// through the SDK like any client: sign up (or use VERITRAIN_API_KEY), quote the bundled
// PyTorch-exported fixtures, buy the credits through a local stack's test checkout, train, follow
// the job, download the model and receipt, and verify the receipt against the key the platform
// publishes (never the key the receipt names). Exits non-zero if any of it fails.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import type { Command } from "commander";
import {
  type Balance,
  type JobEvent,
  type Quote,
  type Receipt,
  type ReceiptVerification,
  sha256Hex,
  type TrainingJob,
  Veritrain,
  verifyReceipt,
} from "../../sdk/src/index.ts";

interface DemoFlags {
  api: string;
  json?: boolean;
  out: string;
  timeout: string;
}

/** What the demo saw; `--json` prints it, filled as far as the demo got. */
interface DemoResult {
  api: string;
  job_id: string | null;
  status: TrainingJob["status"] | "error";
  failure_reason: string | null;
  credits_bought_cents: number;
  quoted_cents: number | null;
  charged_cents: number | null;
  accuracy: number | null;
  model_path: string | null;
  model_sha256: string | null;
  receipt_path: string | null;
  receipt_valid: boolean;
  receipt_key_id: string | null;
  checks: ReceiptVerification["checks"];
  audits: Receipt["body"]["audits"];
  chain: Receipt["body"]["chain"] | null;
  error?: { code: string; message: string };
}

class DemoError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const FIXTURES = new URL("../../worker-runtime/fixtures/", import.meta.url);
/** The API's smallest card payment (api/services/billing.ts). */
const MIN_PURCHASE_CENTS = 500;

const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const short = (text: string) => (text.length > 18 ? `${text.slice(0, 10)}…${text.slice(-6)}` : text);
const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** The last epoch's accuracy on the validation split, else on the training data. */
function accuracyOf(metrics: Record<string, unknown>): { value: number; on: string } | null {
  const epochs = metrics.epochs as Array<{ val_accuracy?: number | null; train_accuracy?: number | null }>;
  const last = Array.isArray(epochs) ? epochs.at(-1) : undefined;
  if (typeof last?.val_accuracy === "number") return { value: last.val_accuracy, on: "validation data" };
  if (typeof last?.train_accuracy === "number") return { value: last.train_accuracy, on: "training data" };
  return null;
}

/** Human output: lines on stdout, the training progress as a bar when stdout is a terminal. */
class Narrator {
  private readonly bars: MultiBar | undefined;
  private bar: ReturnType<MultiBar["create"]> | undefined;

  constructor(private readonly quiet: boolean) {
    this.bars =
      !quiet && process.stdout.isTTY
        ? new MultiBar(
            {
              format: "  training |{bar}| {value}/{total} steps | loss {loss}",
              hideCursor: true,
              clearOnComplete: false,
              stream: process.stdout,
            },
            Presets.shades_classic,
          )
        : undefined;
  }

  say(line: string): void {
    if (this.quiet) return;
    if (this.bar && this.bars) this.bars.log(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  }

  progress(step: number, total: number, loss: number): void {
    if (!this.bars) return;
    this.bar ??= this.bars.create(total, 0, { loss: "-" });
    this.bar.update(step, { loss: loss.toFixed(4) });
  }

  stop(): void {
    this.bars?.stop();
    this.bar = undefined;
  }

  event(event: JobEvent): void {
    const d = event.data;
    if (event.type === "training.progress")
      this.progress(Number(d.step), Number(d.total_steps), Number(d.loss));
    // Progress is reported every so many steps: the last ones may not have been.
    if (event.type === "training.completed" && this.bar) {
      const epochs = (d.metrics as { epochs?: Array<{ train_loss?: number }> } | undefined)?.epochs;
      const loss = epochs?.at(-1)?.train_loss;
      this.bar.update(this.bar.getTotal(), { loss: typeof loss === "number" ? loss.toFixed(4) : "-" });
    }
    const line = describe(event);
    if (line) this.say(`  ${line}`);
  }
}

/** One line per event a user would care about; the progress events move the bar instead. */
function describe({ type, data: d }: JobEvent): string | undefined {
  switch (type) {
    case "job.waiting":
      return `waiting: ${d.reason}`;
    case "job.dispatched":
      return `escrowed on chain as task ${d.chain_task_id} (block ${d.block_number}); worker ${short(String(d.worker))}`;
    case "training.started":
      return "training started";
    case "training.reassigned":
      return `re-assigned to worker ${short(String(d.worker))}: ${d.reason}`;
    case "checkpoint.stored":
      return `checkpoint at step ${d.step}: ${short(String(d.sha256))}`;
    case "training.completed":
      return `training done: ${d.checkpoints} checkpoints, root ${short(String(d.checkpoint_root))}`;
    case "verification.audits_selected": {
      const audits = d.audits as Array<{ segment: number; verifier: string }>;
      return `audits drawn on chain: ${audits.map((a) => `segment ${a.segment} by ${short(a.verifier)}`).join(", ")}`;
    }
    case "verification.verdict":
      return `verdict on steps ${d.from_step}–${d.to_step}: ${d.agrees ? "agrees" : "DISAGREES"} (${short(String(d.verifier))})`;
    case "verification.closed":
      return `audits closed: ${d.passed} passed`;
    case "job.succeeded":
    case "job.failed":
    case "job.cancelled":
      return `${type}${d.reason ? `: ${d.reason}` : ""}; charged ${dollars(Number(d.charged_cents ?? 0))}, released ${dollars(Number(d.released_cents ?? 0))}`;
    default:
      return undefined;
  }
}

/** A client with an API key: VERITRAIN_API_KEY's, or a new demo account's. */
async function account(api: string, say: Narrator): Promise<Veritrain> {
  const apiKey = process.env.VERITRAIN_API_KEY?.trim();
  if (apiKey) {
    say.say("Using the API key in VERITRAIN_API_KEY.");
    return new Veritrain({ baseUrl: api, apiKey });
  }
  const email = `demo-${randomBytes(4).toString("hex")}@example.com`;
  const signedUp = await new Veritrain({ baseUrl: api }).auth.signup({
    email,
    password: randomBytes(18).toString("base64url"),
  });
  say.say(
    `Signed up ${email}. To keep using this account: export VERITRAIN_API_KEY=${signedUp.api_key.secret}`,
  );
  return new Veritrain({ baseUrl: api, apiKey: signedUp.api_key.secret });
}

/** Tops the balance up to the quote through a local stack's test checkout; returns cents bought. */
async function buyCredits(vt: Veritrain, api: string, price: number, say: Narrator): Promise<number> {
  const balance: Balance = await vt.billing.balance();
  const missing = price - balance.available_cents;
  if (missing <= 0) {
    say.say(`Balance ${dollars(balance.available_cents)} covers the price; nothing to buy.`);
    return 0;
  }
  const amount = Math.max(MIN_PURCHASE_CENTS, missing);
  const session = await vt.billing.createCheckoutSession({
    amount_cents: amount,
    success_url: `${api}/portal/?checkout=success`,
    cancel_url: `${api}/portal/?checkout=cancelled`,
  });
  if (!session.id.startsWith("cs_local_")) {
    throw new DemoError(
      "PAYMENT_REQUIRED",
      `this API takes card payments through Stripe, which the demo cannot do for you: pay ${dollars(amount)} at ${session.url}, then run the demo again with VERITRAIN_API_KEY set to this account's key`,
    );
  }
  await vt.billing.payLocalCheckout(session.id);
  const after = await vt.billing.balance();
  if (after.available_cents < price) {
    throw new DemoError("PAYMENT_NOT_CREDITED", `the test payment ${session.id} did not credit the balance`);
  }
  say.say(
    `Bought ${dollars(amount)} of credits on the local test checkout (no card is charged): ${session.id}`,
  );
  return amount;
}

async function runDemo(flags: DemoFlags, result: DemoResult, say: Narrator): Promise<void> {
  const api = result.api;
  const deadline = AbortSignal.timeout(Number(flags.timeout) * 1000);
  say.say(`Veritrain demo against ${api}`);
  const vt = await account(api, say);

  const [modelBytes, datasetBytes, specText] = await Promise.all([
    readFile(new URL("mlp.onnx", FIXTURES)),
    readFile(new URL("data/digits.safetensors", FIXTURES)),
    readFile(new URL("mlp.spec.json", FIXTURES), "utf8"),
  ]);
  const model = await vt.files.upload("model", modelBytes, "mlp.onnx");
  const dataset = await vt.files.upload("dataset", datasetBytes, "digits.safetensors");
  say.say(
    `Uploaded the PyTorch-exported MLP (${model.id}, ${model.bytes} bytes) and 8×8 digit images (${dataset.id}, ${dataset.bytes} bytes).`,
  );
  const request = {
    model: model.id,
    dataset: dataset.id,
    spec: JSON.parse(specText),
    verification: "basic",
  } as const;
  const quote: Quote = await vt.trainingJobs.quote(request);
  const { price } = quote;
  result.quoted_cents = price.total_cents;
  say.say(
    `Quote: ${quote.total_steps} steps, ${(quote.total_flops / 1e9).toFixed(2)} GFLOP, ${price.audited_segments} audited segment(s): ` +
      `${dollars(price.total_cents)} (compute ${dollars(price.compute_cents)}, verification ${dollars(price.verification_cents)}, fee ${dollars(price.platform_fee_cents)})`,
  );
  result.credits_bought_cents = await buyCredits(vt, api, price.total_cents, say);

  const created = await vt.trainingJobs.create(request);
  result.job_id = created.id;
  say.say(`Created ${created.id}: ${dollars(created.price.reserved_cents)} reserved. Following its events:`);
  let job: TrainingJob;
  try {
    job = await vt.trainingJobs.waitFor(created.id, {
      signal: deadline,
      onEvent: (event) => say.event(event),
    });
  } catch (error) {
    if (!deadline.aborted) throw error;
    throw new DemoError(
      "TIMEOUT",
      `stopped following ${created.id} after ${flags.timeout} s; the job goes on: GET ${api}/v1/training-jobs/${created.id}`,
    );
  } finally {
    say.stop();
  }
  result.status = job.status;
  result.failure_reason = job.failure_reason;
  result.charged_cents = job.price.charged_cents;
  if (job.status !== "succeeded") {
    throw new DemoError(
      "JOB_NOT_SUCCEEDED",
      `${job.id} ${job.status}: ${job.failure_reason ?? "no reason given"}`,
    );
  }

  const [trained, receipt, keys] = await Promise.all([
    vt.trainingJobs.model(job.id),
    vt.trainingJobs.receipt(job.id),
    vt.receiptKeys.list(),
  ]);
  const out = resolve(flags.out);
  await mkdir(out, { recursive: true });
  result.model_path = join(out, `${job.id}.onnx`);
  result.receipt_path = join(out, `${job.id}.receipt.json`);
  result.model_sha256 = sha256Hex(trained);
  await writeFile(result.model_path, trained);
  await writeFile(result.receipt_path, `${JSON.stringify(receipt, null, 2)}\n`);

  // The receipt's own key only picks among the published ones, as a key id would.
  const key = keys.data.find((k) => k.public_key === receipt.body.platform.public_key) ?? keys.data[0];
  if (!key) throw new DemoError("NO_RECEIPT_KEY", `${api}/v1/receipt-keys publishes no key`);
  const verification = verifyReceipt(receipt, trained, { platformPublicKey: key.public_key });
  result.receipt_key_id = key.id;
  result.receipt_valid = verification.valid;
  result.checks = verification.checks;
  result.audits = receipt.body.audits;
  result.chain = receipt.body.chain;
  const accuracy = accuracyOf(receipt.body.result.metrics);
  result.accuracy = accuracy?.value ?? null;

  say.say("");
  say.say(`Model    ${result.model_path} (sha256 ${short(result.model_sha256)})`);
  say.say(`Receipt  ${result.receipt_path}`);
  say.say(
    `Accuracy ${accuracy ? `${percent(accuracy.value)} on the ${accuracy.on}, last epoch` : "not measured"}`,
  );
  say.say(
    `Charged  ${dollars(job.price.charged_cents ?? 0)} of ${dollars(job.price.reserved_cents)} reserved`,
  );
  for (const audit of receipt.body.audits) {
    say.say(
      `Audit    steps ${audit.from_step}–${audit.to_step} replayed by ${short(audit.verifier)}: ${audit.agrees ? "agrees" : "disagrees"}`,
    );
  }
  say.say(`Chain    genesis ${short(receipt.body.chain.genesis_hash)}, task ${receipt.body.chain.task_id}`);
  for (const anchor of receipt.body.chain.anchors) {
    say.say(
      `         ${anchor.purpose.padEnd(22)} block ${anchor.block_number}, extrinsic ${short(anchor.extrinsic_hash)}`,
    );
  }
  const failed = verification.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new DemoError(
      "RECEIPT_INVALID",
      `the receipt does not verify against ${key.id}: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
    );
  }
  say.say(`Receipt  valid: ${verification.checks.length} checks against the published key ${key.id}`);
}

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("Against a running stack: sign up, buy credits, train the bundled model, verify its receipt")
    .option("--api <url>", "the API", process.env.VERITRAIN_BASE_URL ?? "http://localhost:8080")
    .option("--json", "print one JSON object at the end instead of the narration")
    .option("--out <dir>", "where to save the trained model and the receipt", "veritrain-demo")
    .option("--timeout <seconds>", "give up following the job after this long", "1200")
    .action(async (flags: DemoFlags) => {
      const result: DemoResult = {
        api: flags.api.replace(/\/+$/, ""),
        job_id: null,
        status: "error",
        failure_reason: null,
        credits_bought_cents: 0,
        quoted_cents: null,
        charged_cents: null,
        accuracy: null,
        model_path: null,
        model_sha256: null,
        receipt_path: null,
        receipt_valid: false,
        receipt_key_id: null,
        checks: [],
        audits: [],
        chain: null,
      };
      const narrator = new Narrator(flags.json === true);
      try {
        await runDemo(flags, result, narrator);
      } catch (error) {
        const code =
          typeof error === "object" && error && "code" in error ? String(error.code) : "DEMO_FAILED";
        result.error = { code, message: error instanceof Error ? error.message : String(error) };
        process.stderr.write(`error [${code}]: ${result.error.message}\n`);
      }
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exitCode = result.error ? 1 : 0;
    });
}
