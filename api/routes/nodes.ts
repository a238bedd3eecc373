// The node gateway: the only door untrusted nodes have into Veritrain. Every route is signed by
// the node's sr25519 key (api/plugins/node-auth.ts); the handlers only translate between the
// wire's snake_case and the gateway service, which validates and reports.
import type { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyReply } from "fastify";
import nodeAuth from "../plugins/node-auth.ts";
import { errorResponses } from "../schemas/common.ts";
import {
  Acknowledged,
  AuditClaimSchema,
  BlobParams,
  CheckpointParams,
  ClaimBody,
  CompleteBody,
  FailBody,
  LeaseParams,
  LeaseSchema,
  NodeAuthHeaders,
  NodeSchema,
  ProgressBody,
  RegisterBody,
  StoredCheckpoint,
  StoredModel,
  TrainingClaimSchema,
  UploadHeaders,
  VerdictBody,
} from "../schemas/nodes.ts";
import type { LeaseView, NodeGateway } from "../services/node-gateway.ts";

const tags = ["nodes"];
const AUTH_ERRORS = [400, 401, 403] as const;

function leaseJson(lease: LeaseView) {
  return {
    id: lease.id,
    expires_at: lease.expiresAt.toISOString(),
    heartbeat_interval_seconds: lease.heartbeatIntervalSeconds,
  };
}

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
  await app.register(nodeAuth, { gateway });

  app.post(
    "/v1/nodes/register",
    {
      schema: {
        tags,
        summary: "Register the signing node with its roles and determinism profile",
        headers: NodeAuthHeaders,
        body: RegisterBody,
        response: { 200: NodeSchema, ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request) => {
      const node = await gateway().register(
        request.nodeAddress,
        request.body.roles,
        request.body.profile_hash,
      );
      return {
        object: "node" as const,
        address: node.address,
        roles: node.roles,
        profile_hash: node.profileHash,
        registered_at: node.registeredAt.toISOString(),
      };
    },
  );

  app.post(
    "/v1/nodes/training-tasks/claim",
    {
      schema: {
        tags,
        summary: "Workers: lease the next training task (long poll; 204 when none came)",
        headers: NodeAuthHeaders,
        body: Type.Optional(ClaimBody),
        response: { 200: TrainingClaimSchema, 204: Type.Null(), ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request, reply) => {
      const waitSeconds = request.body?.wait_seconds ?? 20;
      const claim = await gateway().claimTraining(
        request.nodeAddress,
        waitSeconds * 1000,
        hangUpSignal(reply),
      );
      if (!claim) return reply.status(204).send(null);
      const { task } = claim;
      return {
        lease: leaseJson(claim.lease),
        attempt: claim.attempt,
        task: {
          task_id: task.taskId,
          model_sha256: task.modelSha256,
          dataset_sha256: task.datasetSha256,
          dataset_file_name: task.datasetFileName,
          spec: task.spec,
          total_steps: task.totalSteps,
          checkpoint_every: task.checkpointEvery,
          chain: task.chain && { chain_task_id: task.chain.chainTaskId, attempt: task.chain.attempt },
        },
        checkpoints: claim.checkpoints,
        resume_from: claim.resumeFrom,
      };
    },
  );

  app.post(
    "/v1/nodes/audits/claim",
    {
      schema: {
        tags,
        summary: "Verifiers: lease the next audit (long poll; 204 when none came)",
        headers: NodeAuthHeaders,
        body: Type.Optional(ClaimBody),
        response: { 200: AuditClaimSchema, 204: Type.Null(), ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request, reply) => {
      const waitSeconds = request.body?.wait_seconds ?? 20;
      const claim = await gateway().claimAudit(request.nodeAddress, waitSeconds * 1000, hangUpSignal(reply));
      if (!claim) return reply.status(204).send(null);
      const { audit } = claim;
      const proven = (c: typeof audit.from) => ({
        step: c.step,
        sha256: c.sha256,
        leaf_index: c.leafIndex,
        proof: c.proof,
      });
      return {
        lease: leaseJson(claim.lease),
        attempt: claim.attempt,
        audit: {
          task_id: audit.taskId,
          model_sha256: audit.modelSha256,
          dataset_sha256: audit.datasetSha256,
          dataset_file_name: audit.datasetFileName,
          spec: audit.spec,
          checkpoint_root: audit.checkpointRoot,
          tree_size: audit.treeSize,
          from: proven(audit.from),
          to: proven(audit.to),
          chain: audit.chain && {
            chain_task_id: audit.chain.chainTaskId,
            attempt: audit.chain.attempt,
            audit_index: audit.chain.auditIndex,
          },
        },
      };
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/heartbeat",
    {
      schema: {
        tags,
        summary: "Keep a lease; 409 lease_lost when it lapsed and the task went to another node",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        response: { 200: LeaseSchema, ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => leaseJson(await gateway().heartbeat(request.nodeAddress, request.params.lease)),
  );

  app.post(
    "/v1/nodes/leases/:lease/progress",
    {
      schema: {
        tags,
        summary: "Workers: report training progress (also renews the lease)",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: ProgressBody,
        response: { 200: LeaseSchema, ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => {
      const b = request.body;
      const lease = await gateway().progress(request.nodeAddress, request.params.lease, {
        step: b.step,
        totalSteps: b.total_steps,
        loss: b.loss,
        learningRate: b.learning_rate,
        stepsPerSecond: b.steps_per_second,
      });
      return leaseJson(lease);
    },
  );

  app.put(
    "/v1/nodes/leases/:lease/checkpoints/:step",
    {
      schema: {
        tags,
        summary: "Workers: upload the canonical checkpoint bytes of a step (application/octet-stream)",
        headers: UploadHeaders,
        params: CheckpointParams,
        response: { 201: StoredCheckpoint, ...errorResponses(...AUTH_ERRORS, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const stored = await gateway().storeCheckpoint(
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
        tags,
        summary: "Workers: upload the trained ONNX model (application/octet-stream) before completing",
        headers: UploadHeaders,
        params: LeaseParams,
        response: { 201: StoredModel, ...errorResponses(...AUTH_ERRORS, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const sha256 = request.headers["x-content-sha256"];
      await gateway().storeModel(request.nodeAddress, request.params.lease, sha256, request.body as Readable);
      return reply.status(201).send({ sha256 });
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/complete",
    {
      schema: {
        tags,
        summary: "Workers: finish a training task with the model, the Merkle commitment and its signature",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: CompleteBody,
        response: { 200: Acknowledged, ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => {
      const b = request.body;
      await gateway().complete(request.nodeAddress, request.params.lease, {
        modelSha256: b.model_sha256,
        checkpointRoot: b.checkpoint_root,
        leaves: b.leaves,
        metrics: b.metrics,
        commitmentSignature: b.commitment_signature,
      });
      return { status: "completed" as const };
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/verdict",
    {
      schema: {
        tags,
        summary: "Verifiers: report a signed audit verdict",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: VerdictBody,
        response: { 200: Acknowledged, ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => {
      await gateway().verdict(request.nodeAddress, request.params.lease, request.body);
      return { status: "completed" as const };
    },
  );

  app.post(
    "/v1/nodes/leases/:lease/fail",
    {
      schema: {
        tags,
        summary: "Give a task up; it is retried on another node while attempts remain",
        headers: NodeAuthHeaders,
        params: LeaseParams,
        body: FailBody,
        response: { 200: Acknowledged, ...errorResponses(...AUTH_ERRORS, 409) },
      },
    },
    async (request) => {
      const { retried } = await gateway().fail(
        request.nodeAddress,
        request.params.lease,
        request.body.reason,
      );
      return { status: retried ? ("retried" as const) : ("failed" as const) };
    },
  );

  app.get(
    "/v1/nodes/blobs/:sha256",
    {
      schema: {
        tags,
        summary: "Download a model, dataset or checkpoint by its SHA-256",
        headers: NodeAuthHeaders,
        params: BlobParams,
        response: {
          200: Type.Unsafe({ type: "string", format: "binary" }),
          ...errorResponses(...AUTH_ERRORS, 404),
        },
      },
    },
    async (request, reply) => {
      const content = await gateway().openBlob(request.params.sha256);
      return reply
        .type("application/octet-stream")
        .header("etag", `"${request.params.sha256}"`)
        .send(content);
    },
  );
};

export default nodeRoutes;
