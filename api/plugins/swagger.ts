// The OpenAPI documents are generated from the route schemas, so they cannot drift from the code;
// `npm run openapi` writes them to openapi.yaml and openapi-nodes.yaml, and a test keeps the
// committed copies current. Customers and node operators read different documents: the node
// gateway (/v1/nodes/...) is described in its own, served at /openapi-nodes.json.
import swagger, { type FastifyDynamicSwaggerOptions } from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { ErrorResponse } from "../schemas/common.ts";
import { SESSION_COOKIE } from "./auth.ts";
import { shapeDocument } from "./openapi-shape.ts";

const isNodeRoute = (url: string) => url.startsWith("/v1/nodes/");

type OpenApiOptions = NonNullable<FastifyDynamicSwaggerOptions["openapi"]>;

function documentOptions(
  decorator: "swagger" | "nodeSwagger",
  openapi: OpenApiOptions,
  describes: (url: string) => boolean,
): FastifyDynamicSwaggerOptions {
  return {
    decorator,
    openapi: {
      openapi: "3.1.0",
      servers: [{ url: "http://localhost:8080", description: "`veritrain up` on this machine" }],
      ...openapi,
    },
    transform: ({ schema, url }) => ({ schema: describes(url) ? schema : { ...schema, hide: true }, url }),
    // The document is plain JSON here; its OpenAPI typings do not survive the walk that reshapes it.
    transformObject: (document) =>
      shapeDocument(("openapiObject" in document ? document.openapiObject : {}) as Record<string, unknown>),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  };
}

const LICENSE = { name: "Apache-2.0", identifier: "Apache-2.0" };

export default fp(
  async (app: FastifyInstance) => {
    app.addSchema(ErrorResponse);
    await app.register(
      swagger,
      documentOptions(
        "swagger",
        {
          info: {
            title: "Veritrain API",
            version: "1.0.0",
            license: LICENSE,
            description:
              "Train ONNX models on untrusted hardware, paid by card, with a verification receipt. " +
              'Errors are {"error": {"type", "code", "message", "param"}}; lists are {"data": [...], "has_more"}. ' +
              "The node gateway, for node operators, has its own document: /openapi-nodes.json.",
          },
          components: {
            securitySchemes: {
              apiKey: { type: "http", scheme: "bearer", description: "An API key, vt_..." },
              session: {
                type: "apiKey",
                in: "cookie",
                name: SESSION_COOKIE,
                description: "The portal's session cookie, set by POST /v1/auth/login",
              },
              csrfToken: {
                type: "apiKey",
                in: "header",
                name: "X-CSRF-Token",
                description:
                  "With the session cookie, on every request that changes state: login's csrf_token",
              },
            },
          },
        },
        (url) => !isNodeRoute(url),
      ),
    );
    await app.register(
      swagger,
      documentOptions(
        "nodeSwagger",
        {
          info: {
            title: "Veritrain node gateway",
            version: "1.0.0",
            license: LICENSE,
            description:
              "What worker, verifier and whistleblower nodes call: every request is signed with the " +
              "node's sr25519 key (X-Node-Address, X-Node-Timestamp, X-Node-Nonce, X-Node-Signature).",
          },
          components: {
            securitySchemes: {
              nodeSignature: {
                type: "apiKey",
                in: "header",
                name: "X-Node-Signature",
                description:
                  'sr25519 over "veritrain/node-request/v1\\nMETHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256(body)", with the other X-Node-* headers',
              },
            },
          },
        },
        isNodeRoute,
      ),
    );
    await app.register(swaggerUi, { routePrefix: "/docs" });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
    app.get("/openapi-nodes.json", { schema: { hide: true } }, async () => app.nodeSwagger());
  },
  { name: "swagger" },
);

declare module "fastify" {
  interface FastifyInstance {
    nodeSwagger: FastifyInstance["swagger"];
  }
}
