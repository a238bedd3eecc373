// What a worker hands over is checked against what the platform can derive itself, so a worker
// is paid only for evidence tied to the user's model: every checkpoint must decode as canonical
// bytes at its step with exactly the tensors of the run's initial state (names, data types,
// shapes); the initial checkpoint (leaf 0) must be the platform's own, a pure function of the
// user's model, dataset and spec; and the delivered model is the platform's derivation from the
// last checkpoint (protocol/model-weights.ts says how a user checks it offline).
import { Readable } from "node:stream";
import { CheckpointFormatError, decodeCheckpoint, type TrainingState } from "../../../protocol/checkpoint.ts";
import type { TrainingTask } from "../../../protocol/node-wire.ts";
import { specHash } from "../../../protocol/receipt.ts";
import { sha256Hex } from "../../../protocol/signed-messages.ts";
import type { Tensor } from "../../../protocol/tensor.ts";
import { deliveredModel, initialCheckpoint } from "../../../worker-runtime/train/trainer.ts";
import { ApiError } from "../../errors.ts";
import { ExpiringCache } from "../expiring-cache.ts";
import type { NodeBlobs } from "./blobs.ts";

interface InitialState {
  sha256: string;
  state: TrainingState;
}

async function readAll(content: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const layout = (tensors: Map<string, Tensor>) =>
  [...tensors].map(([name, t]) => `${name}: ${t.dtype} [${t.dims}]`);

function layoutDifference(
  part: "params" | "state",
  expected: TrainingState,
  found: TrainingState,
): string | null {
  const want = layout(expected[part]);
  const got = layout(found[part]);
  const missing = want.filter((entry) => !got.includes(entry));
  const extra = got.filter((entry) => !want.includes(entry));
  if (missing.length === 0 && extra.length === 0) return null;
  return `its ${part === "params" ? "parameters" : "optimizer state"} differ from the model's: expected ${missing.join("; ") || "nothing more"}, got ${extra.join("; ") || "nothing"}`;
}

export class TrainingEvidence {
  // Leaf 0 costs a model load and a graph build; a task's uploads all need it, so it is kept.
  private readonly initial = new ExpiringCache<Promise<InitialState>>(32, 60 * 60_000);

  constructor(private readonly blobs: NodeBlobs) {}

  async bytes(sha256: string): Promise<Uint8Array> {
    return readAll(await this.blobs.open(sha256));
  }

  /** The run's step-0 state as the platform computes it. */
  initialState(task: TrainingTask): Promise<InitialState> {
    const key = `${task.model_sha256}:${task.dataset_sha256}:${task.dataset_file_name}:${specHash(task.spec)}`;
    let pending = this.initial.get(key);
    if (!pending) {
      pending = this.computeInitial(task);
      pending.catch(() => this.initial.evict(key));
      this.initial.set(key, pending);
    }
    return pending;
  }

  private async computeInitial(task: TrainingTask): Promise<InitialState> {
    const [model, dataset] = await Promise.all([
      this.bytes(task.model_sha256),
      this.bytes(task.dataset_sha256),
    ]);
    const bytes = await initialCheckpoint(
      model,
      { bytes: dataset, fileName: task.dataset_file_name },
      task.spec,
    );
    return { sha256: sha256Hex(bytes), state: decodeCheckpoint(bytes) };
  }

  /** Refuses (400 checkpoint_invalid) a stored checkpoint that is not a state of this run at `step`. */
  async checkCheckpoint(task: TrainingTask, step: number, sha256: string): Promise<void> {
    const refuse = (why: string) =>
      ApiError.badRequest("checkpoint_invalid", `the checkpoint for step ${step} ${why}`, "step");
    let found: TrainingState;
    try {
      found = decodeCheckpoint(await this.bytes(sha256));
    } catch (error) {
      if (error instanceof CheckpointFormatError)
        throw refuse(`is not canonical checkpoint bytes: ${error.message}`);
      throw error;
    }
    if (found.step !== step) throw refuse(`says it was taken after step ${found.step}`);
    const initial = await this.initialState(task);
    if (step === 0 && sha256 !== initial.sha256) {
      throw refuse(
        `is not the run's initial state: its SHA-256 is ${sha256}, the platform computes ${initial.sha256}`,
      );
    }
    const difference =
      layoutDifference("params", initial.state, found) ?? layoutDifference("state", initial.state, found);
    if (difference) throw refuse(difference);
  }

  /** The model the run delivers from its last checkpoint, derived by the platform. */
  async deliveredModel(
    task: Pick<TrainingTask, "model_sha256">,
    lastCheckpointSha256: string,
  ): Promise<Uint8Array> {
    const [model, checkpoint] = await Promise.all([
      this.bytes(task.model_sha256),
      this.bytes(lastCheckpointSha256),
    ]);
    return deliveredModel(model, checkpoint);
  }

  /** Keeps the platform's derivation of the delivered model in the blob store; returns its SHA-256. */
  async keepDelivered(delivered: Uint8Array): Promise<string> {
    const sha256 = sha256Hex(delivered);
    if (!(await this.blobs.has(sha256))) await this.blobs.store("model", Readable.from([delivered]), sha256);
    return sha256;
  }
}
