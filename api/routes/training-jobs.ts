import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.ts";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import {
  CheckpointList,
  CheckpointParams,
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
import type { JobEvents, JobEventView } from "../services/job-events.ts";
import type { Jobs } from "../services/jobs.ts";
import type { StreamSlots } from "../services/stream-slots.ts";

const TERMINAL_EVENTS = new Set(["job.succeeded", "job.failed", "job.cancelled"]);
const HEARTBEAT_MS = 15_000;

function sseFrame(event: JobEventView): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

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
          200: {
            "x-response-description":
              "The events after `after`: a JSON page, or with Accept: text/event-stream a stream of them",
            content: {
              "application/json": { schema: JobEventList },
              "text/event-stream": { schema: JobEventStream },
            },
          },
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const job = await jobs.row(request.auth.organizationId, request.params.id);
      const lastEventId = Number(request.headers["last-event-id"] ?? Number.NaN);
      const after = Number.isInteger(lastEventId) ? lastEventId : request.query.after;
      if (!String(request.headers.accept ?? "").includes("text/event-stream")) {
        const page = await events.list(job.id, after, request.query.limit + 1);
        return { data: page.slice(0, request.query.limit), has_more: page.length > request.query.limit };
      }
      return stream(request, reply, job.id, after);
    },
  );

  async function stream(request: FastifyRequest, reply: FastifyReply, jobId: string, after: number) {
    const { auth } = request;
    const taken = await streams.take(auth.apiKeyId ?? auth.sessionId ?? auth.organizationId);
    if (!taken) {
      throw new ApiError(
        429,
        "rate_limit_error",
        "rate_limited",
        `At most ${streams.maxPerCaller} event streams may be open per API key or session; close one first`,
      );
    }
    const slot = taken;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-request-id": request.id,
    });
    let lastSent = after;
    let ended = false;
    const send = (event: JobEventView) => {
      if (ended || event.id <= lastSent) return;
      lastSent = event.id;
      raw.write(sseFrame(event));
      if (TERMINAL_EVENTS.has(event.type)) end();
    };
    const heartbeat = setInterval(() => {
      raw.write(": keep-alive\n\n");
      slot.renew().catch(() => undefined);
    }, HEARTBEAT_MS);
    // Subscribe before reading the history, so an event recorded in between is not missed;
    // events seen twice are dropped by id.
    const buffered: JobEventView[] = [];
    let replaying = true;
    const unsubscribe = await events.subscribe(jobId, (event) => {
      if (replaying) buffered.push(event);
      else send(event);
    });
    function end() {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      void unsubscribe();
      slot.release().catch(() => undefined);
      raw.end();
    }
    raw.on("close", end);
    for (
      let page = await events.list(jobId, after, 500);
      page.length > 0;
      page = await events.list(jobId, lastSent, 500)
    ) {
      for (const event of page) send(event);
      if (ended) return;
    }
    replaying = false;
    for (const event of buffered.sort((a, b) => a.id - b.id)) send(event);
  }
};

export default trainingJobRoutes;
