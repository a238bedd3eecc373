// Regenerates training-spec.schema.json from the TypeBox schema in spec.ts, then formats it:
//   node --import tsx worker-runtime/train/write-spec-schema.ts && npx biome format --write worker-runtime/train
import { writeFileSync } from "node:fs";
import { trainingSpecJsonSchema } from "./spec.ts";

export const schemaPath = new URL("./training-spec.schema.json", import.meta.url);
if (process.argv[1] && new URL(`file://${process.argv[1]}`).href === import.meta.url) {
  writeFileSync(schemaPath, `${JSON.stringify(trainingSpecJsonSchema(), null, 2)}\n`);
}
