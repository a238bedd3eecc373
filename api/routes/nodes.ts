// The node gateway: the only door untrusted nodes have into Veritrain. Every route is signed by
// the node's sr25519 key (api/plugins/node-auth.ts); the gateway's services (api/services/nodes/)
// speak the wire format (protocol/node-wire.ts), validate and report, so the handlers only hand
// them the request.
import type { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyReply } from "fastify";
import nodeAuth from "../plugins/node-auth.ts";
import { answer, errorResponses } from "../schemas/common.ts";
import {
  Acknowledged,
  AuditClaimSchema,
  AuditedSegmentParams,
  AuditTaskSchema,
  BlobParams,
  CheckpointParams,
  ClaimBody,
  CompleteBody,
  DeliveryCheckpointParams,
  DeliveryParams,
  DeliveryRecordSchema,
  DisputeEvidenceList,
  DisputeEvidenceRefSchema,
  DisputeParams,
  FailBody,
  LeaseParams,
  LeaseSchema,
  NodeAuthHeaders,
  NodeSchema,
  ProgressBody,
  PublishedTranscriptSchema,
  RegisterBody,
  StoredCheckpoint,
  StoredModel,
  TrainingClaimSchema,
  UploadHeaders,
  VerdictBody,
} from "../schemas/nodes.ts";
import type { NodeGateway } from "../services/index.ts";

const tags = ["nodes"];
const AUTH_ERRORS = [400, 401, 403] as const;

/** Aborts a long poll when the node hangs up, so its claim does not take a task nobody receives. */
function hangUpSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

