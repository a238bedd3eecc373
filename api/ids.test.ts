import assert from "node:assert/strict";
import { test } from "node:test";
import { isId, newId } from "./ids.ts";

test("ids carry their prefix and 26 url-safe characters", () => {
  const id = newId("job");
  assert.match(id, /^job_[0-9a-z]{26}$/);
  assert.ok(isId("job", id));
  assert.ok(!isId("file", id));
  assert.ok(!isId("job", `${id}x`));
});

test("ids sort by creation time, so a cursor is the last id seen", () => {
  const older = newId("txn", 1_700_000_000_000);
  const newer = newId("txn", 1_700_000_000_001);
  assert.ok(older < newer);
  const many = Array.from({ length: 1000 }, () => newId("key"));
  assert.equal(new Set(many).size, many.length);
});
