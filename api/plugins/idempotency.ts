// `Idempotency-Key` for POSTs that create something. A route opts in with
// `config: { idempotency: true }` (after `app.authenticate`, since keys are per organization).
// The first request claims the key with a fingerprint of itself; its 2xx response is stored and
// replayed to retries with `Idempotent-Replayed: true`. A retry with another body, or one that
// arrives while the first is still running, answers 409. An error response releases the key:
// by the API's rule an error wrote nothing, so the retry must be free to run again. A service
// that records the response inside its own transaction (`request.idempotency.recordIn(tx, ...)`)
// makes the effect and the stored response atomic; such a record is kept even if the request
// fails after the commit, so the retry replays it.
import { createHash } from "node:crypto";
import { type TSchema, Type } from "@sinclair/typebox";
import canonicalize from "canonicalize";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import { ApiError } from "../errors.ts";
import { IdempotencyClaim, type IdempotencyRecords, KEY_LIFETIME_HOURS } from "../services/idempotency.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The Idempotency-Key this request claimed, on idempotent routes that received one. */
    idempotency: IdempotencyClaim | null;
  }
  interface FastifyContextConfig {
    /** Accept `Idempotency-Key` on this route (it must also use `app.authenticate`). */
    idempotency?: boolean;
  }
}

const HEADER = "idempotency-key";

const KeyHeader = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: "^[\\x21-\\x7e]+$",
  description: `A unique client-chosen key (printable ASCII, at most 255): retries with the same key and body replay the first response for ${KEY_LIFETIME_HOURS} hours`,
});

function fingerprint(request: FastifyRequest): string {
  const canonical =
    canonicalize({ method: request.method, url: request.url, body: request.body ?? null }) ?? "";
  return createHash("sha256").update(canonical).digest("hex");
}

function withKeyHeader(headers: unknown): TSchema {
  const existing = headers as { type?: string; properties?: Record<string, TSchema> } | undefined;
  if (existing?.type === "object") {
    return { ...existing, properties: { ...existing.properties, [HEADER]: KeyHeader } } as unknown as TSchema;
  }
  return Type.Object({ [HEADER]: Type.Optional(KeyHeader) });
}

function asArray<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

export default fp(
  async (app: FastifyInstance, { records }: { records: IdempotencyRecords }) => {
    app.decorateRequest("idempotency", null);

    async function claimOrReplay(request: FastifyRequest, reply: FastifyReply) {
      const key = request.headers[HEADER];
      if (typeof key !== "string") return;
      if (!request.auth)
        throw new Error(`${request.routeOptions.url}: idempotency needs app.authenticate first`);
      const { organizationId } = request.auth;
      const result = await records.claim(organizationId, key, fingerprint(request));
      switch (result.kind) {
        case "claimed":
          request.idempotency = new IdempotencyClaim(organizationId, key, records);
          return;
        case "different_request":
          throw new ApiError(
            409,
            "idempotency_error",
            "idempotency_key_reused",
            `The Idempotency-Key '${key}' was used with a different request; use a new key for a new request`,
            HEADER,
          );
        case "in_progress":
          throw new ApiError(
            409,
            "idempotency_error",
            "idempotency_request_in_progress",
            `A request with the Idempotency-Key '${key}' is still being processed; retry once it has finished`,
            HEADER,
          );
        case "completed":
          return reply.status(result.statusCode).header("idempotent-replayed", "true").send(result.body);
      }
    }

    async function recordOrRelease(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
      const claim = request.idempotency;
      if (!claim || claim.recorded) return payload;
      if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === "string") {
        await records.complete(claim.organizationId, claim.key, reply.statusCode, JSON.parse(payload));
      } else {
        await records.release(claim.organizationId, claim.key);
      }
      return payload;
    }

    app.addHook("onRoute", (route: RouteOptions) => {
      if (!route.config?.idempotency) return;
      route.schema = { ...route.schema, headers: withKeyHeader(route.schema?.headers) };
      route.preHandler = [...asArray(route.preHandler), claimOrReplay];
      route.onSend = [...asArray(route.onSend), recordOrRelease];
    });
  },
  { name: "idempotency", dependencies: ["auth"] },
);