const nodeRoutes: FastifyPluginAsyncTypebox<{ gateway: NodeGateway }> = async (app, options) => {
  const gateway = () => options.gateway;
  await app.register(nodeAuth, { authenticator: () => options.gateway.authenticator });

  app.post(
    "/v1/nodes/register",
    {
      schema: {
        operationId: "registerNode",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Register the signing node with its roles and determinism profile",
        headers: NodeAuthHeaders,
        body: RegisterBody,
        response: { 200: answer("The registered node", NodeSchema), ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request) => gateway().registry.register(request.nodeAddress, request.body),
  );

  app.post(
    "/v1/nodes/training-tasks/claim",
    {
      schema: {
        operationId: "claimTrainingTask",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Workers: lease the next training task (long poll; 204 when none came)",
        headers: NodeAuthHeaders,
        body: Type.Optional(ClaimBody),
        response: {
          200: answer("A lease on a training task", TrainingClaimSchema),
          204: answer("No task came before the poll ended: claim again", Type.Null()),
          ...errorResponses(...AUTH_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const claim = await gateway().trainingTasks.claim(
        request.nodeAddress,
        request.body,
        hangUpSignal(reply),
      );
      return claim ?? reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/nodes/audits/claim",
    {
      schema: {
        operationId: "claimAudit",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Verifiers: lease the next audit (long poll; 204 when none came)",
        headers: NodeAuthHeaders,
        body: Type.Optional(ClaimBody),
        response: {
          200: answer("A lease on an audit", AuditClaimSchema),
          204: answer("No task came before the poll ended: claim again", Type.Null()),
          ...errorResponses(...AUTH_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const claim = await gateway().audits.claim(request.nodeAddress, request.body, hangUpSignal(reply));
      return claim ?? reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/heartbeat",
    {
      schema: {
        operationId: "heartbeatLease",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Keep a lease; 409 lease_lost when it lapsed and the task went to another node",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        response: { 200: answer("The renewed lease", LeaseSchema), ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => gateway().leases.heartbeat(request.nodeAddress, request.params.lease),
  );

  app.post(
    "/v1/nodes/leases/:lease/progress",
    {
      schema: {
        operationId: "reportProgress",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Workers: report training progress (also renews the lease)",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: ProgressBody,
        response: { 200: answer("The renewed lease", LeaseSchema), ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) =>
      gateway().trainingTasks.progress(request.nodeAddress, request.params.lease, request.body),
  );

  app.put(
    "/v1/nodes/leases/:lease/checkpoints/:step",
    {
      schema: {
        operationId: "storeCheckpoint",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Workers: upload the canonical checkpoint bytes of a step (application/octet-stream)",
        headers: UploadHeaders,
        params: CheckpointParams,
        response: {
          201: answer("The stored checkpoint", StoredCheckpoint),
          ...errorResponses(...AUTH_ERRORS, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const stored = await gateway().trainingTasks.storeCheckpoint(
        request.nodeAddress,
        request.params.lease,
        request.params.step,
        request.headers["x-content-sha256"],
        request.body as Readable,
      );
      return reply.status(201).send(stored);
    },
  );

  app.put(
    "/v1/nodes/leases/:lease/model",
    {
      schema: {
        operationId: "storeTrainedModel",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Workers: upload the trained ONNX model (application/octet-stream) before completing",
        headers: UploadHeaders,
        params: LeaseParams,
        response: {
          201: answer("The stored model", StoredModel),
          ...errorResponses(...AUTH_ERRORS, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const stored = await gateway().trainingTasks.storeModel(
        request.nodeAddress,
        request.params.lease,
        request.headers["x-content-sha256"],
        request.body as Readable,
      );
      return reply.status(201).send(stored);
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/complete",
    {
      schema: {
        operationId: "completeTrainingTask",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Workers: finish a training task with the model, the Merkle commitment and its signature",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: CompleteBody,
        response: {
          200: answer("The completion was recorded", Acknowledged),
          ...errorResponses(...AUTH_ERRORS, 409),
        },
      },
    },
    async (request) =>
      gateway().trainingTasks.complete(request.nodeAddress, request.params.lease, request.body),
  );

  app.post(
    "/v1/nodes/leases/:lease/verdict",
    {
      schema: {
        operationId: "submitVerdict",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Verifiers: report a signed audit verdict",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: VerdictBody,
        response: {
          200: answer("The verdict was recorded", Acknowledged),
          ...errorResponses(...AUTH_ERRORS, 409),
        },
      },
    },
    async (request) => gateway().audits.verdict(request.nodeAddress, request.params.lease, request.body),
  );

  app.post(
    "/v1/nodes/leases/:lease/fail",
    {
      schema: {
        operationId: "failLease",
        security: [{ nodeSignature: [] }],
        tags,
        summary: "Give a task up; it is retried on another node while attempts remain",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: FailBody,
        response: {
          200: answer("The failure was recorded", Acknowledged),
          ...errorResponses(...AUTH_ERRORS, 409),
        },
      },
    },
    async (request) => gateway().leases.fail(request.nodeAddress, request.params.lease, request.body),
  );

  app.put(
    "/v1/nodes/disputes/:chainDisputeId/evidence",
    {
      schema: {
        operationId: "storeDisputeEvidence",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "Dispute parties: upload the evidence bundle of the node the pinpoint game narrowed to (application/octet-stream), for the referee",
        headers: UploadHeaders,
        params: DisputeParams,
        response: {
          201: answer("The stored bundle", DisputeEvidenceRefSchema),
          ...errorResponses(...AUTH_ERRORS, 404, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const stored = await gateway().disputeEvidence.store(
        request.nodeAddress,
        BigInt(request.params.chainDisputeId),
        request.headers["x-content-sha256"],
        request.body as Readable,
      );
      return reply.status(201).send(stored);
    },
  );

  app.get(
    "/v1/nodes/disputes/:chainDisputeId/evidence",
    {
      schema: {
        operationId: "listDisputeEvidence",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "The referee (operator key), or a party while the dispute is open: the bundles uploaded for a dispute; download each by its SHA-256",
        headers: NodeAuthHeaders,
        params: DisputeParams,
        response: {
          200: answer("The dispute's bundles, by party", DisputeEvidenceList),
          ...errorResponses(...AUTH_ERRORS, 404, 503),
        },
      },
    },
    async (request) => ({
      data: await gateway().disputeEvidence.list(request.nodeAddress, BigInt(request.params.chainDisputeId)),
    }),
  );

  app.get(
    "/v1/nodes/audited-segments/:chainTaskId/:auditIndex",
    {
      schema: {
        operationId: "readAuditedSegment",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "Whistleblowers: an audited segment whose verdict is in its challenge window, as its verifier got it; its blobs download until the window closes",
        headers: NodeAuthHeaders,
        params: AuditedSegmentParams,
        response: {
          200: answer("The audited segment", AuditTaskSchema),
          ...errorResponses(...AUTH_ERRORS, 503),
        },
      },
    },
    async (request) =>
      gateway().auditedSegments.read(
        request.nodeAddress,
        BigInt(request.params.chainTaskId),
        request.params.auditIndex,
      ),
  );

  app.put(
    "/v1/nodes/audits/:chainTaskId/:auditIndex/transcript",
    {
      schema: {
        operationId: "publishTranscript",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "The audit's verifier, once its verdict is on chain: publish the verdict's whole strided transcript (its n leaves of 32 bytes, concatenated, application/octet-stream), whose Merkle root must be the verdict's root",
        headers: UploadHeaders,
        params: AuditedSegmentParams,
        response: {
          201: answer("The published transcript", PublishedTranscriptSchema),
          ...errorResponses(...AUTH_ERRORS, 404, 409, 413, 415, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const published = await gateway().transcripts.publish(
        request.nodeAddress,
        BigInt(request.params.chainTaskId),
        request.params.auditIndex,
        request.headers["x-content-sha256"],
        request.body as Readable,
      );
      return reply.status(201).send(published);
    },
  );

  app.get(
    "/v1/nodes/audits/:chainTaskId/:auditIndex/transcript",
    {
      schema: {
        operationId: "readTranscript",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "Any registered node: the leaves the verifier published for the audit's verdict, to compare with its own replay leaf by leaf",
        headers: NodeAuthHeaders,
        params: AuditedSegmentParams,
        response: {
          200: answer("The published transcript", PublishedTranscriptSchema),
          ...errorResponses(...AUTH_ERRORS, 404, 409, 503),
        },
      },
    },
    async (request) =>
      gateway().transcripts.read(
        request.nodeAddress,
        BigInt(request.params.chainTaskId),
        request.params.auditIndex,
      ),
  );

  app.get(
    "/v1/nodes/deliveries/:chainTaskId",
    {
      schema: {
        operationId: "readDelivery",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "The referee (operator key): the checkpoints stored for a committed task and its model, to rule a delivery challenge; download each by its SHA-256",
        headers: NodeAuthHeaders,
        params: DeliveryParams,
        response: {
          200: answer("What the platform holds of the task", DeliveryRecordSchema),
          ...errorResponses(...AUTH_ERRORS, 404),
        },
      },
    },
    async (request) => gateway().deliveries.record(request.nodeAddress, BigInt(request.params.chainTaskId)),
  );

  app.put(
    "/v1/nodes/deliveries/:chainTaskId/checkpoints/:step",
    {
      schema: {
        operationId: "republishCheckpoint",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "A worker named in an open delivery challenge: republish a checkpoint it committed (application/octet-stream), for the referee",
        headers: UploadHeaders,
        params: DeliveryCheckpointParams,
        response: {
          201: answer("The stored checkpoint", StoredCheckpoint),
          ...errorResponses(...AUTH_ERRORS, 404, 409, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const stored = await gateway().deliveries.republish(
        request.nodeAddress,
        BigInt(request.params.chainTaskId),
        request.params.step,
        request.headers["x-content-sha256"],
        request.body as Readable,
      );
      return reply.status(201).send(stored);
    },
  );

  app.get(
    "/v1/nodes/blobs/:sha256",
    {
      schema: {
        operationId: "downloadBlob",
        security: [{ nodeSignature: [] }],
        tags,
        summary:
          "Download a model, dataset or checkpoint of work the node holds a live lease on, by its SHA-256",
        headers: NodeAuthHeaders,
        params: BlobParams,
        response: {
          200: answer("The blob's bytes", Type.Unsafe({ type: "string", format: "binary" })),
          ...errorResponses(...AUTH_ERRORS, 404),
        },
      },
    },
    async (request, reply) => {
      const content = await gateway().blobReads.open(request.nodeAddress, request.params.sha256);
      return reply
        .type("application/octet-stream")
        .header("etag", `"${request.params.sha256}"`)
        .send(content);
    },
  );
};

export default nodeRoutes;
