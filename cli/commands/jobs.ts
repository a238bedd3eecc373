// `veritrain jobs quote|create|list|get|watch|cancel|download`: training jobs on the service.
// `create` shows the price and asks before it spends anything; `watch` and `create --wait` follow
// the job's event stream with a live bar and exit non-zero (5) unless the job succeeds.
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type {
  FilePurpose,
  Quote,
  TrainingJob,
  TrainingJobParams,
  TrainingSpec,
  VerificationLevel,
  Veritrain,
} from "../../sdk/src/index.ts";
import { authenticatedClient } from "../remote/client.ts";
import { type Answer, answer, CliError, dollars, EXIT, type OutputFlags, table } from "../remote/output.ts";
import { JobWatcher } from "../remote/progress.ts";
import { confirm } from "../remote/prompt.ts";
import { downloadVerified, type ModelFormat, type VerifiedFiles } from "../remote/verified-download.ts";
import { uploadPath } from "./files.ts";

export interface RequestFlags extends OutputFlags {
  model: string;
  dataset: string;
  spec: string;
  verification?: string;
  maxPrice?: string;
}

/** What `create` adds to a request: where the job starts from. */
export interface StartFlags {
  initFrom?: string;
}

interface CreateFlags extends RequestFlags, StartFlags {
  yes?: boolean;
  wait?: boolean;
  out?: string;
  receipt?: string;
}

interface DownloadFlags extends OutputFlags {
  format: string;
  out?: string;
  receipt?: string;
}

const LEVELS: readonly VerificationLevel[] = ["basic", "standard", "thorough"];

/** "2.50" → 250; an amount a person types, in dollars. */
export function centsOf(dollarsText: string, what: string): number {
  if (!/^\d+(\.\d{1,2})?$/.test(dollarsText.trim())) {
    throw new CliError("price_invalid", `${what} takes dollars like 2.50, got '${dollarsText}'`);
  }
  return Math.round(Number(dollarsText) * 100);
}

/** A file id as it is, or a local path uploaded first. */
export async function fileRef(
  vt: Veritrain,
  ref: string,
  purpose: FilePurpose,
  quiet: boolean,
): Promise<string> {
  if (/^file_[A-Za-z0-9]+$/.test(ref) && !(await stat(ref).catch(() => undefined))) return ref;
  const file = await uploadPath(vt, ref, purpose, quiet);
  if (!quiet) process.stderr.write(`  uploaded ${ref} as ${file.id}\n`);
  return file.id;
}

/** `--init-from job_x` or `job_x@STEP` → the request's `init_from`. */
export function initFromOf(flags: StartFlags): { init_from?: { job: string; step?: number } } {
  if (flags.initFrom === undefined) return {};
  const match = /^(job_[A-Za-z0-9]+)(?:@(\d+))?$/.exec(flags.initFrom.trim());
  if (!match) {
    throw new CliError(
      "init_from_invalid",
      `--init-from takes a succeeded job's id, optionally with a checkpoint step: job_...@500, got '${flags.initFrom}'`,
    );
  }
  return { init_from: { job: match[1]!, ...(match[2] !== undefined ? { step: Number(match[2]) } : {}) } };
}

/** The option `create` commands take to start from a finished job's checkpoint. */
export function startOption(command: Command): Command {
  return command.option(
    "--init-from <job[@step]>",
    "start from the weights of a checkpoint of a succeeded job (its last, or the one at STEP); the model must be that job's graph",
  );
}

async function readSpec(path: string): Promise<TrainingSpec> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new CliError("file_not_found", `${path} is not a readable file`);
  });
  try {
    return JSON.parse(text) as TrainingSpec;
  } catch (error) {
    throw new CliError("spec_invalid", `${path} is not JSON: ${(error as Error).message}`);
  }
}

export async function jobRequest(vt: Veritrain, flags: RequestFlags): Promise<TrainingJobParams> {
  if (flags.verification !== undefined && !LEVELS.includes(flags.verification as VerificationLevel)) {
    throw new CliError("verification_invalid", `--verification must be one of ${LEVELS.join(", ")}`);
  }
  const maxPrice = flags.maxPrice === undefined ? undefined : centsOf(flags.maxPrice, "--max-price");
  const spec = await readSpec(flags.spec);
  const quiet = flags.json === true;
  return {
    model: await fileRef(vt, flags.model, "model", quiet),
    dataset: await fileRef(vt, flags.dataset, "dataset", quiet),
    spec,
    ...(flags.verification ? { verification: flags.verification as VerificationLevel } : {}),
    ...(maxPrice !== undefined ? { max_price_cents: maxPrice } : {}),
  };
}

