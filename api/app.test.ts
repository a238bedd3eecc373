import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { Type } from "@sinclair/typebox";
import { createTestApp, type TestApp } from "../test/support/app.ts";
import { buildApp } from "./app.ts";
import { generateOpenApiDocuments } from "./openapi.ts";
import { StringEnum } from "./schemas/common.ts";

const up = async () => undefined;
let t: TestApp;
let app: Awaited<ReturnType<typeof buildApp>>;

before(async () => {
  t = await createTestApp();
  app = await buildApp({
    deps: { services: t.services, probes: { database: up, redis: up, chain: up }, rateLimits: t.rateLimits },
  });
  // A route declared like every resource route, to exercise validation and body parsing.
  app.post(
    "/v1/echo",
    {
      schema: {
        // Not part of the API: the document describes only what it serves.
        hide: true,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1 }),
            count: Type.Integer({ minimum: 1 }),
            mode: Type.Optional(StringEnum(["a", "b"])),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => request.body,
  );
  await app.ready();
});
after(async () => {
  await app.close();
  await t.close();
});

function errorOf(body: string) {
  const parsed = JSON.parse(body) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(parsed).sort(), ["error"]);
  assert.deepEqual(Object.keys(parsed.error).sort(), ["code", "message", "param", "type"]);
  return parsed.error;
}

test("an unknown route answers 404 in the error shape, naming the route", async () => {
  const res = await app.inject({ method: "GET", url: "/v1/nope?x=1" });
  assert.equal(res.statusCode, 404);
  const error = errorOf(res.body);
  assert.equal(error.type, "not_found_error");
  assert.equal(error.code, "route_not_found");
  assert.match(String(error.message), /GET \/v1\/nope/);
  assert.equal(error.param, null);
});

test("a missing field answers 400 naming the field", async () => {
  const res = await app.inject({ method: "POST", url: "/v1/echo", payload: { count: 2 } });
  assert.equal(res.statusCode, 400);
  const error = errorOf(res.body);
  assert.equal(error.type, "invalid_request_error");
  assert.equal(error.code, "parameter_invalid");
  assert.equal(error.param, "name");
  assert.match(String(error.message), /Missing required body field 'name'/);
});

test("a wrong type, an unknown field and an invalid enum each answer 400 with the param", async () => {
  const wrongType = await app.inject({
    method: "POST",
    url: "/v1/echo",
    payload: { name: "x", count: "many" },
  });
  assert.equal(wrongType.statusCode, 400);
  assert.equal(errorOf(wrongType.body).param, "count");

  const unknown = await app.inject({
    method: "POST",
    url: "/v1/echo",
    payload: { name: "x", count: 1, extra: true },
  });
  assert.equal(unknown.statusCode, 400);
  assert.equal(errorOf(unknown.body).param, "extra");

  const badEnum = await app.inject({
    method: "POST",
    url: "/v1/echo",
    payload: { name: "x", count: 1, mode: "c" },
  });
  assert.equal(badEnum.statusCode, 400);
  const error = errorOf(badEnum.body);
  assert.equal(error.param, "mode");
  assert.match(String(error.message), /"a", "b"/);
});

test("malformed JSON answers 400 invalid_json", async () => {
  const res = await app.inject({
    method: "POST",
    url: "/v1/echo",
    headers: { "content-type": "application/json" },
    payload: '{"name": "x", ',
  });
  assert.equal(res.statusCode, 400);
  assert.equal(errorOf(res.body).code, "invalid_json");
});

test("an unsupported content type answers 415", async () => {
  const res = await app.inject({
    method: "POST",
    url: "/v1/echo",
    headers: { "content-type": "application/x-unknown" },
    payload: "name=x",
  });
  assert.equal(res.statusCode, 415);
  assert.equal(errorOf(res.body).code, "unsupported_media_type");
});

test("every response carries a request id, and a caller's id is kept", async () => {
  const generated = await app.inject({ method: "GET", url: "/v1/health" });
  assert.match(String(generated.headers["x-request-id"]), /^req_[0-9a-f]{32}$/);
  const given = await app.inject({
    method: "GET",
    url: "/v1/health",
    headers: { "x-request-id": "trace-123" },
  });
  assert.equal(given.headers["x-request-id"], "trace-123");
});

test("the OpenAPI document is served and the committed openapi.yaml matches the routes", async () => {
  const res = await app.inject({ method: "GET", url: "/openapi.json" });
  assert.equal(res.statusCode, 200);
  assert.ok((JSON.parse(res.body) as { paths: Record<string, unknown> }).paths["/v1/health"]);
  const nodes = await app.inject({ method: "GET", url: "/openapi-nodes.json" });
  const nodePaths = Object.keys(nodes.json<{ paths: Record<string, unknown> }>().paths);
  // This process has no queues, hence no node gateway: its node document is served, empty.
  assert.equal(nodes.statusCode, 200);
  assert.ok(
    nodePaths.every((path) => path.startsWith("/v1/nodes/")),
    nodePaths.join(),
  );
  assert.ok(!Object.keys(res.json<{ paths: object }>().paths).some((path) => path.startsWith("/v1/nodes/")));
  const docs = await app.inject({ method: "GET", url: "/docs/" });
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /swagger/i);

  const generated = await generateOpenApiDocuments();
  for (const [file, text] of [
    ["openapi.yaml", generated.api],
    ["openapi-nodes.yaml", generated.nodes],
  ] as const) {
    const committed = readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
    assert.equal(committed, text, `${file} is stale: run \`npm run openapi\` and commit it`);
  }
});
