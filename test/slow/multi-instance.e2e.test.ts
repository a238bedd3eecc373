// Two API processes against one Postgres, Redis and chain behave as one: exactly one of them runs
// the background loops, and when that leader is killed with SIGKILL in the middle of a job the
// other takes over; the job ends once, the customer is charged once and to the cent, and the
// escrow on chain is paid out. Nodes and the customer reach the API through a load balancer.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "../support/cluster.ts";
import { auditJob, createJob, newCustomer, operatorReserved, waitForEnd } from "../support/job-runs.ts";

describe("several API instances", () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({
      apis: 2,
      workers: ["//Bob", "//Charlie"],
      verifiers: ["//Dave", "//Eve"],
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("run the background loops in one of them at a time", async () => {
    const leader = await cluster.leader();
    assert.ok(leader, "a leader is elected");
    await sleep(1_000);
    const leaders = cluster.apis.filter((api) => /^leader \d+$/m.test(api.output.join("")));
    assert.equal(leaders.length, 1, cluster.apis.map((a) => `--- ${a.name}\n${a.tail()}`).join("\n"));
  });

  it("finish a job once when the leader is killed mid-job, with the ledger and the escrow right", async () => {
    const escrowBefore = await operatorReserved(cluster);
    const customer = await newCustomer(cluster, 10_000);
    const jobId = await createJob(cluster, customer, "two-instances");
    assert.ok(jobId);
    const leader = (await cluster.leader())!;
    // Mid-job: once the worker has stored a checkpoint and before the job settles.
    for (let i = 0; i < 600; i++) {
      if (await cluster.db.checkpoint.count({ where: { task: { jobId } } })) break;
      await sleep(100);
    }
    assert.ok(await cluster.db.checkpoint.count({ where: { task: { jobId } } }), "training started");
    await leader.kill9();
    const successor = await cluster.leader();
    assert.ok(successor && successor !== leader, "the other instance takes over");

    const status = await waitForEnd(cluster, jobId, 180_000);
    const logs = () =>
      [...cluster.apis, ...cluster.nodes].map((p) => `--- ${p.name}\n${p.tail()}`).join("\n");
    assert.equal(status, "succeeded", logs());
    const outcome = await auditJob(cluster, customer, jobId);
    assert.deepEqual(outcome.problems, [], logs());
    assert.equal(outcome.endings, 1);
    assert.equal(await operatorReserved(cluster), escrowBefore, "no escrow left locked on chain");
  });
});
