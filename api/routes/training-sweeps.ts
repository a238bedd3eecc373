import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import { eventsAnswer, JobEventsHeaders, JobEventsQuery } from "../schemas/training-jobs.ts";
import {
  SweepCreateRequest,
  SweepEventList,
  SweepEventStream,
  SweepParams,
  SweepQuote,
  SweepRequest,
  TrainingSweep,
  TrainingSweepList,
} from "../schemas/training-sweeps.ts";
import type { JobDispatcher } from "../services/job-dispatch.ts";
import { JOB_FINAL_EVENTS } from "../services/job-events.ts";
import type { StreamSlots } from "../services/stream-slots.ts";
import { MAX_SWEEP_VARIANTS } from "../services/sweep-variants.ts";
import type { Sweeps } from "../services/sweeps.ts";
import { answerEvents } from "./event-stream.ts";

export interface TrainingSweepRoutesOptions {
  sweeps: Sweeps;
  streams: StreamSlots;
  /** Absent in a process without the chain and the queues: its jobs wait for one that has them. */
  dispatcher: JobDispatcher | undefined;
}

const trainingSweepRoutes: FastifyPluginAsyncTypebox<TrainingSweepRoutesOptions> = async (
  app,
  { sweeps, streams, dispatcher },
) => {
  app.addHook("onRequest", app.authenticate);

  app.post(
    "/v1/training-jobs/sweeps/quote",
    {
      schema: {
        operationId: "quoteTrainingSweep",
        tags: ["training-sweeps"],
        summary: "Price a sweep without creating it: every job's quote, and their total",
        description: `Answers 400 invalid_sweep or sweep_too_large (more than ${MAX_SWEEP_VARIANTS} jobs) for the sweep's shape, and a job's own refusal (invalid_spec, ...) naming the job and the setting at fault.`,
        security: writeAccess,
        body: SweepRequest,
        response: {
          200: answer("The sweep's price", SweepQuote),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => sweeps.quote(request.auth.organizationId, request.body),
  );

  app.post(
    "/v1/training-jobs/sweeps",
    {
      config: { idempotency: true },
      schema: {
        operationId: "createTrainingSweep",
        tags: ["training-sweeps"],
        summary: "Create a sweep: one job per variant, all reserved from the balance at once or none",
        description:
          "A base job request and a `grid` (every combination of its values is a job) or a list of " +
          `\`variants\`, at most ${MAX_SWEEP_VARIANTS} jobs. Each job reserves its own price as a single job does; ` +
          "when the available balance is below their total the answer is 402 insufficient_credits and " +
          "nothing is created. `max_price_cents` caps the total. The jobs wait in line like any other.",
        security: writeAccess,
        body: SweepCreateRequest,
        response: {
          201: answer("The created sweep, its jobs queued", TrainingSweep),
          ...errorResponses(400, 401, 402, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const sweep = await sweeps.create(request.auth.organizationId, request.body);
      dispatcher?.drainLater((error) =>
        request.log.error({ err: error, sweep: sweep.id }, "dispatch failed"),
      );
      return reply.status(201).send(sweep);
    },
  );

  app.get(
    "/v1/training-jobs/sweeps",
    {
      schema: {
        operationId: "listTrainingSweeps",
        tags: ["training-sweeps"],
        summary: "List sweeps, newest first, each summarized",
        security: readAccess,
        querystring: ListQuery,
        response: { 200: answer("A page of sweeps", TrainingSweepList), ...errorResponses(400, 401) },
      },
    },
    async (request) => sweeps.list(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.get(
    "/v1/training-jobs/sweeps/:id",
    {
      schema: {
        operationId: "getTrainingSweep",
        tags: ["training-sweeps"],
        summary: "A sweep's summary: jobs by status, each job's objective value, the best job, cost so far",
        security: readAccess,
        params: SweepParams,
        response: { 200: answer("The sweep", TrainingSweep), ...errorResponses(401, 404) },
      },
    },
    async (request) => sweeps.get(request.auth.organizationId, request.params.id),
  );

  app.post(
    "/v1/training-jobs/sweeps/:id/cancel",
    {
      schema: {
        operationId: "cancelTrainingSweep",
        tags: ["training-sweeps"],
        summary: "Cancel the sweep's queued and running jobs; their reserved credits are released",
        description:
          "Jobs already being verified finish. Answers 409 sweep_not_cancellable when no job is queued or running.",
        security: writeAccess,
        params: SweepParams,
        response: { 200: answer("The sweep", TrainingSweep), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => sweeps.cancel(request.auth.organizationId, request.params.id),
  );

  app.get(
    "/v1/training-jobs/sweeps/:id/events",
    {
      schema: {
        operationId: "listTrainingSweepEvents",
        tags: ["training-sweeps"],
        summary: "Every job's events in one list, or a live stream with Accept: text/event-stream",
        description:
          "The events of all the sweep's jobs in id order, each naming its `job`. With `Accept: " +
          "text/event-stream` the response is Server-Sent Events: past events after `after` (or " +
          "Last-Event-ID) first, then live ones; the stream ends once every job has ended.",
        security: readAccess,
        params: SweepParams,
        querystring: JobEventsQuery,
        headers: JobEventsHeaders,
        response: {
          200: eventsAnswer(SweepEventList, SweepEventStream),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const sweep = await sweeps.row(request.auth.organizationId, request.params.id);
      return answerEvents(
        request,
        reply,
        streams,
        {
          list: (afterId, limit) => sweeps.events(sweep.id, afterId, limit),
          subscribe: (listener) => sweeps.subscribe(sweep.id, listener),
          mayEnd: (event) => JOB_FINAL_EVENTS.has(event.type),
          ended: () => sweeps.ended(sweep.id),
        },
        request.query,
      );
    },
  );
};

export default trainingSweepRoutes;
