// Server-Sent Events framing, as the WHATWG HTML standard defines it (§9.2 "Parsing an event
// stream"): lines end in CRLF, LF or CR; `data` lines accumulate; a blank line dispatches;
// lines starting with ":" are comments (the API's keep-alives).

export interface SseMessage {
  /** The `id` field of this message, if it had one. */
  id: string | undefined;
  event: string;
  data: string;
}

/** The messages of an event stream, as its bytes arrive; cancels the stream when abandoned. */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let message: SseMessage = { id: undefined, event: "message", data: "" };
  let hasData = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk unless done.
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = done ? "" : lines.pop()!;
      for (const line of lines) {
        if (line === "" || line === "\r") {
          if (hasData) yield { ...message, data: message.data.slice(0, -1) };
          message = { id: undefined, event: "message", data: "" };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") {
          message.data += `${value}\n`;
          hasData = true;
        } else if (field === "event") {
          message.event = value;
        } else if (field === "id" && !value.includes("\0")) {
          message.id = value;
        }
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
