import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "../test/support/cluster.ts";
const c = await Cluster.start({ apis: 2, workers: [], verifiers: [] });
await sleep(3000);
for (const a of c.apis) console.log("---", a.name, a.running, JSON.stringify(a.output.join("").slice(-1500)));
console.log("leader", (await c.leader(2000))?.name);
await c.stop();
