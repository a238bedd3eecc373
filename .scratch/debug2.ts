import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "../test/support/cluster.ts";
import { auditJob, createJob, newCustomer } from "../test/support/job-runs.ts";
const t0 = Date.now();
const log = (m: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)}s ${m}`);
const c = await Cluster.start({ apis: 2, workers: ["//Bob", "//Charlie"], verifiers: ["//Dave", "//Eve"] });
log("cluster up");
try {
  const customer = await newCustomer(c, 10_000);
  log("customer");
  const jobId = (await createJob(c, customer, "dbg"))!;
  log(`job ${jobId}`);
  let seen = 0n;
  let killed = false;
  for (let i = 0; i < 400; i++) {
    const events = await c.db.jobEvent.findMany({ where: { jobId, id: { gt: seen } }, orderBy: { id: "asc" } });
    for (const e of events) { seen = e.id; log(`event ${e.type} ${JSON.stringify(e.data).slice(0, 150)}`); }
    if (!killed && events.some((e) => e.type === "checkpoint.stored")) {
      const leader = await c.leader();
      log(`killing ${leader?.name}`);
      await leader?.kill9();
      killed = true;
      log(`new leader ${(await c.leader())?.name}`);
    }
    const job = await c.db.trainingJob.findUnique({ where: { id: jobId } });
    if (["succeeded", "failed", "cancelled"].includes(job!.status)) break;
    await sleep(1000);
  }
  log(JSON.stringify(await auditJob(c, customer, jobId)));
} finally {
  for (const p of [...c.apis, ...c.nodes]) console.log(`--- ${p.name}\n${p.tail(15)}`);
  await c.stop();
}
