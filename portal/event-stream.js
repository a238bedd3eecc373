// A training job's Server-Sent Events, read with fetch rather than EventSource: the API names
// each event by its type (`event: training.progress`), which EventSource only delivers to a
// listener per name, and EventSource reconnects for ever after the stream's normal end. Here
// every event reaches one callback, a dropped connection resumes after the last event seen, and
// the stream ends with the job's final event.
import { ApiError, errorFields } from "./api.js";
import { pause } from "./dom.js";

/**
 * `data` is typed `any` because each event type has fields of its own (docs/api.md, "Training jobs: states, events and money");
 * the code reading an event knows its type.
 * @typedef {{ id: number, type: string, data: Record<string, any>, created_at: string }} JobEvent
 */

const FINAL_EVENTS = new Set(["job.succeeded", "job.failed", "job.cancelled", "job.expired"]);
const RECONNECT_MS = 2000;

/**
 * Calls `onEvent` for each of the job's events, past ones first, until the job's final event or
 * until `signal` aborts. Resolves then; rejects only when the API refuses the stream.
 * @param {string} jobId
 * @param {(event: JobEvent) => void} onEvent
 * @param {AbortSignal} signal
 */
export async function followJobEvents(jobId, onEvent, signal) {
  let lastId = 0;
  while (!signal.aborted) {
    let response;
    try {
      response = await fetch(`/v1/training-jobs/${encodeURIComponent(jobId)}/events?after=${lastId}`, {
        headers: { accept: "text/event-stream" },
        credentials: "same-origin",
        signal,
      });
    } catch {
      if (signal.aborted) return;
      await pause(RECONNECT_MS, signal);
      continue;
    }
    if (!response.ok || !response.body) {
      throw new ApiError(response.status, errorFields(response.status, await response.text()));
    }
    try {
      for await (const event of frames(response.body)) {
        lastId = event.id;
        onEvent(event);
        if (FINAL_EVENTS.has(event.type)) return;
      }
    } catch {
      // The connection dropped mid-stream: resume after the last event seen, below.
      if (signal.aborted) return;
    }
    await pause(RECONNECT_MS, signal);
  }
}

/**
 * The `data:` payloads of an SSE body, parsed; comments (the keep-alives) are skipped.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<JobEvent>}
 */
async function* frames(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
