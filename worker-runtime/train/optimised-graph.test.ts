// Players and the referee each optimise the step graph in their own process, and the pinpoint game
// names nodes by their index in it: the saved optimised graph must be the same bytes every time.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadZooFixture } from "./fixtures.ts";
import { stepGraphOf } from "./pinpoint.ts";
import { graphNodes } from "./pinpoint-graphs.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("the optimised step graph", () => {
  it("is the same bytes in this process and in another, fused nodes included", async () => {
    const fixture = loadZooFixture("transformer_rows");
    const first = await stepGraphOf(fixture, 1);
    const again = await stepGraphOf(fixture, 1);
    assert.equal(sha256(again), sha256(first));
    assert.ok(
      graphNodes(first).some((n) => n.domain === "com.microsoft"),
      "it has fused nodes",
    );
    const modules = ["./fixtures.ts", "./pinpoint.ts"].map((m) => fileURLToPath(new URL(m, import.meta.url)));
    const script = `const { loadZooFixture } = await import(${JSON.stringify(modules[0])}); const { stepGraphOf } = await import(${JSON.stringify(modules[1])}); const { createHash } = await import("node:crypto"); console.log(createHash("sha256").update(await stepGraphOf(loadZooFixture("transformer_rows"), 1)).digest("hex"));`;
    const other = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(other.trim().split("\n").at(-1), sha256(first));
  });
});
