// A web page the user visits must not drive the local dev chain: the RPC refuses a WebSocket
// handshake or an HTTP request whose Origin is not allowed, and serves clients that send none.
// Real handshakes with `ws` (which sends Origin only when told to, as a browser always does).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { type Devnet, parseRpcCors, RpcCorsError, startDevnet } from "../index.ts";

const HEALTH = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "system_health", params: [] });

/** Opens a socket (with `origin` when given) and asks for system_health; the handshake's status when refused. */
function overWebSocket(url: string, origin?: string): Promise<{ status: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin });
    socket.on("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.on("open", () => socket.send(HEALTH));
    socket.on("message", (data) => {
      socket.close();
      resolve({ status: 101, body: data.toString() });
    });
    socket.on("error", (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function overHttp(url: string, origin?: string, method = "POST") {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...(origin === undefined ? {} : { origin }) },
    ...(method === "POST" ? { body: HEALTH } : {}),
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

describe("the dev chain's RPC and browser origins", () => {
  let devnet: Devnet;
  let listed: Devnet;
  before(async () => {
    devnet = await startDevnet({ port: 0 });
    listed = await startDevnet({ port: 0, rpcCors: parseRpcCors("https://app.example, http://localhost:*") });
  });
  after(async () => {
    await devnet?.stop();
    await listed?.stop();
  });

  it("refuses a WebSocket handshake from a page of another origin, and serves clients without one", async () => {
    const refused = await overWebSocket(devnet.wsUrl, "https://evil.example");
    assert.equal(refused.status, 403);
    assert.match(refused.body ?? "", /not allowed by this node's rpc-cors/);
    for (const origin of [
      undefined,
      "http://localhost:3000",
      "http://127.0.0.1:8080",
      "https://polkadot.js.org",
    ]) {
      const served = await overWebSocket(devnet.wsUrl, origin);
      assert.equal(served.status, 101, `origin ${origin}`);
      assert.match(served.body ?? "", /"isSyncing"/);
    }
    for (const origin of ["http://localhost.evil.example", "null", "https://polkadot.js.org.evil.example"]) {
      assert.equal((await overWebSocket(devnet.wsUrl, origin)).status, 403, origin);
    }
  });

  it("refuses HTTP requests (and preflights) from a page of another origin", async () => {
    const refused = await overHttp(devnet.httpUrl, "https://evil.example");
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.body, /jsonrpc/);
    assert.equal((await overHttp(devnet.httpUrl, "https://evil.example", "OPTIONS")).status, 403);

    const cli = await overHttp(devnet.httpUrl);
    assert.equal(cli.status, 200);
    assert.match(cli.body, /"isSyncing"/);
    const page = await overHttp(devnet.httpUrl, "http://localhost:5173");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("access-control-allow-origin"), "http://localhost:5173");
    const preflight = await overHttp(devnet.httpUrl, "http://localhost:5173", "OPTIONS");
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-methods"), "POST");
  });

  it("takes a configured allow-list instead of the default", async () => {
    assert.equal((await overWebSocket(listed.wsUrl, "https://app.example")).status, 101);
    assert.equal((await overWebSocket(listed.wsUrl, "http://localhost:1234")).status, 101);
    assert.equal((await overWebSocket(listed.wsUrl, "https://polkadot.js.org")).status, 403);
    assert.equal((await overWebSocket(listed.wsUrl, "https://app.example:8443")).status, 403);
    assert.equal((await overWebSocket(listed.wsUrl)).status, 101);
  });

  it("refuses an allow-list entry that is not an origin", () => {
    assert.equal(parseRpcCors("all"), "all");
    for (const bad of ["app.example", "https://app.example/path", "ftp://x.example", "*"]) {
      assert.throws(() => parseRpcCors(bad), RpcCorsError, bad);
    }
  });
});
