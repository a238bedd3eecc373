// A checkpoint directory: one file per checkpoint plus manifest.json, which records what the
// run was (model, dataset and spec hashes), the determinism profile, every checkpoint's
// SHA-256 and the Merkle root over them (protocol/merkle.ts, leaves = the 32-byte hashes in
// step order). Files are written to a temporary name and renamed, so a run killed at any
// moment leaves a manifest that only lists complete checkpoints.
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { merkleRoot } from "../../protocol/merkle.ts";
import { decodeCheckpoint, sha256Hex, type TrainingState } from "./checkpoint.ts";
import { TrainError } from "./errors.ts";
import type { EpochMetric, StepMetric, TallySnapshot } from "./metrics.ts";
import type { DeterminismProfile } from "./profile.ts";

export const MANIFEST_FORMAT = "veritrain.checkpoints/1";
const STEPS_FILE = "steps.jsonl";

/** A Merkle leaf of the run: the SHA-256 of the checkpoint bytes at `step`. */
export interface CheckpointLeaf {
  step: number;
  sha256: string;
}

export interface CheckpointRecord extends CheckpointLeaf {
  /** File name inside the checkpoint directory. */
  file: string;
  /** Sums of the epoch open at this checkpoint (null between epochs), for resumed metrics. */
  tally: TallySnapshot | null;
}

/**
 * Metrics history carried with the checkpoints (not hashed: it does not change the training).
 * Epochs live in the manifest; steps, which grow with the run, are appended to steps.jsonl.
 */
export interface MetricsHistory {
  steps: StepMetric[];
  epochs: EpochMetric[];
}

export interface RunIdentity {
  model_sha256: string;
  dataset_sha256: string;
  /** SHA-256 of the parsed spec as RFC 8785 canonical JSON. */
  spec_sha256: string;
  total_steps: number;
}

export interface CheckpointManifest extends RunIdentity {
  format: typeof MANIFEST_FORMAT;
  determinism_profile: DeterminismProfile;
  checkpoints: CheckpointRecord[];
  epochs: EpochMetric[];
  merkle_root: string;
  /** True once the final checkpoint, whose parameters are the delivered weights, is written. */
  complete: boolean;
}

export function checkpointsRoot(records: readonly CheckpointLeaf[]): string {
  return Buffer.from(merkleRoot(records.map((r) => Buffer.from(r.sha256, "hex")))).toString("hex");
}

function writeAtomically(path: string, bytes: Uint8Array | string): void {
  const temporary = `${path}.partial`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
}

export class CheckpointDir {
  private constructor(
    readonly dir: string,
    readonly manifest: CheckpointManifest,
  ) {}

  /**
   * Starts a manifest. When resuming, the checkpoints of the resumed run up to the resume step
   * are carried over (copied when the directories differ), so the Merkle tree covers the whole run.
   */
  static create(
    dir: string,
    identity: RunIdentity,
    profile: DeterminismProfile,
    resumeFrom?: { source: CheckpointDir; step: number },
  ): CheckpointDir {
    mkdirSync(dir, { recursive: true });
    const manifest: CheckpointManifest = {
      format: MANIFEST_FORMAT,
      ...identity,
      determinism_profile: profile,
      checkpoints: [],
      epochs: [],
      merkle_root: "",
      complete: false,
    };
    const store = new CheckpointDir(dir, manifest);
    const inherited = resumeFrom?.source.manifest.checkpoints.filter((r) => r.step <= resumeFrom.step) ?? [];
    for (const record of inherited) {
      const from = join(resumeFrom!.source.dir, record.file);
      if (sha256Hex(readFileSync(from)) !== record.sha256) {
        throw new TrainError("INVALID_CHECKPOINT", `${from} does not match its recorded SHA-256`);
      }
      if (resolve(resumeFrom!.source.dir) !== resolve(dir)) copyFileSync(from, join(dir, record.file));
      manifest.checkpoints.push(record);
    }
    const history = resumeFrom?.source.history(resumeFrom.step) ?? { steps: [], epochs: [] };
    manifest.epochs = history.epochs;
    writeAtomically(join(dir, STEPS_FILE), history.steps.map((m) => `${JSON.stringify(m)}\n`).join(""));
    return store;
  }

  static open(dir: string): CheckpointDir {
    let manifest: CheckpointManifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    } catch (error) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `${dir}: no readable manifest.json (${(error as Error).message})`,
      );
    }
    if (manifest.format !== MANIFEST_FORMAT || !Array.isArray(manifest.checkpoints)) {
      throw new TrainError("INVALID_CHECKPOINT", `${dir}/manifest.json is not a ${MANIFEST_FORMAT} manifest`);
    }
    return new CheckpointDir(dir, manifest);
  }

  /**
   * Writes the checkpoint bytes of `step`, appends the steps since the previous checkpoint to
   * steps.jsonl and records the epochs so far; returns the record.
   */
  add(
    step: number,
    bytes: Uint8Array,
    final: boolean,
    tally: TallySnapshot | null,
    progress: { newSteps: StepMetric[]; epochs: EpochMetric[] },
  ): CheckpointRecord {
    const file = `step-${String(step).padStart(9, "0")}.ckpt`;
    const record = { step, file, sha256: sha256Hex(bytes), tally };
    appendFileSync(
      join(this.dir, STEPS_FILE),
      progress.newSteps.map((m) => `${JSON.stringify(m)}\n`).join(""),
    );
    this.manifest.epochs = progress.epochs;
    writeAtomically(join(this.dir, record.file), bytes);
    const last = this.manifest.checkpoints.at(-1);
    // The final checkpoint can land on a regular checkpoint step; it is then the same bytes.
    if (last?.step !== step) this.manifest.checkpoints.push(record);
    this.manifest.merkle_root = checkpointsRoot(this.manifest.checkpoints);
    this.manifest.complete = final;
    writeAtomically(join(this.dir, "manifest.json"), `${JSON.stringify(this.manifest, null, 2)}\n`);
    return record;
  }

  /** The metrics as they stood at checkpoint `step`: what a run resumed there starts from. */
  history(step: number): MetricsHistory {
    const path = join(this.dir, STEPS_FILE);
    const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    // Lines past the last checkpoint (a crash between append and manifest) fall to the filter.
    const steps = lines.map((line): StepMetric => JSON.parse(line)).filter((m) => m.step <= step);
    return { steps, epochs: this.manifest.epochs.filter((e) => e.last_step <= step) };
  }

  /** The checkpoint at `step` (default: the latest), checked against its recorded hash. */
  read(step?: number): { record: CheckpointRecord; state: TrainingState; bytes: Uint8Array } {
    const records = this.manifest.checkpoints;
    const record = step === undefined ? records.at(-1) : records.find((r) => r.step === step);
    if (!record) {
      const steps = records.map((r) => r.step).join(", ") || "none";
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `${this.dir} has no checkpoint at step ${step}; it has: ${steps}`,
      );
    }
    const bytes = new Uint8Array(readFileSync(join(this.dir, record.file)));
    if (sha256Hex(bytes) !== record.sha256) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `${record.file} does not match its recorded SHA-256 ${record.sha256}`,
      );
    }
    return { record, state: decodeCheckpoint(bytes), bytes };
  }
}
