// Serves the web billing portal (`portal/`: plain HTML, CSS and ES modules) at /portal/. The files
// are read once when the app is built, so only files that existed then can ever be served: a path
// is a key in that map or a 404, and no request path reaches the file system. Editing the portal
// therefore needs a restart, like editing the API.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";

export const PORTAL_DIR = fileURLToPath(new URL("../../portal/", import.meta.url));

/** What the portal is made of; any other file in the folder (its tsconfig, notes) is not served. */
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * Same-origin scripts, styles, images and API calls, nothing inline, no framing. The portal
 * leaves for Stripe Checkout by navigation, which a CSP does not restrict.
 */
export const PORTAL_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const HEADERS = {
  "content-security-policy": PORTAL_CSP,
  // The file names carry no version, so browsers must revalidate; the ETag makes that a 304.
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
};

interface PortalFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** Every servable file of the portal, keyed by its URL path relative to /portal/. */
function readPortal(dir: string): Map<string, PortalFile> {
  const files = new Map<string, PortalFile>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const contentType = CONTENT_TYPES[extname(entry.name)];
    const path = join(entry.parentPath, entry.name);
    const urlPath = relative(dir, path).split(sep).join("/");
    if (!entry.isFile() || !contentType || urlPath.split("/").some((part) => part.startsWith("."))) continue;
    const body = readFileSync(path);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    files.set(urlPath, { body, contentType, etag });
  }
  return files;
}

/** If-None-Match holds `*` or a list of tags, weak (W/"...") or strong; any one may match. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}

const portalRoutes: FastifyPluginAsync = async (app) => {
  const files = readPortal(PORTAL_DIR);

  const serve = (path: string, request: FastifyRequest, reply: FastifyReply) => {
    const file = files.get(path);
    if (!file) return reply.callNotFound();
    reply.headers({ ...HEADERS, etag: file.etag });
    if (matches(request.headers["if-none-match"], file.etag)) return reply.status(304).send();
    return reply.type(file.contentType).send(file.body);
  };

  app.get("/portal", { schema: { hide: true } }, (request, reply) => serve("index.html", request, reply));
  app.get<{ Params: { "*": string } }>("/portal/*", { schema: { hide: true } }, (request, reply) =>
    serve(request.params["*"] || "index.html", request, reply),
  );
};

export default portalRoutes;
