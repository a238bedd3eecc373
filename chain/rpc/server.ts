// JSON-RPC 2.0 over WebSocket (with subscriptions) and HTTP POST on one port, like a Substrate node:
// the legacy namespaces and the JSON-RPC interface spec's chainHead_v1, chainSpec_v1, transaction_v1
// and transactionWatch_v1 groups.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { authorRpc } from "./author.ts";
import { chainRpc } from "./chain.ts";
import { chainHeadRpc } from "./chain-head.ts";
import { chainSpecRpc } from "./chain-spec.ts";
import type { Connection, Emit, Node, RpcHandler } from "./context.ts";
import { engineRpc } from "./engine.ts";
import { RpcError } from "./errors.ts";
import { originAllowed, type RpcCors } from "./origins.ts";
import { paymentRpc } from "./payment.ts";
import { rpcNamespace } from "./rpc.ts";
import { stateRpc } from "./state.ts";
import { systemRpc } from "./system.ts";
import { transactionRpc } from "./transaction.ts";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

const handlers = new Map<string, RpcHandler>();
for (const namespace of [
  chainRpc,
  stateRpc,
  systemRpc,
  authorRpc,
  paymentRpc,
  chainHeadRpc,
  chainSpecRpc,
  transactionRpc,
  engineRpc,
  rpcNamespace((node) => [...handlers].flatMap(([name, handler]) => (offered(handler, node) ? [name] : []))),
]) {
  for (const [name, handler] of Object.entries(namespace)) handlers.set(name, handler);
}

type Request = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };

function offered(handler: RpcHandler, node: Node): boolean {
  return handler.available?.(node) ?? true;
}

