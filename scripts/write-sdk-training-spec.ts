// Derives the SDK's TrainingSpec type from the published spec schema
// (worker-runtime/train/training-spec.schema.json), so a field the engine accepts, and its
// default, are typed for SDK users exactly as the engine checks them. Regenerate with
//   node --import tsx scripts/write-sdk-training-spec.ts
// sdk/src/training-spec.test.ts fails when the committed file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compile, type JSONSchema } from "json-schema-to-typescript";

const schemaPath = new URL("../worker-runtime/train/training-spec.schema.json", import.meta.url);
export const sdkTrainingSpecPath = new URL("../sdk/src/training-spec.ts", import.meta.url);

const BANNER = `// Generated from worker-runtime/train/training-spec.schema.json by
// scripts/write-sdk-training-spec.ts: do not edit by hand.`;

export async function renderSdkTrainingSpec(): Promise<string> {
  const schema = JSON.parse(readFileSync(schemaPath, "utf8")) as JSONSchema;
  return compile({ ...schema, title: "TrainingSpec" }, "TrainingSpec", {
    bannerComment: BANNER,
    additionalProperties: false,
    unknownAny: true,
    style: { printWidth: 110 },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(sdkTrainingSpecPath, await renderSdkTrainingSpec());
}
