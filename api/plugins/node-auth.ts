// Authentication for the node gateway's routes. Nodes have no API key: every request carries the
// node's address, a timestamp, a nonce and an sr25519 signature over method, path, timestamp,
// nonce and the SHA-256 of the body. JSON bodies are hashed from their raw bytes here; streamed
// uploads declare their hash in x-content-sha256 (signed), and the gateway checks the bytes
// against it as they are stored. Register it inside the node routes' scope only.
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { EMPTY_BODY_SHA256, NODE_HEADERS } from "../../protocol/signed-messages.ts";
import { ApiError } from "../errors.ts";
import type { NodeAuthenticator } from "../services/nodes/authentication.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated node's SS58 address; set on every node gateway route. */
    nodeAddress: string;
    /** SHA-256 of the raw JSON body, kept by the node scope's JSON parser. */
    nodeBodySha256: string | undefined;
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
}

function bodySha256(request: FastifyRequest): string {
  if (request.nodeBodySha256 !== undefined) return request.nodeBodySha256;
  if (request.headers["content-type"]?.startsWith("application/octet-stream")) {
    const declared = header(request, NODE_HEADERS.contentSha256);
    if (!declared || !SHA256_HEX.test(declared)) {
      throw ApiError.badRequest(
        "parameter_invalid",
        `a streamed upload must declare its lowercase hex SHA-256 in ${NODE_HEADERS.contentSha256}`,
        NODE_HEADERS.contentSha256,
      );
    }
    return declared;
  }
  return EMPTY_BODY_SHA256;
}

export default fp(
  async (app: FastifyInstance, options: { authenticator: () => NodeAuthenticator }) => {
    app.decorateRequest("nodeAddress", "");
    app.decorateRequest("nodeBodySha256", undefined);

    app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
      const raw = body as Buffer;
      request.nodeBodySha256 = createHash("sha256").update(raw).digest("hex");
      try {
        done(null, raw.length === 0 ? undefined : JSON.parse(raw.toString("utf8")));
      } catch (error) {
        done(
          ApiError.badRequest(
            "invalid_json",
            `The request body is not valid JSON: ${(error as Error).message}`,
          ),
        );
      }
    });
    // Uploads stream straight into the blob store; they are never buffered.
    app.addContentTypeParser("application/octet-stream", (_request, payload, done) => done(null, payload));

    // preValidation: an unsigned request is refused before its body is judged.
    app.addHook("preValidation", async (request) => {
      const address = header(request, NODE_HEADERS.address);
      const timestamp = header(request, NODE_HEADERS.timestamp);
      const nonce = header(request, NODE_HEADERS.nonce);
      const signature = header(request, NODE_HEADERS.signature);
      if (!address || !timestamp || !nonce || !signature) {
        throw new ApiError(
          401,
          "authentication_error",
          "missing_node_signature",
          `node requests must carry ${NODE_HEADERS.address}, ${NODE_HEADERS.timestamp}, ${NODE_HEADERS.nonce} and ${NODE_HEADERS.signature}`,
        );
      }
      request.nodeAddress = await options.authenticator().authenticate({
        address,
        timestamp,
        nonce,
        signature,
        method: request.method,
        path: request.url,
        bodySha256: bodySha256(request),
      });
    });
  },
  { name: "node-auth" },
);
