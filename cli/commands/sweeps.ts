// `veritrain sweeps quote|create|list|get|watch|cancel`: many jobs from one base request, as
// `jobs` makes one. `create` shows the sweep's price and asks before it spends anything; `watch`
// and `create --wait` show one line per job and end with the best job, exiting 5 when none succeeded.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type {
  SweepObjective,
  SweepObjectiveMetric,
  SweepQuote,
  TrainingSweep,
  TrainingSweepParams,
  Veritrain,
} from "../../sdk/src/index.ts";
import { authenticatedClient } from "../remote/client.ts";
import { type Answer, answer, CliError, dollars, EXIT, type OutputFlags, table } from "../remote/output.ts";
import { SweepWatcher, settingsText } from "../remote/progress.ts";
import {
  approvePrice,
  fileRef,
  initFromOf,
  jobRequest,
  type RequestFlags,
  requestOptions,
  type StartFlags,
  startOption,
} from "./jobs.ts";

interface SweepFlags extends RequestFlags {
  grid: string[];
  variants?: string;
  objective?: string;
}

interface CreateFlags extends SweepFlags, StartFlags {
  yes?: boolean;
  wait?: boolean;
}

const METRICS: readonly SweepObjectiveMetric[] = ["val_loss", "val_accuracy", "train_loss", "train_accuracy"];

/** A value as typed on the command line: JSON where it parses (0.01, true, "x"), else the text itself. */
function settingValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `--grid optimizer.lr=0.01,0.02` → ["optimizer.lr", [0.01, 0.02]]. */
function gridEntry(flag: string): [string, unknown[]] {
  const match = /^([^=]+)=(.+)$/.exec(flag);
  if (!match) {
    throw new CliError(
      "grid_invalid",
      `--grid takes KEY=VALUE,VALUE,... (e.g. optimizer.lr=0.01,0.02), got '${flag}'`,
    );
  }
  return [match[1]!.trim(), match[2]!.split(",").map((value) => settingValue(value.trim()))];
}

function objectiveOf(flag: string): SweepObjective {
  const [metric, goal] = flag.split(":");
  if (
    !METRICS.includes(metric as SweepObjectiveMetric) ||
    (goal !== undefined && !["min", "max"].includes(goal))
  ) {
    throw new CliError(
      "objective_invalid",
      `--objective takes METRIC[:min|max] with METRIC one of ${METRICS.join(", ")}, got '${flag}'`,
    );
  }
  return {
    metric: metric as SweepObjectiveMetric,
    ...(goal ? { goal: goal === "min" ? "minimize" : "maximize" } : {}),
  };
}

async function variantsFile(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new CliError("file_not_found", `${path} is not a readable file`);
  });
  try {
    const variants = JSON.parse(text) as unknown;
    if (Array.isArray(variants)) return variants as Array<Record<string, unknown>>;
  } catch {}
  throw new CliError(
    "variants_invalid",
    `${path} must hold a JSON array of settings, e.g. [{"optimizer.lr": 0.02}]`,
  );
}

async function sweepRequest(vt: Veritrain, flags: SweepFlags): Promise<TrainingSweepParams> {
  if ((flags.grid.length === 0) === (flags.variants === undefined)) {
    throw new CliError("sweep_invalid", "give --grid (repeatable) or --variants <file>, not both");
  }
  const base = await jobRequest(vt, flags);
  const quiet = flags.json === true;
  const objective = flags.objective === undefined ? {} : { objective: objectiveOf(flags.objective) };
  if (flags.variants !== undefined) {
    const variants = await variantsFile(flags.variants);
    for (const variant of variants) {
      if (typeof variant.model === "string") variant.model = await fileRef(vt, variant.model, "model", quiet);
    }
    return { ...base, variants, ...objective };
  }
  const grid: Record<string, unknown[]> = {};
  for (const [key, values] of flags.grid.map(gridEntry)) {
    // Alternative models may be local files, uploaded first as `jobs create --model` does.
    grid[key] =
      key === "model" ? await Promise.all(values.map((v) => fileRef(vt, String(v), "model", quiet))) : values;
  }
  return { ...base, grid, ...objective };
}

function describeQuote(quote: SweepQuote): string[] {
  const { price } = quote;
  return [
    `Quote: ${quote.job_count} jobs, ${quote.total_steps} steps, ${(quote.total_flops / 1e9).toFixed(2)} GFLOP in all`,
    ...quote.variants.map(
      (v) => `  ${settingsText(v.settings)}: ${v.total_steps} steps, ${dollars(v.price_cents)}`,
    ),
    `  price ${dollars(price.total_cents)} (compute ${dollars(price.compute_cents)}, verification ${dollars(price.verification_cents)}, fee ${dollars(price.platform_fee_cents)})`,
  ];
}

const objectiveText = (value: number | null) => (value === null ? "-" : value.toFixed(4));

export function describeBest(sweep: TrainingSweep): string {
  const { best, objective } = sweep;
  if (!best) return `best: none yet (no job has succeeded)`;
  return `best: ${best.id}  ${objective.metric} ${objectiveText(best.objective_value)}  (${settingsText(best.settings)})`;
}

