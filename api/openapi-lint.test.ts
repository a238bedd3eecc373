// The committed OpenAPI documents pass Redocly's recommended rules with warnings as errors
// (redocly.yaml; the exceptions and their reasons are in .redocly.lint-ignore.yaml).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));

test("openapi.yaml and openapi-nodes.yaml lint clean with redocly", async () => {
  const redocly = fileURLToPath(new URL("../node_modules/.bin/redocly", import.meta.url));
  const run = await promisify(execFile)(redocly, ["lint", "--format=stylish"], {
    cwd: root,
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  }).catch((error: { stdout: string; stderr: string }) => error);
  assert.ok(!("code" in run), `redocly lint failed:\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout + run.stderr, /openapi-nodes\.yaml: validated/);
});