function describeQuote(quote: Quote): string[] {
  const { price, audit } = quote;
  return [
    `Quote: ${quote.total_steps} steps on ${quote.train_samples} samples, ${(quote.total_flops / 1e9).toFixed(2)} GFLOP, ${quote.checkpoints} checkpoints`,
    `  verification ${audit.level}: ${audit.audited_segments} of ${audit.segments} segments audited, ${(audit.detection_probability * 100).toFixed(2)}% chance of catching a worker faking 10%`,
    `  price ${dollars(price.total_cents)} (compute ${dollars(price.compute_cents)}, verification ${dollars(price.verification_cents)}, fee ${dollars(price.platform_fee_cents)})`,
  ];
}

export function describeJob(job: TrainingJob): string[] {
  const lines = [
    `${job.id}  ${job.status}  ${job.steps_completed}/${job.total_steps} steps  verification ${job.verification}`,
    `  model ${job.model}, dataset ${job.dataset}, created ${job.created_at}`,
    `  price: quoted ${dollars(job.price.quoted_cents)}, reserved ${dollars(job.price.reserved_cents)}${job.price.charged_cents === null ? "" : `, charged ${dollars(job.price.charged_cents)}`}`,
  ];
  if (job.failure_reason) lines.push(`  failure: ${job.failure_reason}`);
  if (job.result.model_sha256) lines.push(`  model sha256 ${job.result.model_sha256}`);
  return lines;
}

/** Follows a job to its end with the live bar; the exit code says whether it succeeded. */
async function follow(vt: Veritrain, job: TrainingJob, quiet: boolean): Promise<TrainingJob> {
  const watcher = new JobWatcher(job.total_steps, job.status, quiet);
  try {
    return await vt.trainingJobs.waitFor(job.id, { onEvent: (event) => watcher.event(event) });
  } finally {
    watcher.stop();
  }
}

const endedWell = (job: TrainingJob) => (job.status === "succeeded" ? EXIT.ok : EXIT.jobFailed);

function downloadPaths(id: string, flags: { out?: string; receipt?: string }, format: ModelFormat = "onnx") {
  return {
    model: resolve(flags.out ?? `${id}.${format}`),
    receipt: resolve(flags.receipt ?? `${id}.receipt.json`),
  };
}

function describeDownload(files: VerifiedFiles): string[] {
  return [
    `Receipt verified against the published key ${files.receipt_key_id}: ${files.checks.length} checks passed.`,
    `Model    ${files.model_path} (${files.format}; the receipt attests the ONNX model, sha256 ${files.model_sha256})`,
    `Receipt  ${files.receipt_path}`,
  ];
}

/**
 * Refuses a price above the cap, then asks (unless `yes`) before anything is spent; answers the
 * cap to send with the creation, so that a price changed since the quote is refused by the API.
 */
export async function approvePrice(
  quote: unknown,
  totalCents: number,
  cap: number | undefined,
  yes: boolean | undefined,
  what: string,
): Promise<number> {
  if (cap !== undefined && totalCents > cap) {
    throw new CliError(
      "price_above_max",
      `the price ${dollars(totalCents)} is above --max-price ${dollars(cap)}: no job created`,
      EXIT.refused,
      { quote },
    );
  }
  if (!yes && !(await confirm(`Create ${what} for ${dollars(totalCents)}?`))) {
    throw new CliError(
      "not_confirmed",
      "not confirmed: no job created (pass --yes to skip the question)",
      EXIT.refused,
    );
  }
  return cap ?? totalCents;
}

