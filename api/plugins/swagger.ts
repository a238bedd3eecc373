// The OpenAPI document is generated from the route schemas, so it cannot drift from the code;
// `npm run openapi` writes it to openapi.yaml and a test keeps the committed copy current.
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { ErrorResponse } from "../schemas/common.ts";

export default fp(
  async (app: FastifyInstance) => {
    app.addSchema(ErrorResponse);
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Veritrain API",
          version: "1.0.0",
          description:
            "Train ONNX models on untrusted hardware, paid by card, with a verification receipt. " +
            'Errors are {"error": {"type", "code", "message", "param"}}; lists are {"data": [...], "has_more"}.',
        },
        servers: [{ url: "http://localhost:8080" }],
        components: {
          securitySchemes: {
            apiKey: { type: "http", scheme: "bearer", description: "An API key, vt_..." },
          },
        },
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  },
  { name: "swagger" },
);
