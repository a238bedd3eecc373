// Starting a job from another job's checkpoint (`init_from`): the platform takes the weights of a
// checkpoint of one of the organization's succeeded jobs and writes them into the request's model,
// which must be the same graph (inputs, outputs, operators, parameters). The derived model is what
// the job trains and what its receipt names; the user's own model file is left as uploaded.
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import type { Database } from "../../prisma/client.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { deliveredModel } from "../../worker-runtime/train/trainer.ts";
import type { BlobStore } from "./blobs.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import type { ModelDetails } from "./inspection/model.ts";
import type { QuotedFile } from "./quotes.ts";

export class InitFromError extends DomainError<"init_from_invalid"> {}

export interface InitFromRequest {
  job: string;
  step?: number | undefined;
}

/** What a job started from a checkpoint records (`training_jobs.init_from`). */
export interface InitFromRecord {
  job: string;
  step: number;
  checkpoint_sha256: string;
  /** The request's model with the checkpoint's weights: what the job trains. */
  model_sha256: string;
}

/** The model a job trains: the derivation `init_from` recorded, else its model file as uploaded. */
export function startingModelSha256(job: { initFrom: unknown }, modelFile: { sha256: string }): string {
  return (job.initFrom as InitFromRecord | null)?.model_sha256 ?? modelFile.sha256;
}

// What must agree for a checkpoint of one model to be the weights of another.
const graphOf = ({ inputs, outputs, operators, parameters }: ModelDetails) =>
  JSON.stringify({ inputs, outputs, operators, parameters });

export class StartingWeights {
  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
  ) {}

  /** Derives and stores the model `request` asks to start from; refuses what cannot be its start. */
  async derive(organizationId: string, model: QuotedFile, request: InitFromRequest): Promise<InitFromRecord> {
    const refuse = (message: string, field = "init_from.job") =>
      new InitFromError("init_from_invalid", message, field);
    const source = await this.db.trainingJob.findFirst({ where: { id: request.job, organizationId } });
    if (!source) throw new NotFoundError("training job", request.job, "init_from.job");
    if (source.status !== "succeeded") {
      throw refuse(
        `job ${source.id} is ${source.status}: only a succeeded job's checkpoints were verified, so only those can start another job`,
      );
    }
    const sourceModel = await this.db.file.findUniqueOrThrow({ where: { id: source.modelFileId } });
    if (graphOf(sourceModel.details as unknown as ModelDetails) !== graphOf(model.details as ModelDetails)) {
      throw refuse(
        `model ${model.id} is not the graph job ${source.id} trained (${source.modelFileId}): a checkpoint's weights fit only a model with the same inputs, outputs, operators and parameters`,
        "model",
      );
    }
    // The checkpoints of the attempt that delivered the result; an earlier attempt's beyond its
    // resume point were never verified.
    const checkpoints = await this.db.checkpoint.findMany({
      where: { task: { jobId: source.id } },
      orderBy: [{ step: "asc" }, { task: { attempt: "desc" } }],
      distinct: ["step"],
    });
    const chosen =
      request.step === undefined ? checkpoints.at(-1) : checkpoints.find((c) => c.step === request.step);
    if (!chosen) {
      throw refuse(
        `job ${source.id} has no checkpoint at step ${request.step}; its checkpoints are at steps ${checkpoints.map((c) => c.step).join(", ")}`,
        "init_from.step",
      );
    }
    const [modelBytes, checkpointBytes] = await Promise.all([
      buffer(await this.blobs.read(model.sha256)),
      buffer(await this.blobs.read(chosen.sha256)),
    ]);
    const derived = deliveredModel(modelBytes, checkpointBytes);
    const sha256 = sha256Hex(derived);
    if (!(await this.blobs.has(sha256))) {
      const staged = await this.blobs.stage(Readable.from([derived]), derived.byteLength);
      try {
        await staged.commit();
      } finally {
        await staged.discard();
      }
    }
    return { job: source.id, step: chosen.step, checkpoint_sha256: chosen.sha256, model_sha256: sha256 };
  }
}
