import assert from "node:assert/strict";
import { test } from "node:test";
import { type SseMessage, sseMessages } from "./sse.ts";

/** A byte stream delivered in exactly these pieces, as a network might cut it. */
function streamOf(pieces: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces)
        controller.enqueue(typeof piece === "string" ? encoder.encode(piece) : piece);
      controller.close();
    },
  });
}

async function collect(pieces: Array<string | Uint8Array>): Promise<SseMessage[]> {
  const messages: SseMessage[] = [];
  for await (const message of sseMessages(streamOf(pieces))) messages.push(message);
  return messages;
}

test("fields, comments and multi-line data, whatever the line endings", async () => {
  const text =
    ': keep-alive\r\nid: 7\r\nevent: job.created\r\ndata: {"a":\r\ndata:1}\r\n\r\ndata: plain\rid: 8\r\r';
  assert.deepEqual(await collect([text]), [
    { id: "7", event: "job.created", data: '{"a":\n1}' },
    { id: "8", event: "message", data: "plain" },
  ]);
});

test("a message cut anywhere by the network, even inside a CRLF or a UTF-8 character, reads the same", async () => {
  const text = "id: 1\r\nevent: t\r\ndata: héllo\r\n\r\nid: 2\ndata: x\n\n";
  const whole = await collect([text]);
  const bytes = new TextEncoder().encode(text);
  // Bytes, not characters: "é" is two bytes, and a cut may fall between them.
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(await collect([bytes.slice(0, cut), bytes.slice(cut)]), whole, `cut at byte ${cut}`);
  }
  assert.equal(whole.length, 2);
  assert.equal(whole[0]!.data, "héllo");
});

test("a message the stream ends in the middle of is not delivered; one without data is skipped", async () => {
  assert.deepEqual(await collect(["event: empty\n\n", "id: 3\ndata: complete\n\n", "id: 4\ndata: cut"]), [
    { id: "3", event: "message", data: "complete" },
  ]);
});
