import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../config/errors.ts";
import { nodeSeed } from "./node.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

describe("a node's secret", () => {
  it("comes from a file or the environment", () => {
    const file = join(mkdtempSync(join(tmpdir(), "vt-seed-")), "seed");
    writeFileSync(file, "//Dave\n", { mode: 0o600 });
    assert.equal(nodeSeed(file, {}), "//Dave");
    assert.equal(nodeSeed(undefined, { VERITRAIN_NODE_SEED: "//Eve" }), "//Eve");
    assert.throws(
      () => nodeSeed(undefined, {}),
      (e: unknown) => e instanceof ConfigError && e.code === "INVALID_NODE_SEED",
    );
  });

  it("is never a public development key in production", () => {
    assert.throws(
      () => nodeSeed(undefined, { NODE_ENV: "production", VERITRAIN_NODE_SEED: "//Bob" }),
      /public development key/,
    );
  });

  it("cannot be given on the command line, where `ps` shows it", () => {
    const run = spawnSync(
      process.execPath,
      ["bin/veritrain.mjs", "node", "--role", "worker", "--api", "http://127.0.0.1:9", "--seed", "//Bob"],
      { cwd: repoRoot, encoding: "utf8", timeout: 60_000 },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /unknown option '--seed'/);
  });
});
