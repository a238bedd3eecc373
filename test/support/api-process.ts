// One API process of a multi-process test stack: `veritrain api` against configured services,
// with the test's short timings and its own queue prefix. Prints `listening <url>` once serving;
// SIGTERM stops it gracefully, SIGKILL is the crash the tests are about.
import { startApi } from "../../api/server.ts";
import { loadConfig } from "../../config/env.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const api = await startApi(
  loadConfig(),
  { databaseUrl: env("DATABASE_URL"), redisUrl: env("REDIS_URL"), chainWsUrl: env("CHAIN_WS_URL") },
  {
    queuePrefix: env("VERITRAIN_QUEUE_PREFIX"),
    verificationPassMs: 250,
    leaderPeriodMs: 250,
  },
);
process.stdout.write(`listening ${api.url}\n`);
// The tests find the leader by these lines (the API's own log runs at LOG_LEVEL=warn).
let leading = false;
setInterval(() => {
  if (api.isLeader === leading) return;
  leading = api.isLeader;
  process.stdout.write(`${leading ? "leader" : "standby"} ${process.pid}\n`);
}, 50).unref();
process.once("SIGTERM", () => {
  api.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
