// The lease brokers a gateway holds: each has three Redis connections, so a signed request from a
// key that never registered must open none, and a gateway serving many nodes keeps a bounded number.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { QueueConnection } from "../../../queue/names.ts";
import { createTestApp, type TestApp } from "../../../test/support/app.ts";
import { RecordingLifecycle } from "../../../test/support/gateway.ts";
import { loadIdentity } from "../../../worker-runtime/node/identity.ts";
import type { ApiError } from "../../errors.ts";
import { NodeLeases } from "./leases.ts";
import { NodeRegistry } from "./registry.ts";

const PROFILE = "e".repeat(64);
const LEASE = `training.job_x.${"0".repeat(32)}`;

describe("node lease brokers", () => {
  let t: TestApp;
  let queues: QueueConnection;
  let registry: NodeRegistry;

  /** Connections this test's brokers hold: each is named after the test's own key prefix. */
  async function brokerConnections(): Promise<number> {
    const list = (await t.redis.client("LIST")) as string;
    return list.split("\n").filter((line) => line.includes(`name=${queues.prefix}:`)).length;
  }

  function leases(maxBrokers?: number): NodeLeases {
    return new NodeLeases({
      queues,
      registry,
      lifecycle: new RecordingLifecycle(),
      logError: (error) => {
        throw error;
      },
      ...(maxBrokers ? { maxBrokers } : {}),
    });
  }

  before(async () => {
    t = await createTestApp();
    queues = { redisUrl: t.config.redisUrl!, prefix: `${t.prefix}-brokers` };
    registry = new NodeRegistry(t.database.db, t.redis);
  });

  after(async () => {
    await t.close();
  });

  it("opens no broker and no Redis connection for 40 keys that never registered", async () => {
    const gateway = leases();
    try {
      const before = await brokerConnections();
      for (let i = 0; i < 40; i++) {
        const stranger = await loadIdentity(`//Stranger${i}`);
        await assert.rejects(gateway.heartbeat(stranger.address, LEASE), (error: ApiError) => {
          assert.equal(error.code, "node_not_registered");
          return true;
        });
        assert.equal(await gateway.leasesBlob(stranger.address, "0".repeat(64)), false);
      }
      assert.equal(gateway.openBrokers, 0);
      assert.equal(await brokerConnections(), before);
    } finally {
      await gateway.close();
    }
  });

  it("keeps at most maxBrokers open, closing the least recently used one's connections", async () => {
    const gateway = leases(2);
    try {
      const nodes = await Promise.all(["//Bob", "//Charlie", "//Dave"].map((seed) => loadIdentity(seed)));
      for (const node of nodes)
        await registry.register(node.address, { roles: ["worker"], profile_hash: PROFILE });
      const lost = (node: string) =>
        assert.rejects(gateway.heartbeat(node, LEASE), (error: ApiError) => error.code === "lease_lost");
      await lost(nodes[0]!.address);
      const one = await brokerConnections();
      assert.ok(one >= 3, `a broker holds at least three connections (saw ${one})`);
      await lost(nodes[1]!.address);
      await lost(nodes[0]!.address);
      assert.equal(await brokerConnections(), 2 * one);
      // Bob was used last: Charlie's broker is the one closed.
      await lost(nodes[2]!.address);
      assert.equal(gateway.openBrokers, 2);
      for (let i = 0; i < 50 && (await brokerConnections()) > 2 * one; i++) await sleep(20);
      assert.equal(await brokerConnections(), 2 * one);
      // Charlie comes back: its broker opens again and works.
      await lost(nodes[1]!.address);
      assert.equal(gateway.openBrokers, 2);
    } finally {
      await gateway.close();
    }
  });
});
