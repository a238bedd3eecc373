import assert from "node:assert/strict";
import { test } from "node:test";
import { ExpiringCache } from "./expiring-cache.ts";

test("entries expire after the TTL and the oldest is dropped when full", () => {
  const cache = new ExpiringCache<number>(2, 1_000);
  cache.set("a", 1, 0);
  cache.set("b", 2, 10);
  assert.equal(cache.get("a", 999), 1);
  assert.equal(cache.get("a", 1_000), undefined);
  cache.set("c", 3, 20);
  cache.set("d", 4, 30);
  assert.equal(cache.get("b", 30), undefined, "the oldest entry made room");
  assert.equal(cache.get("d", 30), 4);
  assert.equal(cache.size, 2);
});

test("every eviction changes the generation", () => {
  const cache = new ExpiringCache<string>(10, 1_000);
  const start = cache.generation;
  cache.evict("absent");
  assert.equal(cache.generation, start + 1);
  cache.set("k", "v");
  cache.clear();
  assert.equal(cache.generation, start + 2);
  assert.equal(cache.get("k"), undefined);
});
