// The OpenAPI document as the routes declare it; `npm run openapi` commits it as openapi.yaml.
import { buildApp } from "./app.ts";

const unused = async () => {
  throw new Error("probes are not called while generating the document");
};

export async function generateOpenApiYaml(): Promise<string> {
  const app = await buildApp({ deps: { probes: { database: unused, redis: unused, chain: unused } } });
  await app.ready();
  const yaml = app.swagger({ yaml: true });
  await app.close();
  return yaml;
}
