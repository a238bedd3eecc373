// The OpenAPI documents as the routes declare them; `npm run openapi` commits them as openapi.yaml
// (the customer API) and openapi-nodes.yaml (the node gateway).
// The API is registered exactly as it serves, over stand-ins for its services and probes:
// registering calls none of them, and this app is made ready (which collects the document) and
// closed without ever listening or being injected a request, so no handler runs.
import { Redis } from "ioredis";
import { DEFAULT_RATE_LIMITS } from "../config/rate-limits.ts";
import { createFastify, registerApi } from "./app.ts";
import type { HealthProbe } from "./health.ts";
import type { NodeGateway, Services } from "./services/index.ts";

const misuse = (what: string) =>
  new Error(`${what} used by the app that only generates the OpenAPI document`);

/** A service the document's app holds and never uses: any use is a bug, and it says so. */
function unserved<T extends object>(name: string): T {
  // A Proxy takes any service's shape; the cast is what lets it stand in for the class.
  return new Proxy({} as T, {
    get(_target, property) {
      throw misuse(`${name}.${String(property)}`);
    },
  });
}

const unservedProbe: HealthProbe = async () => {
  throw misuse("a health probe");
};

const services: Services = {
  accounts: unserved("accounts"),
  apiKeys: unserved("apiKeys"),
  idempotency: unserved("idempotency"),
  ledger: unserved("ledger"),
  billing: unserved("billing"),
  files: unserved("files"),
  deletedBlobs: unserved("deletedBlobs"),
  jobs: unserved("jobs"),
  sweeps: unserved("sweeps"),
  jobEvents: unserved("jobEvents"),
  streams: unserved("streams"),
  // Present, so that the node routes are declared as a process with task queues declares them.
  nodeGateway: unserved<NodeGateway>("nodeGateway"),
  receipts: unserved("receipts"),
  webhookEndpoints: unserved("webhookEndpoints"),
};

export interface OpenApiDocuments {
  /** openapi.yaml: the customer API. */
  api: string;
  /** openapi-nodes.yaml: the node gateway. */
  nodes: string;
}

export async function generateOpenApiDocuments(): Promise<OpenApiDocuments> {
  const app = createFastify(false);
  await registerApi(app, {
    services,
    probes: { database: unservedProbe, redis: unservedProbe, chain: unservedProbe },
    // Declaring the budgets defines the counting script on the client and sends nothing.
    rateLimits: { redis: new Redis({ lazyConnect: true }), limits: DEFAULT_RATE_LIMITS },
  });
  await app.ready();
  const documents = { api: app.swagger({ yaml: true }), nodes: app.nodeSwagger({ yaml: true }) };
  await app.close();
  return documents;
}
