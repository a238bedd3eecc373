// The line of jobs waiting for the network (a job is queued and no escrow of it has opened on
// chain yet). Jobs leave it in fair order across organizations: round-robin by organization, and
// first come first served within one, so one organization's hundred jobs do not hold back
// another's one. An organization's turns count the jobs it already has on the network, so the
// round-robin holds across dispatches too: after one of its jobs goes out, the others' go first.
// The dispatcher takes jobs from the head of the line; the job read shows a job's place in it.

/** Whether the job aliased `job` has an escrow open on chain: a worker took it. */
function onNetwork(job: string): string {
  return `EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = ${job}.id AND t.chain_task_id IS NOT NULL)`;
}

/** Every waiting job with its organization's turn: jobs it has on the network, plus its place among its own waiting ones. */
const WAITING = `
  SELECT j.id, j.created_at,
    row_number() OVER (PARTITION BY j.organization_id ORDER BY j.created_at, j.id)
      + (SELECT count(*) FROM training_jobs a
         WHERE a.organization_id = j.organization_id AND a.status IN ('queued', 'running', 'verifying')
           AND ${onNetwork("a")}) AS turn
  FROM training_jobs j
  WHERE j.status = 'queued' AND NOT ${onNetwork("j")}`;

/** The waiting jobs' ids, head of the line first: lowest turns first, the older job first within a turn. */
export const LINE = `SELECT w.id FROM (${WAITING}) w ORDER BY w.turn, w.created_at, w.id`;

/** `$1`'s place in the line, 1 at the head; no row when the job is not waiting. */
export const PLACE_IN_LINE = `
  SELECT p.place FROM (
    SELECT w.id, row_number() OVER (ORDER BY w.turn, w.created_at, w.id) AS place FROM (${WAITING}) w
  ) p WHERE p.id = $1`;

/** Dispatches of the last hour looked at to learn how fast the network takes jobs. */
export const RECENT_DISPATCHES = 20;
/** In milliseconds since the epoch: the column is a TIMESTAMP without time zone holding UTC. */
export const DISPATCH_TIMES = `
  SELECT (extract(epoch FROM e.created_at) * 1000)::float8 AS at FROM job_events e
  WHERE e.type = 'job.dispatched' AND e.created_at > (now() AT TIME ZONE 'UTC') - interval '1 hour'
  ORDER BY e.id DESC LIMIT ${RECENT_DISPATCHES}`;

/**
 * When the job at `place` should leave the line, at the rate the network took jobs lately (the
 * time between the recent dispatches). Null when there is too little to go by: fewer than two
 * dispatches in the last hour.
 */
export function estimatedStart(place: number, times: readonly number[], now: Date): Date | null {
  if (times.length < 2) return null;
  const span = Math.max(...times) - Math.min(...times);
  const perJob = span / (times.length - 1);
  return new Date(now.getTime() + place * perJob);
}
