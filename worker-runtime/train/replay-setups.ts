// Run setups kept between segment replays. A verifier replays several segments of one task
// (audits, disputes), and each replay needs exactly the setup the worker builds once per task:
// the spec parsed, the data prepared, the step graphs compiled and their onnxruntime sessions
// created, which costs as much as replaying dozens of steps of a small model. So a setup is kept,
// idle, for the next replay of the same model, data, spec and options (compared byte for byte),
// and released after a while unused.
import canonicalize from "canonicalize";
import { type DatasetSource, type RunSetup, type SetUpOptions, setUpProbedRun } from "./run-setup.ts";

/** How long an idle setup is kept, and how many are kept at most (the oldest is released first). */
const IDLE_MS = 60_000;
const MAX_IDLE = 2;

/** What a setup was made from: model and data as private copies, spec and options canonical. */
interface Made {
  model: Buffer;
  dataset: Buffer;
  fileName: string;
  settings: string;
}

interface Idle {
  made: Made;
  setup: RunSetup;
  timer: NodeJS.Timeout;
}

const idle: Idle[] = [];

// Byte equality, not a digest: comparing is several times cheaper than hashing the same bytes.
const sameAs = (
  made: Made,
  wanted: Omit<Made, "model" | "dataset"> & { model: Uint8Array; dataset: Uint8Array },
) =>
  made.fileName === wanted.fileName &&
  made.settings === wanted.settings &&
  made.model.equals(wanted.model) &&
  made.dataset.equals(wanted.dataset);

function evict(entry: Idle): void {
  const at = idle.indexOf(entry);
  if (at >= 0) idle.splice(at, 1);
  clearTimeout(entry.timer);
  // A failed release leaves nothing to clean up that the process could reach anyway.
  entry.setup.engine.release().catch(() => {});
}

/**
 * Runs `work` with a setup for these arguments: an idle one kept from an earlier replay, or a new
 * one. The setup is exclusively `work`'s until it returns (its batch arrays are reused run to run),
 * then kept idle for the next caller.
 */
export async function withReplaySetup<T>(
  model: Uint8Array,
  source: DatasetSource,
  spec: unknown,
  options: SetUpOptions,
  work: (setup: RunSetup) => Promise<T>,
): Promise<T> {
  const wanted = {
    model,
    dataset: source.bytes,
    fileName: source.fileName,
    settings: `${canonicalize(spec) ?? ""}\n${canonicalize(options)}`,
  };
  const kept = idle.find((entry) => sameAs(entry.made, wanted));
  if (kept) {
    idle.splice(idle.indexOf(kept), 1);
    clearTimeout(kept.timer);
  }
  const made = kept?.made ?? { ...wanted, model: Buffer.from(model), dataset: Buffer.from(source.bytes) };
  const setup = kept?.setup ?? (await setUpProbedRun(model, source, spec, options));
  try {
    return await work(setup);
  } finally {
    const entry: Idle = { made, setup, timer: setTimeout(() => evict(entry), IDLE_MS).unref() };
    idle.push(entry);
    while (idle.length > MAX_IDLE) evict(idle[0]!);
  }
}
