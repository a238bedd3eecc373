import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import {
  CheckpointList,
  CheckpointParams,
  eventsAnswer,
  JobCreateRequest,
  JobEventList,
  JobEventStream,
  JobEventsHeaders,
  JobEventsQuery,
  JobParams,
  JobRequest,
  ModelQuery,
  QuoteResponse,
  ReceiptSchema,
  TrainingJob,
  TrainingJobList,
} from "../schemas/training-jobs.ts";
import type { JobDispatcher } from "../services/job-dispatch.ts";
import { JOB_FINAL_EVENTS, type JobEvents } from "../services/job-events.ts";
import { TERMINAL } from "../services/job-settlement.ts";
import type { Jobs } from "../services/jobs.ts";
import type { StreamSlots } from "../services/stream-slots.ts";
import { answerEvents } from "./event-stream.ts";

export interface TrainingJobRoutesOptions {
  jobs: Jobs;
  events: JobEvents;
  /** Bounds the event streams each caller holds open. */
  streams: StreamSlots;
  /** Absent in a process without the chain and the queues: its jobs wait for one that has them. */
  dispatcher: JobDispatcher | undefined;
}

const trainingJobRoutes: FastifyPluginAsyncTypebox<TrainingJobRoutesOptions> = async (
  app,
  { jobs, events, streams, dispatcher },
) => {
  app.addHook("onRequest", app.authenticate);

  app.post(
    "/v1/training-jobs/quote",
    {
      schema: {
        operationId: "quoteTrainingJob",
        tags: ["training-jobs"],
        summary: "Price a training job without creating it",
        security: writeAccess,
        body: JobRequest,
        response: {
          200: answer("The price and plan of the job", QuoteResponse),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => jobs.quote(request.auth.organizationId, request.body),
  );

  app.post(
    "/v1/training-jobs",
    {
      config: { idempotency: true },
      schema: {
        operationId: "createTrainingJob",
        tags: ["training-jobs"],
        summary: "Create a training job: reserves its price from the balance and queues it",
        description:
          "Answers 402 insufficient_credits when the available balance is below the price, and 402 " +
          "balance_negative while a refund or dispute has left the balance below zero. The job " +
          "starts `queued`; follow it with GET /v1/training-jobs/{id}/events.",
        security: writeAccess,
        body: JobCreateRequest,
        response: {
          201: answer("The created job, queued", TrainingJob),
          ...errorResponses(400, 401, 402, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const job = await jobs.create(request.auth.organizationId, request.body);
      dispatcher?.drainLater((error) => request.log.error({ err: error, job: job.id }, "dispatch failed"));
      return reply.status(201).send(job);
    },
  );

  app.get(
    "/v1/training-jobs",
    {
      schema: {
        operationId: "listTrainingJobs",
        tags: ["training-jobs"],
        summary: "List training jobs, newest first",
        security: readAccess,
        querystring: ListQuery,
        response: { 200: answer("A page of training jobs", TrainingJobList), ...errorResponses(400, 401) },
      },
    },
    async (request) => jobs.list(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.get(
    "/v1/training-jobs/:id",
    {
      schema: {
        operationId: "getTrainingJob",
        tags: ["training-jobs"],
        summary: "Retrieve a training job",
        security: readAccess,
        params: JobParams,
        response: { 200: answer("The training job", TrainingJob), ...errorResponses(401, 404) },
      },
    },
    async (request) => jobs.get(request.auth.organizationId, request.params.id),
  );

  app.post(
    "/v1/training-jobs/:id/cancel",
    {
      schema: {
        operationId: "cancelTrainingJob",
        tags: ["training-jobs"],
        summary:
          "Cancel a queued or running job: charged for the steps of the checkpoints stored so far, the rest of its reserved credits released",
        security: writeAccess,
        params: JobParams,
        response: { 200: answer("The cancelled job", TrainingJob), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => jobs.cancel(request.auth.organizationId, request.params.id),
  );

  app.get(
    "/v1/training-jobs/:id/checkpoints",
    {
      schema: {
        operationId: "listTrainingJobCheckpoints",
        tags: ["training-jobs"],
        summary: "The checkpoints stored so far: step and SHA-256 (the Merkle leaves of the receipt)",
        security: readAccess,
        params: JobParams,
        response: {
          200: answer("The checkpoints stored so far", CheckpointList),
          ...errorResponses(401, 404),
        },
      },
    },
    async (request) => ({ data: await jobs.checkpoints(request.auth.organizationId, request.params.id) }),
  );

  app.get(
    "/v1/training-jobs/:id/checkpoints/:step/content",
    {
      schema: {
        operationId: "downloadTrainingJobCheckpoint",
        tags: ["training-jobs"],
        summary: "Download one checkpoint's canonical bytes (a Merkle leaf of the receipt)",
        description:
          "Parameters, optimizer state, step and data-order state, as the worker stored them; " +
          "`X-Content-SHA256` is the leaf listed by GET /v1/training-jobs/{id}/checkpoints. Pass the " +
          "last one to the SDK's verifyReceipt as `finalCheckpoint` to check the model's weights.",
        security: readAccess,
        params: CheckpointParams,
        response: {
          200: {
            description: "The checkpoint",
            content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
          },
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const { id, step } = request.params;
      const checkpoint = await jobs.checkpointContent(request.auth.organizationId, id, step);
      return reply
        .header("content-type", "application/octet-stream")
        .header("content-disposition", `attachment; filename="${id}-step-${step}.ckpt"`)
        .header("x-content-sha256", checkpoint.sha256)
        .send(checkpoint.content);
    },
  );

  app.get(
    "/v1/training-jobs/:id/model",
    {
      schema: {
        operationId: "downloadTrainedModel",
        tags: ["training-jobs"],
        summary: "Download the trained model of a succeeded job, as ONNX or as safetensors",
        description:
          "ONNX (the default): the original graph with the trained weights as initializers; " +
          "`X-Content-SHA256` is the hash the receipt's `result.model_sha256` attests. " +
          "`format=safetensors`: the same weights keyed by their initializer names, for " +
          "`load_state_dict` in the PyTorch module the model was exported from; it is derived " +
          "from that ONNX model, so verify the receipt against the ONNX download.",
        security: readAccess,
        params: JobParams,
        querystring: ModelQuery,
        response: {
          200: {
            description: "The trained model",
            content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
          },
          ...errorResponses(401, 404, 409),
        },
      },
    },
    async (request, reply) => {
      if (request.query.format === "safetensors") {
        const weights = await jobs.trainedWeights(request.auth.organizationId, request.params.id);
        return reply
          .header("content-type", "application/octet-stream")
          .header("content-disposition", `attachment; filename="${request.params.id}.safetensors"`)
          .send(Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength));
      }
      const model = await jobs.trainedModel(request.auth.organizationId, request.params.id);
      return reply
        .header("content-type", "application/octet-stream")
        .header("content-disposition", `attachment; filename="${request.params.id}.onnx"`)
        .header("x-content-sha256", model.sha256)
        .send(model.content);
    },
  );

  app.get(
    "/v1/training-jobs/:id/receipt",
    {
      schema: {
        operationId: "getTrainingJobReceipt",
        tags: ["training-jobs"],
        summary: "The verification receipt of a succeeded job, signed by the platform",
        security: readAccess,
        params: JobParams,
        response: { 200: answer("The signed receipt", ReceiptSchema), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => jobs.receipt(request.auth.organizationId, request.params.id),
  );

  app.get(
    "/v1/training-jobs/:id/events",
    {
      schema: {
        operationId: "listTrainingJobEvents",
        tags: ["training-jobs"],
        summary: "The job's progress events: a JSON page, or a live stream with Accept: text/event-stream",
        description:
          "With `Accept: text/event-stream` the response is Server-Sent Events: past events after " +
          "`after` (or Last-Event-ID) first, then live ones; the stream ends after the job's final event.",
        security: readAccess,
        params: JobParams,
        querystring: JobEventsQuery,
        headers: JobEventsHeaders,
        response: {
          200: eventsAnswer(JobEventList, JobEventStream),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const { organizationId } = request.auth;
      const job = await jobs.row(organizationId, request.params.id);
      return answerEvents(
        request,
        reply,
        streams,
        {
          list: (afterId, limit) => events.list(job.id, afterId, limit),
          subscribe: (listener) => events.subscribe(job.id, listener),
          mayEnd: (event) => JOB_FINAL_EVENTS.has(event.type),
          ended: async () => TERMINAL.has((await jobs.row(organizationId, job.id)).status),
        },
        request.query,
      );
    },
  );
};

export default trainingJobRoutes;
