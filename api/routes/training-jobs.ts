import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorResponses, ListQuery } from "../schemas/common.ts";
import {
  CheckpointList,
  JobCreateRequest,
  JobEventList,
  JobEventsQuery,
  JobParams,
  JobRequest,
  QuoteResponse,
  ReceiptSchema,
  TrainingJob,
  TrainingJobList,
} from "../schemas/training-jobs.ts";
import type { JobDispatcher } from "../services/job-dispatch.ts";
import type { JobEvents, JobEventView } from "../services/job-events.ts";
import type { Jobs } from "../services/jobs.ts";

const TERMINAL_EVENTS = new Set(["job.succeeded", "job.failed", "job.cancelled"]);
const HEARTBEAT_MS = 15_000;

function sseFrame(event: JobEventView): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export interface TrainingJobRoutesOptions {
  jobs: Jobs;
  events: JobEvents;
  /** Absent in a process without the chain and the queues: its jobs wait for one that has them. */
  dispatcher: JobDispatcher | undefined;
}

const trainingJobRoutes: FastifyPluginAsyncTypebox<TrainingJobRoutesOptions> = async (
  app,
  { jobs, events, dispatcher },
) => {
  app.addHook("onRequest", app.authenticate);

  app.post(
    "/v1/training-jobs/quote",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "Price a training job without creating it",
        security: [{ apiKey: [] }],
        body: JobRequest,
        response: { 200: QuoteResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => jobs.quote(request.auth.organizationId, request.body),
  );

  app.post(
    "/v1/training-jobs",
    {
      config: { idempotency: true },
      schema: {
        tags: ["training-jobs"],
        summary: "Create a training job: reserves its price from the balance and queues it",
        description:
          "Answers 402 insufficient_credits when the available balance is below the price. The job " +
          "starts `queued`; follow it with GET /v1/training-jobs/{id}/events.",
        security: [{ apiKey: [] }],
        body: JobCreateRequest,
        response: { 201: TrainingJob, ...errorResponses(400, 401, 402, 404, 409) },
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
        tags: ["training-jobs"],
        summary: "List training jobs, newest first",
        security: [{ apiKey: [] }],
        querystring: ListQuery,
        response: { 200: TrainingJobList, ...errorResponses(400, 401) },
      },
    },
    async (request) => jobs.list(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.get(
    "/v1/training-jobs/:id",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "Retrieve a training job",
        security: [{ apiKey: [] }],
        params: JobParams,
        response: { 200: TrainingJob, ...errorResponses(401, 404) },
      },
    },
    async (request) => jobs.get(request.auth.organizationId, request.params.id),
  );

  app.post(
    "/v1/training-jobs/:id/cancel",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "Cancel a queued or running job; its reserved credits are released",
        security: [{ apiKey: [] }],
        params: JobParams,
        response: { 200: TrainingJob, ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => jobs.cancel(request.auth.organizationId, request.params.id),
  );

  app.get(
    "/v1/training-jobs/:id/checkpoints",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "The checkpoints stored so far: step and SHA-256 (the Merkle leaves of the receipt)",
        security: [{ apiKey: [] }],
        params: JobParams,
        response: { 200: CheckpointList, ...errorResponses(401, 404) },
      },
    },
    async (request) => ({ data: await jobs.checkpoints(request.auth.organizationId, request.params.id) }),
  );

  app.get(
    "/v1/training-jobs/:id/model",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "Download the trained ONNX model of a succeeded job",
        description:
          "The original graph with the trained weights as initializers. `X-Content-SHA256` is the " +
          "hash the receipt's `result.model_sha256` attests.",
        security: [{ apiKey: [] }],
        params: JobParams,
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
        tags: ["training-jobs"],
        summary: "The verification receipt of a succeeded job, signed by the platform",
        security: [{ apiKey: [] }],
        params: JobParams,
        response: { 200: ReceiptSchema, ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => jobs.receipt(request.auth.organizationId, request.params.id),
  );

  app.get(
    "/v1/training-jobs/:id/events",
    {
      schema: {
        tags: ["training-jobs"],
        summary: "The job's progress events: a JSON page, or a live stream with Accept: text/event-stream",
        description:
          "With `Accept: text/event-stream` the response is Server-Sent Events: past events after " +
          "`after` (or Last-Event-ID) first, then live ones; the stream ends after the job's final event.",
        security: [{ apiKey: [] }],
        params: JobParams,
        querystring: JobEventsQuery,
        response: { 200: JobEventList, ...errorResponses(400, 401, 404) },
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
    const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), HEARTBEAT_MS);
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
