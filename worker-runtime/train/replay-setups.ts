// Run setups kept between segment replays. A verifier replays several segments of one task
// (audits, disputes), and each replay needs exactly the setup the worker builds once per task:
// the spec parsed, the data prepared, the step graphs compiled and their onnxruntime sessions
// created, which costs as much as replaying dozens of steps of a small model. So a setup is kept,
// idle, for the next replay of the same model, data, spec and options, and released after a
// while unused.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { type DatasetSource, type RunSetup, type SetUpOptions, setUpRun } from "./run-setup.ts";

/** How long an idle setup is kept, and how many are kept at most (the oldest is released first). */
const IDLE_MS = 60_000;
const MAX_IDLE = 2;

interface Idle {
  key: string;
  setup: RunSetup;
  timer: NodeJS.Timeout;
}

const idle: Idle[] = [];

function keyOf(model: Uint8Array, source: DatasetSource, spec: unknown, options: SetUpOptions): string {
  const hash = createHash("sha256");
  for (const part of [
    model,
    source.bytes,
    source.fileName,
    canonicalize(spec) ?? "",
    canonicalize(options)!,
  ]) {
    // Each part length-prefixed, so no two different tuples hash the same bytes.
    const bytes = typeof part === "string" ? Buffer.from(part, "utf8") : part;
    hash.update(`${bytes.byteLength}:`).update(bytes);
  }
  return hash.digest("hex");
}

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
  const key = keyOf(model, source, spec, options);
  const kept = idle.find((entry) => entry.key === key);
  if (kept) {
    idle.splice(idle.indexOf(kept), 1);
    clearTimeout(kept.timer);
  }
  const setup = kept?.setup ?? (await setUpRun(model, source, spec, options));
  try {
    return await work(setup);
  } finally {
    const entry: Idle = { key, setup, timer: setTimeout(() => evict(entry), IDLE_MS).unref() };
    idle.push(entry);
    while (idle.length > MAX_IDLE) evict(idle[0]!);
  }
}