function describeSweep(sweep: TrainingSweep): string[] {
  const counts = Object.entries(sweep.counts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(", ");
  return [
    `${sweep.id}  ${sweep.status}  ${sweep.job_count} jobs: ${counts}`,
    `  objective ${sweep.objective.metric} (${sweep.objective.goal}), verification ${sweep.verification}, created ${sweep.created_at}`,
    `  price: quoted ${dollars(sweep.price.quoted_cents)}, reserved ${dollars(sweep.price.reserved_cents)}, charged so far ${dollars(sweep.price.charged_cents)}`,
    ...table([
      ["JOB", "STATUS", "STEPS", sweep.objective.metric.toUpperCase(), "SETTINGS"],
      ...sweep.jobs.map((job) => [
        job.id,
        job.status,
        `${job.steps_completed}/${job.total_steps}`,
        objectiveText(job.objective_value),
        settingsText(job.settings),
      ]),
    ]).map((line) => `  ${line}`),
    describeBest(sweep),
  ];
}

/** Follows a sweep until every job has ended; the exit code says whether any succeeded. */
async function follow(vt: Veritrain, sweep: TrainingSweep, quiet: boolean): Promise<Answer> {
  const watcher = new SweepWatcher(sweep, quiet);
  let ended: TrainingSweep;
  try {
    ended = await vt.sweeps.waitFor(sweep.id, { onEvent: (event) => watcher.event(event) });
  } finally {
    watcher.stop();
  }
  return {
    json: ended,
    human: describeSweep(ended),
    exitCode: ended.counts.succeeded > 0 ? EXIT.ok : EXIT.jobFailed,
  };
}

async function createSweep(flags: CreateFlags): Promise<Answer> {
  const start = initFromOf(flags);
  const vt = await authenticatedClient();
  const request = await sweepRequest(vt, flags);
  const quote = await vt.sweeps.quote(request);
  const say = (lines: string[]) => flags.json || process.stderr.write(`${lines.join("\n")}\n`);
  say(describeQuote(quote));
  const what = `these ${quote.job_count} jobs`;
  const cap = await approvePrice(quote, quote.price.total_cents, request.max_price_cents, flags.yes, what);
  const created = await vt.sweeps.create({ ...request, ...start, max_price_cents: cap });
  say([
    `Created ${created.id}: ${created.job_count} jobs, ${dollars(created.price.reserved_cents)} reserved.`,
  ]);
  if (!flags.wait) return { json: created, human: describeSweep(created) };
  return follow(vt, created, flags.json === true);
}

function sweepOptions(command: Command): Command {
  return requestOptions(command)
    .option(
      "--grid <key=values>",
      "a setting and its values, comma-separated: optimizer.lr=0.01,0.02 (repeat for more; every combination is a job). " +
        "Keys are spec paths, or model (file ids or local .onnx files)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      "--variants <path>",
      'a JSON array of settings, one job each: [{"optimizer.lr": 0.02}, {"epochs": 3}]',
    )
    .option(
      "--objective <metric[:min|max]>",
      `what ranks the jobs: ${METRICS.join(", ")} (default val_loss)`,
    );
}

export function registerSweepsCommands(program: Command): void {
  const sweeps = program.command("sweeps").description("Sweeps: many training jobs from one base request");

  sweepOptions(sweeps.command("quote").description("Price a sweep without creating it")).action(
    (flags: SweepFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        const quote = await vt.sweeps.quote(await sweepRequest(vt, flags));
        return { json: quote, human: describeQuote(quote) };
      }),
  );

  startOption(sweepOptions(sweeps.command("create").description("Quote, confirm, and create a sweep's jobs")))
    .option("-y, --yes", "create without asking")
    .option("--wait", "follow every job to its end, one line each, then print the best")
    .action((flags: CreateFlags) => answer(flags, () => createSweep(flags)));

  sweeps
    .command("list")
    .description("Sweeps, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this sweep id")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags & { limit: string; after?: string }) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).sweeps.list({
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((s) => [
          s.id,
          s.status,
          `${s.counts.succeeded}/${s.job_count}`,
          s.best ? `${s.best.id} ${objectiveText(s.best.objective_value)}` : "-",
          dollars(s.price.charged_cents + s.price.reserved_cents),
          s.created_at,
        ]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No sweeps."
              : table([["ID", "STATUS", "SUCCEEDED", "BEST", "PRICE", "CREATED"], ...rows]),
        };
      }),
    );

  sweeps
    .command("get <id>")
    .description("One sweep: its jobs, their objective values, the best, the cost so far")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const sweep = await (await authenticatedClient()).sweeps.get(id);
        return { json: sweep, human: describeSweep(sweep) };
      }),
    );

  sweeps
    .command("watch <id>")
    .description("Follow every job of a sweep to its end; exits 5 when none succeeded")
    .option("--json", "print the ended sweep as one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        return follow(vt, await vt.sweeps.get(id), flags.json === true);
      }),
    );

  sweeps
    .command("cancel <id>")
    .description("Cancel the sweep's queued and running jobs; their reserved credits are released")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const sweep = await (await authenticatedClient()).sweeps.cancel(id);
        return { json: sweep, human: describeSweep(sweep) };
      }),
    );
}
