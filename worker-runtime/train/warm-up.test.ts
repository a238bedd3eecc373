// A node's warm-up at start trains and replays a model of its own, and leaves nothing behind.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { warmUp } from "./warm-up.ts";

const leftovers = () => readdirSync(tmpdir()).filter((name) => name.startsWith("veritrain-warm-up-"));

test("the warm-up trains and replays without leaving its checkpoints behind", async () => {
  const before = new Set(leftovers());
  await warmUp(1);
  assert.deepEqual(
    leftovers().filter((name) => !before.has(name)),
    [],
  );
});
