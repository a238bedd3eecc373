// Regenerates training-spec.schema.json from the TypeBox schema in spec.ts:
//   node --import tsx worker-runtime/train/write-spec-schema.ts
import { writeFileSync } from "node:fs";
import { trainingSpecJsonSchema } from "./spec.ts";

export const schemaPath = new URL("./training-spec.schema.json", import.meta.url);
export const renderSpecSchema = (): string => `${JSON.stringify(trainingSpecJsonSchema(), null, 2)}\n`;

if (process.argv[1] && new URL(`file://${process.argv[1]}`).href === import.meta.url) {
  writeFileSync(schemaPath, renderSpecSchema());
}
