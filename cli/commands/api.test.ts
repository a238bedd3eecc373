import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

test("`veritrain api` in production starts nothing embedded and runs on no development key", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "vt-prod-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: "production",
    VERITRAIN_DATA_DIR: dataDir,
  };
  const run = spawnSync(process.execPath, ["bin/veritrain.mjs", "api"], {
    cwd: repoRoot,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(run.status, 0, run.stdout);
  assert.match(run.stderr, /NODE_ENV=production refuses to start/);
  assert.match(run.stderr, /CHAIN_WS_URL is unset: production never starts a dev chain of its own/);
  assert.match(run.stderr, /OPERATOR_SEED is unset/);
});