async function createJob(flags: CreateFlags): Promise<Answer> {
  const start = initFromOf(flags);
  const vt = await authenticatedClient();
  const request = await jobRequest(vt, flags);
  const quote = await vt.trainingJobs.quote(request);
  const say = (lines: string[]) => flags.json || process.stderr.write(`${lines.join("\n")}\n`);
  say(describeQuote(quote));
  const cap = await approvePrice(
    quote,
    quote.price.total_cents,
    request.max_price_cents,
    flags.yes,
    "this job",
  );
  // The cap goes with the request too: should the price change between quote and create, the API refuses.
  const created = await vt.trainingJobs.create({
    ...request,
    ...start,
    max_price_cents: cap,
  });
  say([`Created ${created.id}: ${dollars(created.price.reserved_cents)} reserved.`]);
  if (!flags.wait) return { json: created, human: describeJob(created) };
  const job = await follow(vt, created, flags.json === true);
  if (job.status !== "succeeded") return { json: job, human: describeJob(job), exitCode: EXIT.jobFailed };
  const files = await downloadVerified(vt, job.id, downloadPaths(job.id, flags));
  return { json: { ...job, download: files }, human: [...describeJob(job), ...describeDownload(files)] };
}

export function requestOptions(command: Command): Command {
  return command
    .requiredOption("--model <file>", "a model's file id, or a local .onnx file to upload")
    .requiredOption("--dataset <file>", "a dataset's file id, or a local file to upload")
    .requiredOption("--spec <path>", "the training spec, JSON (as `veritrain train --spec` takes)")
    .option("--verification <level>", "basic, standard or thorough (API default: basic)")
    .option("--max-price <usd>", "refuse a price above this many dollars, e.g. 2.50")
    .option("--json", "print one JSON document");
}

export function registerJobsCommands(program: Command): void {
  const jobs = program.command("jobs").description("Training jobs on the service");

  requestOptions(jobs.command("quote").description("Price a job without creating it")).action(
    (flags: RequestFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        const quote = await vt.trainingJobs.quote(await jobRequest(vt, flags));
        return { json: quote, human: describeQuote(quote) };
      }),
  );

  startOption(requestOptions(jobs.command("create").description("Quote, confirm, and create a job")))
    .option("-y, --yes", "create without asking")
    .option("--wait", "follow the job to its end, then download and verify the model")
    .option("--out <path>", "with --wait: where to write the model (default <job id>.onnx)")
    .option("--receipt <path>", "with --wait: where to write the receipt (default <job id>.receipt.json)")
    .action((flags: CreateFlags) => answer(flags, () => createJob(flags)));

  jobs
    .command("list")
    .description("Jobs, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this job id")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags & { limit: string; after?: string }) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).trainingJobs.list({
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((j) => [
          j.id,
          j.status,
          `${j.steps_completed}/${j.total_steps}`,
          dollars(j.price.charged_cents ?? j.price.reserved_cents),
          j.created_at,
        ]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No jobs."
              : table([["ID", "STATUS", "STEPS", "PRICE", "CREATED"], ...rows]),
        };
      }),
    );

  jobs
    .command("get <id>")
    .description("One job")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const job = await (await authenticatedClient()).trainingJobs.get(id);
        return { json: job, human: describeJob(job) };
      }),
    );

  jobs
    .command("watch <id>")
    .description("Follow a job's progress to its end; exits 5 unless it succeeds")
    .option("--json", "print the finished job as one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        const job = await follow(vt, await vt.trainingJobs.get(id), flags.json === true);
        return { json: job, human: describeJob(job), exitCode: endedWell(job) };
      }),
    );

  jobs
    .command("cancel <id>")
    .description("Cancel a queued or running job; its reserved credits are released")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const job = await (await authenticatedClient()).trainingJobs.cancel(id);
        return { json: job, human: describeJob(job) };
      }),
    );

  jobs
    .command("download <id>")
    .description(
      "Download a succeeded job's model and receipt; the receipt is verified before anything is written",
    )
    .option(
      "--format <format>",
      "onnx, or safetensors (the weights by initializer name, for PyTorch)",
      "onnx",
    )
    .option("--out <path>", "where to write the model (default <job id>.onnx)")
    .option("--receipt <path>", "where to write the receipt (default <job id>.receipt.json)")
    .option("--json", "print one JSON document")
    .action((id: string, flags: DownloadFlags) =>
      answer(flags, async () => {
        if (flags.format !== "onnx" && flags.format !== "safetensors") {
          throw new CliError("format_invalid", `--format must be onnx or safetensors, got '${flags.format}'`);
        }
        const format: ModelFormat = flags.format;
        const vt = await authenticatedClient();
        const files = await downloadVerified(vt, id, downloadPaths(id, flags, format), format);
        return { json: files, human: describeDownload(files) };
      }),
    );
}