function serialize(message: unknown): string {
  return JSON.stringify(message, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}

class SocketConnection implements Connection {
  readonly #subscriptions = new Map<string, () => void>();
  /** Notifications of subscriptions whose id the client has not been sent yet. */
  readonly #unannounced = new Map<string, Array<() => void>>();

  constructor(readonly socket: WebSocket | undefined) {}

  subscribe(notification: string, start: (emit: Emit) => () => void): string {
    if (this.socket === undefined)
      throw new RpcError(-32601, "Subscriptions are not available over HTTP; use WebSocket");
    const id = randomBytes(8).toString("hex");
    const socket = this.socket;
    const emit: Emit = (result) => {
      const send = () => {
        if (this.#subscriptions.has(id) && socket.readyState === socket.OPEN) {
          socket.send(
            serialize({ jsonrpc: "2.0", method: notification, params: { subscription: id, result } }),
          );
        }
      };
      const held = this.#unannounced.get(id);
      if (held === undefined) send();
      else held.push(send);
    };
    this.#unannounced.set(id, []);
    // Registered before `start` runs, so the values it emits at once are not dropped by `emit`.
    this.#subscriptions.set(id, () => undefined);
    this.#subscriptions.set(id, start(emit));
    return id;
  }

  unsubscribe(id: string): boolean {
    const stop = this.#subscriptions.get(id);
    if (stop === undefined) return false;
    this.#subscriptions.delete(id);
    this.#unannounced.delete(id);
    stop();
    return true;
  }

  /** Called after a reply is sent: subscriptions created so far are known to the client now. */
  announce(): void {
    const held = [...this.#unannounced.values()];
    this.#unannounced.clear();
    for (const sends of held) for (const send of sends) send();
  }

  afterReply(task: () => void): void {
    // Handlers that start operations return synchronously, so their reply is written to the
    // socket in the microtasks that follow; an immediate runs after those.
    setImmediate(task);
  }

  close(): void {
    for (const id of [...this.#subscriptions.keys()]) this.unsubscribe(id);
  }
}

/** The positional parameters of a request, from a list or, for handlers that name them, an object. */
function positional(params: unknown, handler: RpcHandler): readonly unknown[] | undefined {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params;
  if (typeof params !== "object" || params === null || handler.paramNames === undefined) return undefined;
  const named = params as Record<string, unknown>;
  return handler.paramNames.map((name) => named[name]);
}

async function answer(node: Node, request: Request, connection: Connection): Promise<object | undefined> {
  const id = typeof request.id === "string" || typeof request.id === "number" ? request.id : null;
  if (request.jsonrpc !== "2.0" || typeof request.method !== "string") {
    return { jsonrpc: "2.0", id, error: new RpcError(-32600, "Invalid request").toJSON() };
  }
  const handler = handlers.get(request.method);
  if (handler === undefined || !offered(handler, node))
    return { jsonrpc: "2.0", id, error: new RpcError(-32601, "Method not found").toJSON() };
  const params = positional(request.params, handler);
  if (params === undefined) {
    const expected = handler.paramNames === undefined ? "a list" : "a list or an object";
    return {
      jsonrpc: "2.0",
      id,
      error: new RpcError(-32602, `Invalid params: expected ${expected}`).toJSON(),
    };
  }
  try {
    const result = await handler(node, params, connection);
    return request.id === undefined ? undefined : { jsonrpc: "2.0", id, result: result ?? null };
  } catch (error) {
    if (error instanceof RpcError) return { jsonrpc: "2.0", id, error: error.toJSON() };
    return {
      jsonrpc: "2.0",
      id,
      error: new RpcError(-32603, `Internal error: ${(error as Error).message}`).toJSON(),
    };
  }
}

async function answerMessage(
  node: Node,
  text: string,
  connection: SocketConnection,
): Promise<string | undefined> {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return serialize({ jsonrpc: "2.0", id: null, error: new RpcError(-32700, "Parse error").toJSON() });
  }
  if (Array.isArray(message)) {
    const answers = await Promise.all(message.map((request) => answer(node, request as Request, connection)));
    const sent = answers.filter((a) => a !== undefined);
    return sent.length === 0 ? undefined : serialize(sent);
  }
  const single = await answer(node, (message ?? {}) as Request, connection);
  return single === undefined ? undefined : serialize(single);
}

export type RpcServer = { readonly port: number; readonly host: string; close(): Promise<void> };

const ORIGIN_REFUSED =
  "Origin of the request is not allowed by this node's rpc-cors list; clients outside a browser send no Origin";

export async function startRpcServer(
  node: Node,
  host: string,
  port: number,
  cors: RpcCors,
): Promise<RpcServer> {
  const connections = new Set<SocketConnection>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const { origin } = request.headers;
    if (!originAllowed(origin, cors)) {
      response.writeHead(403, { "content-type": "text/plain" }).end(ORIGIN_REFUSED);
      return;
    }
    // An allowed page may read the answers; its preflight asks for the JSON content type.
    const corsHeaders: Record<string, string> =
      origin === undefined ? {} : { "access-control-allow-origin": origin, vary: "Origin" };
    if (request.method === "OPTIONS" && origin !== undefined) {
      response
        .writeHead(204, {
          ...corsHeaders,
          "access-control-allow-methods": "POST",
          "access-control-allow-headers": "content-type",
        })
        .end();
      return;
    }
    if (request.method !== "POST") {
      response.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) request.destroy();
      else chunks.push(chunk);
    });
    request.on("end", async () => {
      const body = await answerMessage(
        node,
        Buffer.concat(chunks).toString("utf8"),
        new SocketConnection(undefined),
      );
      response.writeHead(200, { ...corsHeaders, "content-type": "application/json" }).end(body ?? "");
    });
  });
  const sockets = new WebSocketServer({
    server,
    maxPayload: MAX_BODY_BYTES,
    // Refused in the handshake: the page never gets a socket.
    verifyClient: ({ req }, done) =>
      originAllowed(req.headers.origin, cors) ? done(true) : done(false, 403, ORIGIN_REFUSED),
  });
  sockets.on("connection", (socket) => {
    const connection = new SocketConnection(socket);
    connections.add(connection);
    socket.on("message", async (data) => {
      const reply = await answerMessage(node, data.toString(), connection);
      if (reply !== undefined && socket.readyState === socket.OPEN) socket.send(reply);
      connection.announce();
    });
    socket.on("close", () => {
      connection.close();
      connections.delete(connection);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    host,
    close: async () => {
      for (const connection of connections) connection.close();
      for (const client of sockets.clients) client.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
