import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { renderSdkTrainingSpec, sdkTrainingSpecPath } from "../../scripts/write-sdk-training-spec.ts";

test("the SDK's TrainingSpec is the published spec schema's (regenerate with scripts/write-sdk-training-spec.ts)", async () => {
  assert.equal(readFileSync(sdkTrainingSpecPath, "utf8"), await renderSdkTrainingSpec());
});
