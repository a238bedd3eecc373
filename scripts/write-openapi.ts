import { writeFileSync } from "node:fs";
import { generateOpenApiDocuments } from "../api/openapi.ts";

const documents = await generateOpenApiDocuments();
for (const [file, text] of [
  ["openapi.yaml", documents.api],
  ["openapi-nodes.yaml", documents.nodes],
] as const) {
  const target = new URL(`../${file}`, import.meta.url);
  writeFileSync(target, text);
  console.log(`wrote ${target.pathname}`);
}
