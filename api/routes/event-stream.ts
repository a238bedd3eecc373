// Server-Sent Events of stored events, for the job and the sweep event routes (not a route plugin
// itself): past events after `after` first, then live ones, ending once the source says it has
// ended. A stream takes one of the caller's stream slots and renews it with each heartbeat.
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.ts";
import type { JobEventView } from "../services/job-events.ts";
import type { StreamSlots } from "../services/stream-slots.ts";

const HEARTBEAT_MS = 15_000;
const PAGE = 500;

/** Where a stream's events come from. Event ids increase, and are unique across the source. */
export interface EventSource<E extends JobEventView> {
  /** Stored events after `afterId`, in id order. */
  list(afterId: number, limit: number): Promise<E[]>;
  /** Live events; the returned function unsubscribes. */
  subscribe(listener: (event: E) => void): Promise<() => Promise<void>>;
  /** An event that may end the stream (a job's final event). */
  mayEnd(event: E): boolean;
  /** Whether the source has ended: every event it will ever have is stored. */
  ended(): Promise<boolean>;
}

/**
 * The events after `after` (or Last-Event-ID, when an EventSource reconnects): a JSON page, or
 * with Accept: text/event-stream the stream.
 */
export async function answerEvents<E extends JobEventView>(
  request: FastifyRequest,
  reply: FastifyReply,
  streams: StreamSlots,
  source: EventSource<E>,
  query: { after: number; limit: number },
): Promise<{ data: E[]; has_more: boolean } | undefined> {
  const lastEventId = Number(request.headers["last-event-id"] ?? Number.NaN);
  const after = Number.isInteger(lastEventId) ? lastEventId : query.after;
  if (String(request.headers.accept ?? "").includes("text/event-stream")) {
    await streamEvents(request, reply, streams, source, after);
    return undefined;
  }
  const page = await source.list(after, query.limit + 1);
  return { data: page.slice(0, query.limit), has_more: page.length > query.limit };
}

async function streamEvents<E extends JobEventView>(
  request: FastifyRequest,
  reply: FastifyReply,
  streams: StreamSlots,
  source: EventSource<E>,
  after: number,
): Promise<void> {
  const { auth } = request;
  const taken = await streams.take(auth.apiKeyId ?? auth.sessionId ?? auth.organizationId);
  if (!taken) {
    throw new ApiError(
      429,
      "rate_limit_error",
      "rate_limited",
      `At most ${streams.maxPerCaller} event streams may be open per API key or session; close one first`,
    );
  }
  const slot = taken;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-request-id": request.id,
  });
  // Events of different jobs commit in any order, so one may arrive after a higher id was sent:
  // sent ids are remembered rather than compared with the last.
  const sent = new Set<number>();
  let highest = after;
  let ended = false;
  let checking: Promise<void> = Promise.resolve();
  const send = (event: E) => {
    if (ended || event.id <= after || sent.has(event.id)) return;
    sent.add(event.id);
    highest = Math.max(highest, event.id);
    raw.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (source.mayEnd(event)) checking = checking.then(endIfEnded);
  };
  const heartbeat = setInterval(() => {
    raw.write(": keep-alive\n\n");
    slot.renew().catch(() => undefined);
  }, HEARTBEAT_MS);
  // Subscribe before reading the history, so an event recorded in between is not missed.
  const buffered: E[] = [];
  let replaying = true;
  const unsubscribe = await source.subscribe((event) => {
    if (replaying) buffered.push(event);
    else send(event);
  });
  function end() {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    // The subscriber connection may already be closed when the app shuts down under an open stream.
    unsubscribe().catch(() => undefined);
    slot.release().catch(() => undefined);
    raw.end();
  }
  /** Ends the stream once the source has ended, after sending what was stored before it did. */
  async function endIfEnded() {
    if (ended || !(await source.ended().catch(() => false))) return;
    await replay().catch(() => undefined);
    end();
  }
  async function replay() {
    for (
      let page = await source.list(highest, PAGE);
      page.length > 0;
      page = await source.list(highest, PAGE)
    ) {
      for (const event of page) send(event);
      if (ended) return;
    }
  }
  raw.on("close", end);
  await replay();
  replaying = false;
  for (const event of buffered.sort((a, b) => a.id - b.id)) send(event);
  // A stream resumed after the final event, or of a source that ended before it opened.
  checking = checking.then(endIfEnded);
  await checking;
}
